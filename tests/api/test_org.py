"""Public organisation endpoints: institutions, team cards with remaining capacity, round points."""
from __future__ import annotations

import datetime as dt

from app.config import reconfigure
from services.core.db import db
from tests.factories import make_contract, make_resident, make_staff


def test_institutions_tree_and_filters(client, world):
    page = client.get("/api/v1/institutions").get_json()
    assert page["total"] == 5
    by_code = {i["code"]: i for i in page["items"]}
    assert by_code["thc-a"]["parent_id"] == world.county.id
    assert by_code["vil-a"]["parent_id"] == world.thc_a.id
    assert by_code["vil-a"]["type_label"] == "村卫生室"
    villages = client.get("/api/v1/institutions?type=village_clinic").get_json()
    assert sorted(i["code"] for i in villages["items"]) == ["vil-a", "vil-b"]
    below_a = client.get(f"/api/v1/institutions?parent_id={world.thc_a.id}").get_json()
    assert [i["code"] for i in below_a["items"]] == ["vil-a"]
    bad = client.get("/api/v1/institutions?type=hospital")
    assert bad.status_code == 422 and "type" in bad.get_json()["errors"]


def test_team_card_shows_members_and_remaining_capacity(client, world, app):
    # team_a: one doctor (lead) and one nurse -> capacity 1 x 2000.
    for i in range(3):
        r = make_resident(world.thc_a, name=f"签约{i}", birth=dt.date(1960, 1, 1 + i))
        make_contract(r.id, world.team_a, status="active")
    pending = make_resident(world.thc_a, name="申请中", birth=dt.date(1961, 1, 1))
    make_contract(pending.id, world.team_a, status="pending")  # not counted until active
    card = client.get(f"/api/v1/teams/{world.team_a.id}").get_json()
    assert card["name"] == "东镇家庭医生一队"
    assert card["institution"]["name"] == "东镇卫生院"
    assert card["lead_doctor"] == {"id": world.doctor_a.id, "name": "李医生"}
    assert [(m["name"], m["team_role"], m["is_lead"]) for m in card["members"]] == [
        ("李医生", "doctor", True), ("王护士", "nurse", False)]
    assert (card["doctor_count"], card["capacity"], card["signed"], card["remaining"]) == (1, 2000, 3, 1997)
    # A second doctor doubles the capacity; a per-team override applies per doctor.
    make_staff("doctor_a2", "doctor", world.community, team=world.team_a, team_role="doctor")
    world.team_a.capacity_per_doctor = 2
    db.session.commit()
    card = client.get(f"/api/v1/teams/{world.team_a.id}").get_json()
    assert (card["doctor_count"], card["capacity"], card["remaining"]) == (2, 4, 1)
    # The deployment-wide default is a setting.
    world.team_a.capacity_per_doctor = None
    db.session.commit()
    reconfigure(app, TEAM_CAPACITY_PER_DOCTOR=1500)
    assert client.get(f"/api/v1/teams/{world.team_a.id}").get_json()["capacity"] == 3000


def test_teams_list_is_public_and_paginated(client, world):
    page = client.get("/api/v1/teams?page_size=1").get_json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["page_size"] == 1
    only_b = client.get(f"/api/v1/teams?institution_id={world.thc_b.id}").get_json()
    assert [t["code"] for t in only_b["items"]] == ["team-b"]
    # No contact details of staff on public cards.
    assert "username" not in only_b["items"][0]["members"][0]


def test_missing_team_is_404(client, world):
    r = client.get("/api/v1/teams/9999")
    assert r.status_code == 404 and r.get_json() == {"code": "TEAM_NOT_FOUND", "message": "家庭医生团队不存在"}


def test_round_points(client, world):
    page = client.get("/api/v1/round-points").get_json()
    assert page["total"] == 1
    item = page["items"][0]
    assert (item["name"], item["village"], item["institution_name"]) == ("东村巡诊点", "东村", "东镇卫生院")
    assert client.get("/api/v1/round-points?village=西村").get_json()["total"] == 0
