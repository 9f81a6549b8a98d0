"""Residents over HTTP: create, validation, masking, scope, search, update, reveal, audit."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from services.core.db import db
from services.models import AuditLog, Contract, Resident, ResidentTag
from tests.factories import login, make_contract, make_resident

VALID_ID = "11010519491231002X"


def create(client, headers, **fields):
    body = {"name": "刘秀英", "id_number": VALID_ID, "phone": "13912345678", "village": "东村",
            "address": "东村3组12号"}
    body.update(fields)
    return client.post("/api/v1/residents", json=body, headers=headers)


def test_create_resident_masks_and_encrypts(client, world, app):
    headers = login(client, "doctor_a")
    resp = create(client, headers, tags=["hypertension", "elderly", "minimum_living_allowance"],
                  consent={"scope": ["health_management", "sms_notification"]})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["id_number"] == "110105********002X"
    assert body["phone"] == "139****5678"
    assert body["birth_date"] == "1949-12-31"
    assert body["sex"] == "female"
    assert body["institution_id"] == world.thc_a.id  # the doctor's team institution by default
    # elderly is derived from the birth date, not taken from input; recorded tags kept
    assert body["tags"] == ["elderly", "hypertension", "minimum_living_allowance"]
    assert {"code": "elderly", "label": "65岁及以上老年人"} in body["tag_details"]
    assert body["consent"]["scope"] == ["health_management", "sms_notification"]
    assert body["consent"]["witnessed_by_id"] == world.doctor_a.id
    row = db.session.get(Resident, body["id"])
    assert VALID_ID not in row.id_number_encrypted
    assert app.extensions["pii_cipher"].decrypt(row.id_number_encrypted) == VALID_ID
    assert sorted(t.tag for t in row.tag_rows) == ["hypertension", "minimum_living_allowance"]
    audit = db.session.scalars(select(AuditLog).where(AuditLog.resident_id == row.id)).all()
    assert [(a.action, a.actor_type, a.actor_id) for a in audit] == [("create", "staff", world.doctor_a.id)]


def test_lower_case_x_is_accepted_and_stored_upper(client, world, app):
    resp = create(client, login(client, "doctor_a"), id_number="11010519491231002x")
    assert resp.status_code == 201
    row = db.session.get(Resident, resp.get_json()["id"])
    assert app.extensions["pii_cipher"].decrypt(row.id_number_encrypted) == VALID_ID


def test_bad_checksum_is_422_in_chinese_and_nothing_written(client, world):
    resp = create(client, login(client, "doctor_a"), id_number="110105194912310021")
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["code"] == "INVALID_ID_NUMBER"
    assert body["errors"] == {"id_number": ["身份证号码校验位错误"]}
    assert body["message"] == "身份证号码校验位错误"
    assert db.session.scalar(select(Resident.id)) is None


def test_fifteen_digit_id_rejected_with_clear_message(client, world):
    resp = create(client, login(client, "doctor_a"), id_number="110105491231002")
    assert resp.status_code == 422
    assert resp.get_json()["code"] == "INVALID_ID_NUMBER"
    assert "15位" in resp.get_json()["errors"]["id_number"][0]


def test_duplicate_id_is_409(client, world):
    headers = login(client, "doctor_a")
    assert create(client, headers).status_code == 201
    resp = create(client, headers, name="别人", id_number="11010519491231002x")
    assert resp.status_code == 409
    assert resp.get_json() == {"code": "RESIDENT_EXISTS", "message": "该身份证号码的居民已建档"}
    assert db.session.scalar(select(db.func.count()).select_from(Resident)) == 1


def test_invalid_phone_and_missing_fields(client, world):
    headers = login(client, "doctor_a")
    resp = create(client, headers, phone="12345")
    assert resp.status_code == 422
    assert resp.get_json()["errors"] == {"phone": ["请输入有效的中国大陆手机号码"]}
    resp = client.post("/api/v1/residents", json={"phone": "13912345678", "colour": "red"}, headers=headers)
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["errors"]["name"] == ["必填字段"]
    assert body["errors"]["id_number"] == ["必填字段"]
    assert body["errors"]["colour"] == ["未知字段"]


def test_floating_resident_needs_residence_since(client, world):
    headers = login(client, "doctor_a")
    resp = create(client, headers, floating=True)
    assert resp.status_code == 422
    assert "residence_since" in resp.get_json()["errors"]
    resp = create(client, headers, floating=True, residence_since="2025-01-15")
    assert resp.status_code == 201
    assert resp.get_json()["residence_since"] == "2025-01-15"


def test_other_township_doctor_gets_404_with_error_body(client, world):
    rid = create(client, login(client, "doctor_a")).get_json()["id"]
    resp = client.get(f"/api/v1/residents/{rid}", headers=login(client, "doctor_b"))
    assert resp.status_code == 404
    assert resp.get_json() == {"code": "RESIDENT_NOT_FOUND", "message": "居民不存在"}
    # Same answer as for an id that does not exist at all.
    missing = client.get("/api/v1/residents/999999", headers=login(client, "doctor_b"))
    assert missing.get_json() == resp.get_json()
    for method, path in (("patch", f"/api/v1/residents/{rid}"), ("post", f"/api/v1/residents/{rid}/reveal")):
        r = getattr(client, method)(path, json={}, headers=login(client, "doctor_b"))
        assert r.status_code == 404, (method, path)


def test_scope_village_clinic_below_team_and_contract_holders(client, world):
    in_village = make_resident(world.village_a, name="村民甲", birth=dt.date(1970, 1, 2))
    other = make_resident(world.village_b, name="村民乙", birth=dt.date(1971, 2, 3))
    doctor_a = login(client, "doctor_a")
    assert client.get(f"/api/v1/residents/{in_village.id}", headers=doctor_a).status_code == 200
    assert client.get(f"/api/v1/residents/{other.id}", headers=doctor_a).status_code == 404
    # A contract with team_a brings a resident of the other township into team_a's view...
    make_contract(other.id, world.team_a, status="active")
    assert client.get(f"/api/v1/residents/{other.id}", headers=doctor_a).status_code == 200
    # ...but not into the view of the institution admin of thc_a (scope is by institution).
    admin_a = login(client, "admin_a")
    assert client.get(f"/api/v1/residents/{other.id}", headers=admin_a).status_code == 404
    assert client.get(f"/api/v1/residents/{in_village.id}", headers=admin_a).status_code == 200
    # The community admin sees everyone.
    admin_all = login(client, "admin_all")
    listed = client.get("/api/v1/residents", headers=admin_all).get_json()
    assert listed["total"] == 2
    # A terminated contract no longer gives access.
    db.session.execute(update(Contract).where(Contract.resident_id == other.id).values(status="terminated"))
    db.session.commit()
    assert client.get(f"/api/v1/residents/{other.id}", headers=doctor_a).status_code == 404


def test_list_search_filters_and_pagination(client, world):
    headers = login(client, "doctor_a")
    make_resident(world.thc_a, name="王建国", birth=dt.date(1950, 3, 4), phone="13800001111",
                  tags=("hypertension",), village="东村")
    make_resident(world.thc_a, name="王小丫", birth=dt.date(2023, 6, 1), sex="female", village="南村")
    make_resident(world.village_a, name="李四", birth=dt.date(1985, 7, 8), phone="13900002222", village="东村")
    make_resident(world.thc_b, name="王外人", birth=dt.date(1951, 1, 1))  # out of scope
    page = client.get("/api/v1/residents?q=王", headers=headers).get_json()
    assert page["total"] == 2 and page["page"] == 1 and page["page_size"] == 20
    assert sorted(i["name"] for i in page["items"]) == ["王小丫", "王建国"]
    assert client.get("/api/v1/residents?q=0000111", headers=headers).get_json()["items"][0]["name"] == "王建国"
    assert [i["name"] for i in client.get("/api/v1/residents?tag=elderly", headers=headers).get_json()["items"]] == ["王建国"]
    assert [i["name"] for i in client.get("/api/v1/residents?tag=child", headers=headers).get_json()["items"]] == ["王小丫"]
    assert [i["name"] for i in client.get("/api/v1/residents?tag=hypertension", headers=headers).get_json()["items"]] == ["王建国"]
    assert client.get("/api/v1/residents?village=东村", headers=headers).get_json()["total"] == 2
    p2 = client.get("/api/v1/residents?page=2&page_size=2", headers=headers).get_json()
    assert p2["total"] == 3 and len(p2["items"]) == 1 and p2["page"] == 2
    bad = client.get("/api/v1/residents?page_size=101", headers=headers)
    assert bad.status_code == 422 and "page_size" in bad.get_json()["errors"]


def test_exact_id_search_through_keyed_hash(client, world):
    headers = login(client, "doctor_a")
    created = create(client, headers).get_json()
    for path in (f"/api/v1/residents?id_number={VALID_ID.lower()}", f"/api/v1/residents?q={VALID_ID}"):
        page = client.get(path, headers=headers).get_json()
        assert [i["id"] for i in page["items"]] == [created["id"]], path
    assert client.get("/api/v1/residents?id_number=110105194912310038", headers=headers).get_json()["total"] == 0


def test_patch_changes_only_given_fields_and_is_audited(client, world):
    headers = login(client, "doctor_a")
    rid = create(client, headers, tags=["hypertension"]).get_json()["id"]
    resp = client.patch(f"/api/v1/residents/{rid}", json={"phone": "+86 158 0000 9999", "tags": ["diabetes"]},
                        headers=headers)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["phone"] == "158****9999" and body["village"] == "东村"
    assert body["tags"] == ["elderly", "diabetes"]
    row = db.session.get(Resident, rid)
    db.session.refresh(row)
    assert row.phone == "15800009999"
    assert db.session.scalars(select(ResidentTag.tag).where(ResidentTag.resident_id == rid)).all() == ["diabetes"]
    upd = db.session.scalars(select(AuditLog).where(AuditLog.resident_id == rid, AuditLog.action == "update")).one()
    assert upd.detail == {"fields": ["phone", "tags"]}
    # A bad value in a PATCH changes nothing.
    bad = client.patch(f"/api/v1/residents/{rid}", json={"name": "新名字", "id_number": "110105194912310021"},
                       headers=headers)
    assert bad.status_code == 422
    db.session.expire_all()
    assert db.session.get(Resident, rid).name == "刘秀英"


def test_patch_to_institution_outside_scope_is_refused(client, world):
    headers = login(client, "doctor_a")
    rid = create(client, headers).get_json()["id"]
    resp = client.patch(f"/api/v1/residents/{rid}", json={"institution_id": world.thc_b.id}, headers=headers)
    assert resp.status_code == 422
    assert resp.get_json()["errors"] == {"institution_id": ["机构不存在或不在您的管辖范围内"]}


def test_reveal_returns_full_id_and_writes_audit(client, world):
    headers = login(client, "doctor_a")
    rid = create(client, headers).get_json()["id"]
    resp = client.post(f"/api/v1/residents/{rid}/reveal", json={"reason": "办理签约核对身份"}, headers=headers,
                       environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert resp.status_code == 200
    assert resp.get_json() == {"id": rid, "id_number": VALID_ID, "phone": "13912345678"}
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "reveal")).one()
    assert (row.resident_id, row.actor_id, row.ip) == (rid, world.doctor_a.id, "10.1.2.3")
    assert row.detail["reason"] == "办理签约核对身份"
    # The admin can list it; a doctor cannot list audit logs at all.
    logs = client.get(f"/api/v1/audit-logs?resident_id={rid}&action=reveal",
                      headers=login(client, "admin_all")).get_json()
    assert logs["total"] == 1 and logs["items"][0]["actor_id"] == world.doctor_a.id
    assert logs["items"][0]["actor_name"] == "doctor_a" and logs["items"][0]["ip"] == "10.1.2.3"
    assert client.get("/api/v1/audit-logs", headers=headers).status_code == 403
    # An institution admin of the other township does not see rows about this resident.
    admin_b_logs = client.get("/api/v1/audit-logs", headers=login(client, "admin_a")).get_json()
    assert all(i["institution_id"] == world.thc_a.id for i in admin_b_logs["items"])


def test_community_admin_must_name_an_institution(client, world):
    headers = login(client, "admin_all")
    resp = create(client, headers)
    assert resp.status_code == 422 and "institution_id" in resp.get_json()["errors"]
    resp = create(client, headers, institution_id=world.village_b.id)
    assert resp.status_code == 201 and resp.get_json()["institution_id"] == world.village_b.id


def test_whitespace_name_and_residence_before_birth_are_refused(client, world):
    headers = login(client, "doctor_a")
    r = create(client, headers, name="   ")
    assert r.status_code == 422 and r.get_json()["errors"] == {"name": ["姓名不能为空"]}
    r = create(client, headers, floating=True, residence_since="1940-01-01")
    assert r.status_code == 422 and r.get_json()["errors"] == {"residence_since": ["居住起始日期不能早于出生日期"]}
    r = create(client, headers, name="  刘  秀英 ", consent={"scope": ["health_management"],
                                                             "given_at": "2026-01-05T09:00:00"})
    assert r.status_code == 422 and "consent.given_at" in r.get_json()["errors"]
    assert db.session.scalar(select(Resident.id)) is None
    r = create(client, headers, name="  刘  秀英 ")
    assert r.status_code == 201 and r.get_json()["name"] == "刘 秀英"


def test_list_reads_are_audited_with_the_residents_shown(client, world):
    a = make_resident(world.thc_a, name="王一", birth=dt.date(1970, 3, 3))
    headers = login(client, "doctor_a")
    client.get("/api/v1/residents?q=王", headers=headers)
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "search")).one()
    assert row.detail["resident_ids"] == [a.id] and row.detail["has_q"] is True
    assert "王" not in str(row.detail)  # search terms may be personal data: not kept
