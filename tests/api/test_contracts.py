"""Signing over HTTP: packages, quotes, the contract lifecycle, entitlements,
evaluations; every error code with its body, and database state."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import func, select

from services.catalog import versions as packages
from services.catalog.files import CATALOG_DIR, load_directory
from services.core import clock
from services.core.db import db
from services.models import Contract, ContractEvent, PackageVersion, ServiceDelivery
from tests.factories import load_catalog, login, make_resident, resident_headers

BASIC_PAY = {"amount_fen": 800, "method": "cash", "receipt_no": "R-0001"}


@pytest.fixture
def signing(world, frozen_clock):
    load_catalog()
    return world


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def sign(client, headers, resident_id, codes=("basic",), payment=BASIC_PAY, **extra):
    body = {"resident_id": resident_id, "package_codes": list(codes), **extra}
    if payment is not None:
        body["payment"] = payment
    return client.post("/api/v1/contracts", json=body, headers=headers)


# --- packages and quotes -------------------------------------------------------------

def test_packages_list_and_eligibility_marks(client, signing):
    elder = make_resident(signing.thc_a, name="老人", birth=dt.date(1950, 1, 1))
    headers = login(client, "doctor_a")
    plain = client.get("/api/v1/packages", headers=headers).get_json()["items"]
    assert [p["code"] for p in plain][0] == "basic" and len(plain) == 9
    assert all(p["eligibility"] is None for p in plain)
    marked = {p["code"]: p for p in client.get(f"/api/v1/packages?resident_id={elder.id}",
                                               headers=headers).get_json()["items"]}
    assert marked["elderly"]["eligibility"] == {"eligible": True, "rule": None, "reason": None}
    assert marked["child"]["eligibility"]["eligible"] is False and marked["child"]["eligibility"]["rule"] == "AGE_MAX"
    assert marked["hypertension"]["eligibility"]["rule"] == "PROGRAM"
    # The signed-in resident gets their own marks; another resident's id is 404 for them.
    mine = client.get("/api/v1/packages", headers=resident_headers(elder.id)).get_json()["items"]
    assert next(p for p in mine if p["code"] == "elderly")["eligibility"]["eligible"] is True
    other = make_resident(signing.thc_a, name="别人", birth=dt.date(1980, 1, 1))
    assert client.get(f"/api/v1/packages?resident_id={other.id}",
                      headers=resident_headers(elder.id)).status_code == 404


def test_quote_for_an_ordinary_resident_adds_up(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1950, 1, 1), tags=("hypertension",))
    headers = login(client, "doctor_a")
    codes = {"resident_id": r.id, "package_codes": ["basic", "elderly", "hypertension"]}
    # The hypertension package needs an enrolment in the programme, not just the tag.
    tag_only = client.post("/api/v1/quotes", json=codes, headers=headers)
    assert tag_only.status_code == 422 and tag_only.get_json()["details"]["rule"] == "PROGRAM"
    client.post(f"/api/v1/residents/{r.id}/programs", json={"program": "hypertension", "enrolled_on": "2025-06-01"},
                headers=headers)
    resp = client.post("/api/v1/quotes", json=codes, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    basic = body["packages"][0]
    assert (basic["code"], basic["version"], basic["list_value_fen"], basic["self_pay_fen"]) == ("basic", 1, 4000, 800)
    for part in [*body["packages"], body["totals"]]:
        assert sum(part["funding"].values()) + part["self_pay_fen"] == part["list_value_fen"]
        assert set(part["funding"]) == {"medical_insurance", "public_health", "fiscal", "partner_discount"}
    assert body["totals"]["list_value_fen"] == 4000 + 20000 + 15000
    assert body["totals"]["self_pay_fen"] == 800 + 8000 + 6000


def test_minimum_living_allowance_pays_nothing_and_fiscal_covers_it(client, signing):
    poor = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1), tags=("minimum_living_allowance",))
    normal = make_resident(signing.thc_a, birth=dt.date(1971, 1, 1))
    headers = login(client, "doctor_a")
    q_poor = client.post("/api/v1/quotes", json={"resident_id": poor.id, "package_codes": ["basic"]},
                         headers=headers).get_json()
    q_norm = client.post("/api/v1/quotes", json={"resident_id": normal.id, "package_codes": ["basic"]},
                         headers=headers).get_json()
    assert q_poor["totals"]["self_pay_fen"] == 0 and q_norm["totals"]["self_pay_fen"] == 800
    assert q_poor["totals"]["funding"]["fiscal"] == q_norm["totals"]["funding"]["fiscal"] + 800
    assert q_poor["packages"][0]["waiver"]
    assert sum(q_poor["totals"]["funding"].values()) == 4000


@pytest.mark.parametrize("codes,code", [
    (["elderly"], "BASIC_PACKAGE_REQUIRED"),
    ([], "VALIDATION_ERROR"),
    (["basic", "basic"], "DUPLICATE_PACKAGE"),
    (["basic", "nope"], "UNKNOWN_PACKAGE"),
])
def test_quote_selection_errors(client, signing, codes, code):
    r = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1))
    resp = client.post("/api/v1/quotes", json={"resident_id": r.id, "package_codes": codes},
                       headers=login(client, "doctor_a"))
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["code"] == code and "package_codes" in body["errors"]


def test_ineligible_package_names_the_rule(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1962, 3, 3))  # 63 on 2026-03-02
    resp = client.post("/api/v1/quotes", json={"resident_id": r.id, "package_codes": ["basic", "elderly"]},
                       headers=login(client, "doctor_a"))
    assert resp.status_code == 422
    body = resp.get_json()
    assert (body["code"], body["details"]["package_code"], body["details"]["rule"]) == ("PACKAGE_NOT_ELIGIBLE", "elderly", "AGE_MIN")
    assert "65岁" in body["message"] and "63岁" in body["message"]


# --- signing on site ---------------------------------------------------------------------

def test_on_site_signing_snapshots_and_shows_entitlements(client, signing):
    r = make_resident(signing.village_a, birth=dt.date(1950, 1, 1))
    headers = login(client, "doctor_a")
    resp = sign(client, headers, r.id, codes=["basic", "elderly"],
                payment={"amount_fen": 8800, "method": "wechat", "receipt_no": "WX123"})
    assert resp.status_code == 201, resp.get_json()
    c = resp.get_json()
    assert (c["status"], c["starts_on"], c["ends_on"], c["team_id"]) == ("active", "2026-03-02", "2027-03-01",
                                                                         signing.team_a.id)
    assert c["totals"]["list_value_fen"] == 24000 and c["totals"]["self_pay_fen"] == 8800
    assert c["payment"]["amount_fen"] == 8800 and c["payment"]["method"] == "wechat"
    assert [p["code"] for p in c["packages"]] == ["basic", "elderly"]
    assert all(e["used"] == 0 and e["remaining"] == e["promised"] > 0 for e in c["entitlements"])
    assert c["fulfilment_rate"] == 0.0
    assert [(h["from_status"], h["to_status"]) for h in c["history"]] == [(None, "active")]
    row = db.session.get(Contract, c["id"])
    assert row.packages[0].definition["items"] and row.self_pay_fen == 8800
    # The resident sees it as their contract.
    me = client.get("/api/v1/me", headers=resident_headers(r.id)).get_json()
    assert me["contract"]["id"] == c["id"] and me["contract"]["status"] == "active"


def test_payment_required_and_amount_must_match(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1))
    headers = login(client, "doctor_a")
    resp = sign(client, headers, r.id, payment=None)
    assert resp.status_code == 422 and resp.get_json()["code"] == "PAYMENT_REQUIRED"
    assert resp.get_json()["details"]["self_pay_fen"] == 800
    resp = sign(client, headers, r.id, payment={"amount_fen": 700, "method": "cash"})
    assert resp.status_code == 422
    assert resp.get_json()["code"] == "PAYMENT_AMOUNT_MISMATCH" and resp.get_json()["errors"] == {
        "payment.amount_fen": ["应为 800"]}
    resp = sign(client, headers, r.id, payment={"amount_fen": 800, "method": "bitcoin"})
    assert resp.status_code == 422 and "payment.method" in resp.get_json()["errors"]
    assert count(Contract) == 0


def test_waived_resident_signs_without_payment(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1), tags=("extreme_poverty",))
    resp = sign(client, login(client, "doctor_a"), r.id, payment=None)
    assert resp.status_code == 201 and resp.get_json()["status"] == "active"
    assert resp.get_json()["totals"]["self_pay_fen"] == 0


def test_second_active_contract_is_409_and_writes_nothing(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1))
    headers = login(client, "doctor_a")
    assert sign(client, headers, r.id).status_code == 201
    resp = sign(client, headers, r.id)
    assert resp.status_code == 409
    assert resp.get_json() == {"code": "CONTRACT_ALREADY_ACTIVE", "message": "该居民已有生效中的签约"}
    assert count(Contract) == 1 and count(ContractEvent) == 1


def test_team_full(client, signing):
    signing.team_a.capacity_per_doctor = 1
    db.session.commit()
    headers = login(client, "doctor_a")
    a = make_resident(signing.thc_a, name="甲", birth=dt.date(1970, 1, 1))
    b = make_resident(signing.thc_a, name="乙", birth=dt.date(1971, 1, 1))
    assert sign(client, headers, a.id).status_code == 201
    resp = sign(client, headers, b.id)
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["code"] == "TEAM_FULL" and body["details"]["capacity"] == 1 and "东镇家庭医生一队" in body["message"]
    assert count(Contract, Contract.resident_id == b.id) == 0
    assert client.get(f"/api/v1/teams/{signing.team_a.id}").get_json()["remaining"] == 0


def test_floating_resident_under_six_months(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1990, 1, 1))
    r.row.floating, r.row.residence_since = True, dt.date(2025, 9, 3)  # 6 months would be 2025-09-02
    db.session.commit()
    headers = login(client, "doctor_a")
    resp = sign(client, headers, r.id)
    assert resp.status_code == 422 and resp.get_json()["code"] == "RESIDENCE_TOO_SHORT"
    assert resp.get_json()["errors"] == {"resident_id": ["居住起始日期须不晚于 2025-09-02"]}
    r.row.residence_since = dt.date(2025, 9, 2)
    db.session.commit()
    assert sign(client, headers, r.id).status_code == 201


def test_doctor_signs_only_for_own_team_and_residents_in_scope(client, signing):
    mine = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1))
    theirs = make_resident(signing.thc_b, birth=dt.date(1971, 1, 1))
    headers = login(client, "doctor_a")
    resp = sign(client, headers, mine.id, team_id=signing.team_b.id)
    assert resp.status_code == 422 and resp.get_json()["errors"] == {"team_id": ["医生只能为本团队签约"]}
    resp = sign(client, headers, theirs.id)
    assert resp.status_code == 404 and resp.get_json()["code"] == "RESIDENT_NOT_FOUND"


# --- application by the resident -----------------------------------------------------------

def test_application_accept_pay_flow(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1), phone="13700001111")
    me = resident_headers(r.id)
    resp = client.post("/api/v1/contracts", json={"team_id": signing.team_a.id, "package_codes": ["basic"]},
                       headers=me)
    assert resp.status_code == 201, resp.get_json()
    c = resp.get_json()
    assert (c["status"], c["starts_on"], c["applied_by"]) == ("pending", None, "resident")
    # A second application while one is open is refused.
    again = client.post("/api/v1/contracts", json={"team_id": signing.team_a.id, "package_codes": ["basic"]},
                        headers=me)
    assert again.status_code == 409 and again.get_json()["code"] == "CONTRACT_APPLICATION_OPEN"
    # The other team cannot act on it: it is not theirs (not visible at all).
    assert client.post(f"/api/v1/contracts/{c['id']}/accept", headers=login(client, "doctor_b")).status_code == 404
    # Residents cannot accept their own application.
    assert client.post(f"/api/v1/contracts/{c['id']}/accept", headers=me).status_code == 403
    doctor = login(client, "doctor_a")
    acc = client.post(f"/api/v1/contracts/{c['id']}/accept", headers=doctor)
    assert acc.status_code == 200 and acc.get_json()["status"] == "awaiting_payment"
    bad = client.post(f"/api/v1/contracts/{c['id']}/pay", json={"amount_fen": 8, "method": "cash"}, headers=doctor)
    assert bad.status_code == 422 and bad.get_json()["code"] == "PAYMENT_AMOUNT_MISMATCH"
    paid = client.post(f"/api/v1/contracts/{c['id']}/pay", json=BASIC_PAY, headers=doctor)
    assert paid.status_code == 200
    body = paid.get_json()
    assert (body["status"], body["starts_on"]) == ("active", "2026-03-02")
    assert [h["to_status"] for h in body["history"]] == ["pending", "awaiting_payment", "active"]
    twice = client.post(f"/api/v1/contracts/{c['id']}/pay", json=BASIC_PAY, headers=doctor)
    assert twice.status_code == 409 and twice.get_json()["code"] == "INVALID_CONTRACT_STATUS"


def test_reject_needs_a_reason_and_keeps_it(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1))
    c = client.post("/api/v1/contracts", json={"team_id": signing.team_a.id, "package_codes": ["basic"]},
                    headers=resident_headers(r.id)).get_json()
    doctor = login(client, "doctor_a")
    resp = client.post(f"/api/v1/contracts/{c['id']}/reject", json={}, headers=doctor)
    assert resp.status_code == 422 and resp.get_json()["errors"] == {"reason": ["必填字段"]}
    resp = client.post(f"/api/v1/contracts/{c['id']}/reject", json={"reason": "不在服务区域"}, headers=doctor)
    assert resp.status_code == 200
    assert (resp.get_json()["status"], resp.get_json()["reject_reason"]) == ("rejected", "不在服务区域")
    # A rejected application no longer blocks a new one.
    again = client.post("/api/v1/contracts", json={"team_id": signing.team_a.id, "package_codes": ["basic"]},
                        headers=resident_headers(r.id))
    assert again.status_code == 201


# --- catalog changes never alter a signed contract --------------------------------------------

def test_catalog_change_after_signing_leaves_contract_unchanged(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1))
    headers = login(client, "doctor_a")
    before = sign(client, headers, r.id).get_json()
    basic = next(d for d in load_directory(CATALOG_DIR) if d.code == "basic")
    first = basic.items[0]
    changed_items = (dataclasses.replace(first, unit_value_fen=first.unit_value_fen + 100), *basic.items[1:])
    changed = dataclasses.replace(basic, items=changed_items, list_value_fen=basic.list_value_fen + 100 * first.times_per_year,
                                  self_pay_fen=basic.self_pay_fen + 100 * first.times_per_year)
    result = packages.load_catalog([changed])
    db.session.commit()
    assert result.created == [("basic", 2)]
    assert count(PackageVersion, PackageVersion.code == "basic") == 2
    after = client.get(f"/api/v1/contracts/{before['id']}", headers=headers).get_json()
    assert after["packages"] == before["packages"] and after["totals"] == before["totals"]
    assert after["entitlements"] == before["entitlements"]
    other = make_resident(signing.thc_a, birth=dt.date(1971, 1, 1))
    quote = client.post("/api/v1/quotes", json={"resident_id": other.id, "package_codes": ["basic"]},
                        headers=headers).get_json()
    assert quote["packages"][0]["version"] == 2
    assert quote["totals"]["list_value_fen"] == changed.list_value_fen
    # Loading the same files again changes nothing.
    assert packages.load_catalog([changed]).created == []


# --- entitlements and services ----------------------------------------------------------------

def test_services_use_entitlements_until_exhausted(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1))
    headers = login(client, "doctor_a")
    c = sign(client, headers, r.id).get_json()
    ent = min(c["entitlements"], key=lambda e: e["promised"])
    path = f"/api/v1/contracts/{c['id']}/services"
    for _ in range(ent["promised"]):
        resp = client.post(path, json={"item_code": ent["item_code"], "delivered_on": "2026-03-02", "place": "clinic"},
                           headers=headers)
        assert resp.status_code == 201, resp.get_json()
    resp = client.post(path, json={"item_code": ent["item_code"], "delivered_on": "2026-03-02", "place": "home"},
                       headers=headers)
    assert resp.status_code == 409 and resp.get_json()["code"] == "ENTITLEMENT_EXHAUSTED"
    detail = client.get(f"/api/v1/contracts/{c['id']}", headers=headers).get_json()
    e = next(x for x in detail["entitlements"] if x["item_code"] == ent["item_code"])
    assert (e["used"], e["remaining"]) == (ent["promised"], 0)
    total = sum(x["promised"] for x in detail["entitlements"])
    assert detail["fulfilment_rate"] == round(ent["promised"] / total, 4)
    assert count(ServiceDelivery) == ent["promised"]
    listed = client.get(path, headers=headers).get_json()
    assert listed["total"] == ent["promised"] and listed["items"][0]["staff_id"] == signing.doctor_a.id


def test_service_errors(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1))
    headers = login(client, "doctor_a")
    c = sign(client, headers, r.id).get_json()
    item = c["entitlements"][0]["item_code"]
    path = f"/api/v1/contracts/{c['id']}/services"
    before_start = client.post(path, json={"item_code": item, "delivered_on": "2026-03-01", "place": "clinic"},
                               headers=headers)
    assert before_start.status_code == 409 and before_start.get_json()["code"] == "CONTRACT_NOT_ACTIVE"
    future = client.post(path, json={"item_code": item, "delivered_on": "2026-03-03", "place": "clinic"},
                         headers=headers)
    assert future.status_code == 422 and "delivered_on" in future.get_json()["errors"]
    unknown = client.post(path, json={"item_code": "nope", "delivered_on": "2026-03-02", "place": "clinic"},
                          headers=headers)
    assert unknown.status_code == 422 and unknown.get_json()["code"] == "UNKNOWN_ITEM"
    no_point = client.post(path, json={"item_code": item, "delivered_on": "2026-03-02", "place": "round_point"},
                           headers=headers)
    assert no_point.status_code == 422 and "round_point_id" in no_point.get_json()["errors"]
    other_team = client.post(path, json={"item_code": item, "delivered_on": "2026-03-02", "place": "clinic"},
                             headers=login(client, "doctor_b"))
    assert other_team.status_code == 404
    assert count(ServiceDelivery) == 0
    # Pending contracts have no term yet.
    p = make_resident(signing.thc_a, birth=dt.date(1972, 1, 1))
    pending = client.post("/api/v1/contracts", json={"team_id": signing.team_a.id, "package_codes": ["basic"]},
                          headers=resident_headers(p.id)).get_json()
    resp = client.post(f"/api/v1/contracts/{pending['id']}/services",
                       json={"item_code": item, "delivered_on": "2026-03-02", "place": "clinic"}, headers=headers)
    assert resp.status_code == 409 and resp.get_json()["code"] == "CONTRACT_NOT_ACTIVE"


# --- terminate, renew, expire ------------------------------------------------------------------

def test_terminate_needs_reason(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1))
    headers = login(client, "doctor_a")
    c = sign(client, headers, r.id).get_json()
    assert client.post(f"/api/v1/contracts/{c['id']}/terminate", json={"reason": ""}, headers=headers).status_code == 422
    resp = client.post(f"/api/v1/contracts/{c['id']}/terminate", json={"reason": "居民迁出"}, headers=headers)
    assert resp.status_code == 200
    assert (resp.get_json()["status"], resp.get_json()["terminate_reason"], resp.get_json()["terminated_on"]) == (
        "terminated", "居民迁出", "2026-03-02")
    # After termination the resident can sign again (with another team, by that team).
    assert client.get(f"/api/v1/teams/{signing.team_a.id}").get_json()["signed"] == 0


def test_renew_starts_after_old_end_and_daily_job_switches(client, signing, app):
    from services.contracts.lifecycle import expire_and_start_contracts

    r = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1))
    headers = login(client, "doctor_a")
    old = sign(client, headers, r.id).get_json()
    resp = client.post(f"/api/v1/contracts/{old['id']}/renew", json={"payment": BASIC_PAY}, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    new = resp.get_json()
    assert (new["status"], new["starts_on"], new["ends_on"], new["renewed_from_id"]) == (
        "scheduled", "2027-03-02", "2028-03-01", old["id"])
    dup = client.post(f"/api/v1/contracts/{old['id']}/renew", json={"payment": BASIC_PAY}, headers=headers)
    assert dup.status_code == 409 and dup.get_json()["code"] == "CONTRACT_APPLICATION_OPEN"
    # The day after the old end date the daily job expires the old and starts the new; twice is once.
    with clock.freeze(dt.datetime(2027, 3, 2, 1, 0, tzinfo=clock.zone())):
        assert expire_and_start_contracts() == {"expired": 1, "started": 1}
        assert expire_and_start_contracts() == {"expired": 0, "started": 0}
        db.session.commit()
    db.session.expire_all()
    assert db.session.get(Contract, old["id"]).status == "expired"
    assert db.session.get(Contract, new["id"]).status == "active"


def test_renewal_can_switch_team(client, signing):
    # Registered in the west township but signed with the east team; at renewal the west team takes over.
    r = make_resident(signing.thc_b, birth=dt.date(1970, 1, 1))
    old = sign(client, login(client, "admin_all"), r.id, team_id=signing.team_a.id).get_json()
    assert old["team_id"] == signing.team_a.id
    west = login(client, "doctor_b")
    resp = client.post(f"/api/v1/contracts/{old['id']}/renew", json={"payment": BASIC_PAY}, headers=west)
    assert resp.status_code == 403  # the same-team renewal belongs to the east team
    resp = client.post(f"/api/v1/contracts/{old['id']}/renew",
                       json={"team_id": signing.team_b.id, "payment": BASIC_PAY}, headers=west)
    assert resp.status_code == 201, resp.get_json()
    assert (resp.get_json()["team_id"], resp.get_json()["status"]) == (signing.team_b.id, "scheduled")


def test_resident_renews_and_team_accepts(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1), tags=("minimum_living_allowance",))
    old = sign(client, login(client, "doctor_a"), r.id, payment=None).get_json()
    resp = client.post(f"/api/v1/contracts/{old['id']}/renew", json={}, headers=resident_headers(r.id))
    assert resp.status_code == 201
    new = resp.get_json()
    assert (new["status"], new["starts_on"], new["totals"]["self_pay_fen"]) == ("pending", "2027-03-02", 0)
    accepted = client.post(f"/api/v1/contracts/{new['id']}/accept", headers=login(client, "doctor_a")).get_json()
    assert (accepted["status"], accepted["ends_on"]) == ("scheduled", "2028-03-01")


def test_lists_by_status_team_and_expiry(client, signing):
    headers = login(client, "doctor_a")
    a = make_resident(signing.thc_a, name="甲", birth=dt.date(1970, 1, 1))
    b = make_resident(signing.thc_a, name="乙", birth=dt.date(1971, 1, 1))
    ca = sign(client, headers, a.id).get_json()
    client.post("/api/v1/contracts", json={"team_id": signing.team_a.id, "package_codes": ["basic"]},
                headers=resident_headers(b.id))
    assert client.get("/api/v1/contracts?status=pending", headers=headers).get_json()["total"] == 1
    assert client.get(f"/api/v1/contracts?team_id={signing.team_a.id}", headers=headers).get_json()["total"] == 2
    assert client.get("/api/v1/contracts?expiring_within_days=30", headers=headers).get_json()["total"] == 0
    assert [c["id"] for c in client.get("/api/v1/contracts?expiring_within_days=365",
                                        headers=headers).get_json()["items"]] == [ca["id"]]
    assert client.get("/api/v1/contracts", headers=login(client, "doctor_b")).get_json()["total"] == 0
    history = client.get(f"/api/v1/contracts?resident_id={a.id}", headers=headers).get_json()
    assert [c["id"] for c in history["items"]] == [ca["id"]]
    # A resident lists only their own.
    assert client.get("/api/v1/contracts", headers=resident_headers(b.id)).get_json()["total"] == 1
    assert client.get(f"/api/v1/contracts/{ca['id']}", headers=resident_headers(b.id)).status_code == 404


# --- evaluations --------------------------------------------------------------------------------

def test_evaluations_once_a_month_and_team_average(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1))
    doctor = login(client, "doctor_a")
    c = sign(client, doctor, r.id).get_json()
    me = resident_headers(r.id)
    path = f"/api/v1/contracts/{c['id']}/evaluations"
    first = client.post(path, json={"score": 5, "comment": "医生很耐心"}, headers=me)
    assert first.status_code == 201 and first.get_json()["month"] == "2026-03"
    again = client.post(path, json={"score": 4}, headers=me)
    assert again.status_code == 409 and again.get_json()["code"] == "EVALUATION_ALREADY_SUBMITTED"
    assert client.post(path, json={"score": 6}, headers=me).status_code == 422
    assert client.post(path, json={"score": 3}, headers=doctor).status_code == 403
    with clock.freeze(dt.datetime(2026, 4, 1, 9, 0, tzinfo=clock.zone())):
        assert client.post(path, json={"score": 2}, headers=me).status_code == 201
    listed = client.get("/api/v1/evaluations", headers=doctor).get_json()
    assert listed["total"] == 2 and listed["summary"] == {"count": 2, "average_score": 3.5}
    assert client.get("/api/v1/evaluations", headers=login(client, "doctor_b")).get_json()["total"] == 0


def test_stranger_gets_404_for_contracts(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1970, 1, 1))
    c = sign(client, login(client, "doctor_a"), r.id).get_json()
    for path in (f"/api/v1/contracts/{c['id']}", f"/api/v1/contracts/{c['id']}/services"):
        resp = client.get(path, headers=login(client, "doctor_b"))
        assert resp.status_code == 404 and resp.get_json() == {"code": "CONTRACT_NOT_FOUND",
                                                              "message": "签约记录不存在"}
    stranger = make_resident(signing.thc_a, birth=dt.date(1980, 2, 2))
    resp = client.get(f"/api/v1/contracts/{c['id']}", headers=resident_headers(stranger.id))
    assert resp.status_code == 404 and resp.get_json()["code"] == "CONTRACT_NOT_FOUND"


def test_quote_start_must_be_within_the_horizon(client, signing):
    r = make_resident(signing.thc_a, birth=dt.date(1950, 1, 1))
    headers = login(client, "doctor_a")
    for starts_on in ("9999-12-31", "2999-12-31", "1950-01-01"):
        resp = client.post("/api/v1/quotes", json={"resident_id": r.id, "package_codes": ["basic"],
                                                   "starts_on": starts_on}, headers=headers)
        assert resp.status_code == 422 and "starts_on" in resp.get_json()["errors"], (starts_on, resp.get_json())
    ok = client.post("/api/v1/quotes", json={"resident_id": r.id, "package_codes": ["basic"],
                                             "starts_on": "2027-01-01"}, headers=headers)
    assert ok.status_code == 200 and ok.get_json()["totals"]["list_value_fen"] == 4000
