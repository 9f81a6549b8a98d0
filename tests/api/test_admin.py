"""Administration: staff accounts, teams, institutions, each within the admin's scope."""
from __future__ import annotations

from sqlalchemy import select

from services.core.db import db
from services.models import Institution, Staff, Team
from tests.factories import PASSWORD, login

NEW_DOCTOR = {"username": "doctor_new", "name": "钱医生", "password": "a-good-password",
              "role": "doctor", "team_role": "doctor"}


def test_institution_admin_creates_a_doctor_who_can_sign_in(client, world):
    headers = login(client, "admin_a")
    r = client.post("/api/v1/staff", json={**NEW_DOCTOR, "team_id": world.team_a.id}, headers=headers)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["username"], body["role"], body["team_id"], body["institution_id"], body["active"]) == (
        "doctor_new", "doctor", world.team_a.id, world.thc_a.id, True)
    assert "password" not in body
    row = db.session.get(Staff, body["id"])
    assert row.password_hash.startswith("scrypt:") and "a-good-password" not in row.password_hash
    me = client.post("/api/v1/auth/staff/login", json={"username": "doctor_new", "password": "a-good-password"})
    assert me.status_code == 200 and me.get_json()["user"]["team_id"] == world.team_a.id


def test_admin_cannot_place_staff_outside_scope(client, world):
    headers = login(client, "admin_a")
    r = client.post("/api/v1/staff", json={**NEW_DOCTOR, "team_id": world.team_b.id}, headers=headers)
    assert r.status_code == 422 and r.get_json()["errors"] == {"team_id": ["团队不存在或不在您的管辖范围内"]}
    r = client.post("/api/v1/staff", json={**NEW_DOCTOR, "role": "admin", "team_role": None}, headers=headers)
    assert r.status_code == 403  # only the community admin creates community admins
    assert db.session.scalar(select(Staff).where(Staff.username == "doctor_new")) is None
    # Staff of another township are invisible: 404, not 403.
    r = client.get(f"/api/v1/staff/{world.doctor_b.id}", headers=headers)
    assert r.status_code == 404 and r.get_json()["code"] == "STAFF_NOT_FOUND"
    listed = client.get("/api/v1/staff", headers=headers).get_json()
    assert sorted(s["username"] for s in listed["items"]) == ["admin_a", "doctor_a", "nurse_a"]


def test_staff_validation(client, world):
    headers = login(client, "admin_all")
    r = client.post("/api/v1/staff", json={**NEW_DOCTOR, "password": "short", "team_id": world.team_a.id},
                    headers=headers)
    assert r.status_code == 422 and r.get_json()["errors"] == {"password": ["密码长度不能少于 8 位"]}
    r = client.post("/api/v1/staff", json={**NEW_DOCTOR, "username": "doctor_a", "team_id": world.team_a.id},
                    headers=headers)
    assert r.status_code == 409 and r.get_json()["code"] == "USERNAME_TAKEN"
    r = client.post("/api/v1/staff", json={**NEW_DOCTOR}, headers=headers)
    assert r.status_code == 422 and set(r.get_json()["errors"]) == {"team_id", "team_role"}
    assert client.post("/api/v1/staff", json=NEW_DOCTOR, headers=login(client, "doctor_a")).status_code == 403


def test_deactivate_unlock_and_reset_password(client, world):
    admin = login(client, "admin_a")
    doctor_headers = login(client, "doctor_a")
    r = client.patch(f"/api/v1/staff/{world.doctor_a.id}", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.get_json()["active"] is False
    assert client.get("/api/v1/residents", headers=doctor_headers).status_code == 401
    # A deactivated lead is no longer the team's lead.
    db.session.expire_all()
    assert db.session.get(Team, world.team_a.id).lead_doctor_id is None
    r = client.patch(f"/api/v1/staff/{world.doctor_a.id}", json={"active": True, "password": "new-password-1",
                                                                  "unlock": True}, headers=admin)
    assert r.status_code == 200
    assert client.post("/api/v1/auth/staff/login", json={"username": "doctor_a", "password": PASSWORD}).status_code == 401
    assert client.post("/api/v1/auth/staff/login",
                       json={"username": "doctor_a", "password": "new-password-1"}).status_code == 200
    r = client.patch(f"/api/v1/staff/{world.admin_a.id}", json={"active": False}, headers=admin)
    assert r.status_code == 422 and "active" in r.get_json()["errors"]


def test_create_and_update_team(client, world):
    headers = login(client, "admin_a")
    r = client.post("/api/v1/teams", json={"institution_id": world.thc_a.id, "code": "team-a2",
                                           "name": "东镇家庭医生二队", "capacity_per_doctor": 1800}, headers=headers)
    assert r.status_code == 201, r.get_json()
    team = r.get_json()
    assert (team["name"], team["capacity"], team["members"], team["lead_doctor"]) == ("东镇家庭医生二队", 0, [], None)
    doc = client.post("/api/v1/staff", json={**NEW_DOCTOR, "team_id": team["id"]}, headers=headers).get_json()
    r = client.patch(f"/api/v1/teams/{team['id']}", json={"lead_doctor_id": doc["id"]}, headers=headers)
    assert r.status_code == 200
    assert (r.get_json()["lead_doctor"]["id"], r.get_json()["capacity"]) == (doc["id"], 1800)
    # Only a doctor of this team can lead it.
    r = client.patch(f"/api/v1/teams/{team['id']}", json={"lead_doctor_id": world.nurse_a.id}, headers=headers)
    assert r.status_code == 422 and "lead_doctor_id" in r.get_json()["errors"]
    # Other township's teams are out of scope; a village clinic cannot host a team; codes are unique.
    assert client.patch(f"/api/v1/teams/{world.team_b.id}", json={"name": "x"}, headers=headers).status_code == 404
    r = client.post("/api/v1/teams", json={"institution_id": world.village_a.id, "code": "t-v", "name": "村队"},
                    headers=headers)
    assert r.status_code == 422
    r = client.post("/api/v1/teams", json={"institution_id": world.thc_a.id, "code": "team-a2", "name": "重复"},
                    headers=headers)
    assert r.status_code == 409 and r.get_json()["code"] == "TEAM_CODE_TAKEN"


def test_create_institution_respects_hierarchy(client, world):
    headers = login(client, "admin_a")
    r = client.post("/api/v1/institutions", json={"code": "vil-a2", "name": "东村二组卫生室",
                                                  "type": "village_clinic", "parent_id": world.thc_a.id},
                    headers=headers)
    assert r.status_code == 201 and r.get_json()["parent_id"] == world.thc_a.id
    # The new clinic is inside admin_a's scope at once: residents can be registered there.
    res = client.post("/api/v1/residents", json={"name": "新村民", "id_number": "11010519491231002X",
                                                 "institution_id": r.get_json()["id"]}, headers=headers)
    assert res.status_code == 201
    bad = client.post("/api/v1/institutions", json={"code": "thc-x", "name": "乡镇", "type": "township_health_center",
                                                    "parent_id": world.thc_a.id}, headers=headers)
    assert bad.status_code == 422 and "parent_id" in bad.get_json()["errors"]
    top = client.post("/api/v1/institutions", json={"code": "ch2", "name": "第二县医院", "type": "county_hospital"},
                      headers=headers)
    assert top.status_code == 403
    top = client.post("/api/v1/institutions", json={"code": "ch2", "name": "第二县医院", "type": "county_hospital"},
                      headers=login(client, "admin_all"))
    assert top.status_code == 201
    assert db.session.scalar(select(Institution).where(Institution.code == "ch2")).community_id == world.community.id
