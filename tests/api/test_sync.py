"""Offline sync over HTTP (SQLite, and PostgreSQL under TEST_DB=postgres): what a
team's phone pulls, how pages stay exact while others write, tombstones, the
appointment window, and pushes that store each record once, judged as online."""
from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid as uuidlib

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.core import clock
from services.core.db import db
from services.core.idcard import make_id_number
from services.models import (
    Appointment,
    AuditLog,
    Contract,
    FollowUp,
    IdempotencyRecord,
    ProgramEnrolment,
    Resident,
    RoundPoint,
    ServiceDelivery,
    Slot,
)
from tests.concurrency import race
from tests.factories import load_catalog, login, make_resident

PULL, PUSH = "/api/v1/sync/pull", "/api/v1/sync/push"
BASIC_PAY = {"amount_fen": 800, "method": "cash", "receipt_no": "R-0001"}


@pytest.fixture
def rounds(world, frozen_clock, client):
    load_catalog()
    doctor = login(client, "doctor_a")
    a = make_resident(world.thc_a, name="王大爷", birth=dt.date(1950, 4, 1), phone="13912345678",
                      village="东村", tags=("hypertension",))
    _ok(client.post("/api/v1/contracts", headers=doctor,
                    json={"resident_id": a.id, "package_codes": ["basic"], "payment": BASIC_PAY}), 201)
    enrolment = _ok(client.post(f"/api/v1/residents/{a.id}/programs", headers=doctor,
                                json={"program": "hypertension", "enrolled_on": "2025-06-01"}), 201)
    outsider = make_resident(world.thc_a, name="李四")  # the institution's, but in no team's panel
    b = make_resident(world.thc_b, name="赵五")
    _ok(client.post("/api/v1/contracts", headers=login(client, "doctor_b"),
                    json={"resident_id": b.id, "package_codes": ["basic"], "payment": BASIC_PAY}), 201)
    world.extra.update(a=a.id, b=b.id, outsider=outsider.id, enrolment=enrolment["id"], doctor=doctor,
                       contract=db.session.scalar(select(Contract.id).where(Contract.resident_id == a.id)))
    return world


def _ok(resp, status=200):
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()


def pull_all(client, headers, cursor=None, limit=500, **query):
    """Every page until has_more is false: (changes in order, last cursor, pages)."""
    changes, pages = [], 0
    while True:
        params = {"limit": limit, **query, **({"cursor": cursor} if cursor else {})}
        body = _ok(client.get(PULL, headers=headers, query_string=params))
        pages += 1
        changes += body["changes"]
        cursor = body["cursor"]
        if not body["has_more"]:
            return changes, cursor, pages
        assert pages < 1000


def holdings(changes, start=None):
    """What a phone holds after applying `changes` in order: {(type, id): change}."""
    held = dict(start or {})
    for c in changes:
        key = (c["type"], c["id"])
        if c["deleted"]:
            held.pop(key, None)
        else:
            held[key] = c
    return held


def record(type_, data, **extra):
    return {"uuid": str(uuidlib.uuid4()), "type": type_, "client_time": "2026-03-02T09:30:00+08:00",
            "data": data, **extra}


def visit(resident_id, day="2026-03-01", **fields):
    return {"resident_id": resident_id, "program": "hypertension", "visit_date": day, "visit_mode": "home",
            "sbp": 128, "dbp": 78, **fields}


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _slot(team_id, starts_at, **kw) -> Slot:
    slot = Slot(team_id=team_id, kind="clinic", starts_at=starts_at, ends_at=starts_at + dt.timedelta(hours=2),
                capacity=10, booked=1, audience="everyone", **kw)
    db.session.add(slot)
    db.session.flush()
    return slot


def _book(slot: Slot, resident_id: int) -> int:
    appt = Appointment(slot_id=slot.id, resident_id=resident_id, status="booked", booked_by="staff")
    db.session.add(appt)
    db.session.commit()
    return appt.id


# --- pull: what the phone carries ------------------------------------------------------------

def test_first_pull_carries_the_team_panel_and_nothing_else(client, rounds):
    w = rounds
    changes, cursor, _ = pull_all(client, w.extra["doctor"])
    held = holdings(changes)
    residents = {i for (t, i) in held if t == "resident"}
    assert residents == {w.extra["a"]}  # not the outsider, not team B's resident
    a = held[("resident", w.extra["a"])]
    assert a["data"]["name"] == "王大爷" and a["data"]["resident_id"] == w.extra["a"]
    assert "*" in a["data"]["id_number"] and len(a["data"]["id_number"]) == 18
    assert a["data"]["phone"] == "13912345678" and a["data"]["village"] == "东村"
    assert set(a["data"]["tags"]) >= {"elderly", "hypertension"}
    assert a["version"] == a["data"]["version"] == db.session.get(Resident, w.extra["a"]).version
    enrolment = held[("enrolment", w.extra["enrolment"])]
    assert enrolment["data"]["resident_id"] == w.extra["a"] and enrolment["data"]["program"] == "hypertension"
    assert enrolment["data"]["next_due_date"] == db.session.get(ProgramEnrolment, w.extra["enrolment"]) \
        .next_due_date.isoformat()
    contract = held[("contract", w.extra["contract"])]["data"]
    bp = next(e for e in contract["entitlements"] if e["item_code"] == "bp_check")
    assert (bp["promised"], bp["used"], bp["remaining"]) == (4, 0, 4)
    points = [c for (t, _), c in held.items() if t == "round_point"]
    assert [p["data"]["name"] for p in points] == ["东村巡诊点"]
    catalog = {c["data"]["code"] for (t, _), c in held.items() if t == "catalog"}
    assert "basic" in catalog
    assert not any(c["deleted"] for c in changes)  # a first pull brings no tombstones
    # Team B's doctor sees only team B's panel.
    other, _, _ = pull_all(client, login(client, "doctor_b"))
    assert {c["id"] for c in other if c["type"] == "resident"} == {w.extra["b"]}
    assert not [c for c in other if c["type"] == "round_point"]


def test_empty_delta_returns_no_changes_and_the_same_cursor(client, rounds):
    headers = rounds.extra["doctor"]
    _, cursor, _ = pull_all(client, headers)
    audited = count(AuditLog)
    body = _ok(client.get(PULL, headers=headers, query_string={"cursor": cursor}))
    assert body == {"changes": [], "cursor": cursor, "has_more": False}
    assert count(AuditLog) == audited  # it showed nobody's record


def test_pull_is_gzip_compressed_when_asked(client, rounds):
    headers = rounds.extra["doctor"]
    plain = client.get(PULL, headers=headers)
    assert "Content-Encoding" not in plain.headers
    packed = client.get(PULL, headers={**headers, "Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert len(packed.data) < len(plain.data)
    assert json.loads(gzip.decompress(packed.data))["changes"] == plain.get_json()["changes"]


def test_bad_or_foreign_cursor_is_422_and_admins_name_a_team(client, rounds):
    headers = rounds.extra["doctor"]
    for bad in ("not-a-cursor", "eyJ4IjoxfQ"):
        body = _ok(client.get(PULL, headers=headers, query_string={"cursor": bad}), 422)
        assert body["code"] == "INVALID_CURSOR" and "cursor" in body["errors"]
    _, b_cursor, _ = pull_all(client, login(client, "doctor_b"))
    assert _ok(client.get(PULL, headers=headers, query_string={"cursor": b_cursor}), 422)["code"] == "INVALID_CURSOR"
    admin = login(client, "admin_all")
    assert "team_id" in _ok(client.get(PULL, headers=admin), 422)["errors"]
    changes, _, _ = pull_all(client, admin, team_id=rounds.team_a.id)
    assert rounds.extra["a"] in {c["id"] for c in changes if c["type"] == "resident"}
    stranger = login(client, "doctor_b")
    assert _ok(client.get(PULL, headers=stranger, query_string={"team_id": rounds.team_a.id}), 404)["code"] \
        == "TEAM_NOT_FOUND"
    assert client.get(PULL).status_code == 401


def test_pull_is_audited_with_what_it_carried(client, rounds):
    before = count(AuditLog)
    changes, _, _ = pull_all(client, rounds.extra["doctor"])
    db.session.expire_all()
    row = db.session.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert count(AuditLog) == before + 1
    assert row.action == "read" and row.detail["record"] == "sync" and row.detail["residents"] == 1
    assert row.detail["changes"] == len(changes)


def test_pages_stay_exact_while_another_connection_writes(app, client, rounds):
    w = rounds
    headers = w.extra["doctor"]
    ids = []
    for n in range(25):
        r = make_resident(w.thc_a, name=f"居民{n:02d}")
        db.session.add(Contract(resident_id=r.id, team_id=w.team_a.id, status="active",
                                starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2026, 12, 31)))
        ids.append(r.id)
    db.session.commit()
    other = Session(db.engine)  # a colleague's writes on a connection of their own

    cursor, changes, pages = None, [], 0
    while True:
        body = _ok(client.get(PULL, headers=headers, query_string={"limit": 7, **({"cursor": cursor} if cursor else {})}))
        changes += body["changes"]
        cursor, pages = body["cursor"], pages + 1
        if pages == 1:
            seen = [c["id"] for c in body["changes"] if c["type"] == "resident"]
            # Change one already delivered, one not yet, add one, and take one out of the panel.
            delivered, ahead = other.get(Resident, seen[0]), other.get(Resident, ids[-1])
            delivered.address, ahead.address = "一页后改的地址", "还没拉到就改了"
            cipher, number = app.extensions["pii_cipher"], make_id_number("131122", dt.date(1961, 2, 3), 77, "male")
            late = Resident(institution_id=w.thc_a.id, birth_date=dt.date(1961, 2, 3), sex="male", name="新来的",
                            id_number_encrypted=cipher.encrypt(number), id_number_hash=cipher.lookup_hash(number))
            other.add(late)
            other.flush()
            other.add(Contract(resident_id=late.id, team_id=w.team_a.id, status="active",
                               starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2026, 12, 31)))
            gone = other.scalar(select(Contract).where(Contract.resident_id == ids[1]))
            gone.status = "terminated"
            other.commit()
            late_id, moved_first = late.id, seen[0]
        if not body["has_more"]:
            break
    other.close()
    held = holdings(changes)
    residents = {i for (t, i) in held if t == "resident"}
    assert residents == {w.extra["a"], late_id, *ids} - {ids[1]}
    assert held[("resident", moved_first)]["data"]["address"] == "一页后改的地址"
    assert held[("resident", ids[-1])]["data"]["address"] == "还没拉到就改了"
    assert ("contract", db.session.scalar(select(Contract.id).where(Contract.resident_id == ids[1]))) not in held
    assert pages >= 4
    # Nothing is left behind: a delta now is empty.
    assert _ok(client.get(PULL, headers=headers, query_string={"cursor": cursor}))["changes"] == []


def test_a_resident_moved_to_another_team_is_a_tombstone_there_and_whole_here(client, rounds):
    w = rounds
    a_headers, b_headers = w.extra["doctor"], login(client, "doctor_b")
    r = make_resident(w.thc_a, name="搬家的")
    _ok(client.post("/api/v1/contracts", headers=a_headers,
                    json={"resident_id": r.id, "package_codes": ["basic"], "payment": BASIC_PAY}), 201)
    held_a, cursor_a, _ = pull_all(client, a_headers)
    held_a = holdings(held_a)
    _, cursor_b, _ = pull_all(client, b_headers)
    assert ("resident", r.id) in held_a
    contract_id = db.session.scalar(select(Contract.id).where(Contract.resident_id == r.id))
    _ok(client.post(f"/api/v1/contracts/{contract_id}/terminate", headers=a_headers, json={"reason": "迁往西镇"}))
    admin = login(client, "admin_all")
    _ok(client.post("/api/v1/contracts", headers=admin, json={
        "resident_id": r.id, "team_id": w.team_b.id, "package_codes": ["basic"], "payment": BASIC_PAY}), 201)
    delta_a, _, _ = pull_all(client, a_headers, cursor_a)
    assert {(c["type"], c["id"], c["deleted"]) for c in delta_a} == {("resident", r.id, True),
                                                                      ("contract", contract_id, True)}
    assert all(c["data"] is None for c in delta_a)
    delta_b, _, _ = pull_all(client, b_headers, cursor_b)
    moved = [c for c in delta_b if c["type"] == "resident"]
    assert [(c["id"], c["deleted"], c["data"]["name"]) for c in moved] == [(r.id, False, "搬家的")]
    assert [c["data"]["resident_id"] for c in delta_b if c["type"] == "contract"] == [r.id]


def test_closed_enrolment_and_retired_round_point_are_tombstones(client, rounds):
    w = rounds
    headers = w.extra["doctor"]
    _, cursor, _ = pull_all(client, headers)
    _ok(client.patch(f"/api/v1/programs/{w.extra['enrolment']}", headers=headers, json={
        "status": "moved_out", "status_changed_on": "2026-03-01", "reason": "迁出本县"}))
    point = db.session.scalar(select(RoundPoint.id))
    db.session.get(RoundPoint, point).active = False
    db.session.commit()
    delta, _, _ = pull_all(client, headers, cursor)
    assert {(c["type"], c["id"]) for c in delta if c["deleted"]} == {("enrolment", w.extra["enrolment"]),
                                                                     ("round_point", point)}
    # A stays: the contract still holds them in the panel.
    assert ("resident", w.extra["a"]) not in {(c["type"], c["id"]) for c in delta if c["deleted"]}


def test_appointments_from_today_to_the_window_and_those_that_come_into_it(client, rounds):
    w = rounds
    headers = w.extra["doctor"]
    now = clock.now()
    soon = _book(_slot(w.team_a.id, now + dt.timedelta(days=2)), w.extra["a"])
    far = _book(_slot(w.team_a.id, now + dt.timedelta(days=20)), w.extra["a"])
    past = _book(_slot(w.team_a.id, now - dt.timedelta(days=2)), w.extra["a"])
    elsewhere = _book(_slot(w.team_b.id, now + dt.timedelta(days=2)), w.extra["b"])
    changes, cursor, _ = pull_all(client, headers)
    appts = {c["id"]: c for c in changes if c["type"] == "appointment"}
    assert set(appts) == {soon}
    assert appts[soon]["data"]["resident_id"] == w.extra["a"] and appts[soon]["data"]["resident_name"] == "王大爷"
    assert far not in appts and past not in appts and elsewhere not in appts
    clock.advance(dt.timedelta(days=7))
    delta, cursor, _ = pull_all(client, headers, cursor)
    assert [c["id"] for c in delta if c["type"] == "appointment"] == [far]
    db.session.get(Appointment, soon).status = "cancelled"
    db.session.commit()
    delta, _, _ = pull_all(client, headers, cursor)
    assert [(c["id"], c["deleted"]) for c in delta if c["type"] == "appointment"] == [(soon, True)]


# --- push --------------------------------------------------------------------------------------

def test_a_push_repeated_three_times_stores_each_record_once(client, rounds):
    w = rounds
    headers = w.extra["doctor"]
    batch = {"records": [record("followup", visit(w.extra["a"])),
                         record("not_reached", visit(w.extra["a"], "2026-02-20", visit_mode="home",
                                                     not_reached_reason="外出务工"))]}
    first = _ok(client.post(PUSH, headers=headers, json=batch))["results"]
    assert [r["status"] for r in first] == ["created", "created"]
    assert first[0]["result"]["assessment"]["classification"] == "controlled"
    assert first[1]["result"]["not_reached"] is True
    for _ in range(2):
        again = _ok(client.post(PUSH, headers=headers, json=batch))["results"]
        assert [(r["uuid"], r["status"], r["first_status"]) for r in again] == [
            (b["uuid"], "duplicate", "created") for b in batch["records"]]
        assert [r["result"] for r in again] == [r["result"] for r in first]
    assert count(FollowUp) == 2


def test_the_same_push_from_two_threads_stores_each_record_once(app, rounds):
    w = rounds
    headers = w.extra["doctor"]
    batch = {"records": [record("followup", visit(w.extra["a"], f"2026-02-{d:02d}")) for d in range(10, 20)]}
    results = race(app, 2, lambda c, i: c.post(PUSH, headers=headers, json=batch))
    assert [s for s, _ in results] == [200, 200]
    for n in range(len(batch["records"])):
        answers = [body["results"][n] for _, body in results]
        assert sorted(a["status"] for a in answers) == ["created", "duplicate"], answers
        assert answers[0]["result"]["id"] == answers[1]["result"]["id"]
    assert count(FollowUp) == 10


def test_one_invalid_record_among_a_hundred_stores_the_other_99(client, rounds):
    w = rounds
    start = dt.date(2025, 6, 2)
    records = [record("followup", visit(w.extra["a"], (start + dt.timedelta(days=n)).isoformat()))
               for n in range(100)]
    records[57]["data"]["sbp"] = "一百二"
    results = _ok(client.post(PUSH, headers=w.extra["doctor"], json={"records": records}))["results"]
    assert [r["uuid"] for r in results] == [r["uuid"] for r in records]
    assert [n for n, r in enumerate(results) if r["status"] != "created"] == [57]
    assert results[57]["status"] == "rejected" and results[57]["code"] == "VALIDATION_FAILED"
    assert "sbp" in results[57]["errors"]
    assert count(FollowUp) == 99
    assert count(IdempotencyRecord) == 99  # the rejected one left no trace


def test_another_teams_resident_is_out_of_scope_and_nothing_is_written(client, rounds):
    w = rounds
    before = (count(AuditLog), count(FollowUp), count(IdempotencyRecord))
    results = _ok(client.post(PUSH, headers=w.extra["doctor"], json={"records": [
        record("followup", visit(w.extra["b"])),
        record("resident_update", {"resident_id": w.extra["b"], "address": "改别人的"}, base_version=1),
        record("service_delivery", {"contract_id": db.session.scalar(
            select(Contract.id).where(Contract.resident_id == w.extra["b"])), "item_code": "bp_check",
            "delivered_on": "2026-03-01", "place": "home"}),
    ]}))["results"]
    assert [(r["status"], r["code"]) for r in results] == [("rejected", "OUT_OF_SCOPE")] * 3
    assert (count(AuditLog), count(FollowUp), count(IdempotencyRecord)) == before
    assert db.session.get(Resident, w.extra["b"]).address is None


def test_a_stale_resident_update_is_a_conflict_carrying_the_newer_record(client, rounds):
    w = rounds
    headers = w.extra["doctor"]
    changes, _, _ = pull_all(client, headers)
    base = holdings(changes)[("resident", w.extra["a"])]["version"]
    # A colleague corrects the address online after the phone's copy was taken.
    _ok(client.patch(f"/api/v1/residents/{w.extra['a']}", headers=login(client, "nurse_a"),
                     json={"address": "东村 12 号"}))
    stale = record("resident_update", {"resident_id": w.extra["a"], "address": "东村 3 号"}, base_version=base)
    result = _ok(client.post(PUSH, headers=headers, json={"records": [stale]}))["results"][0]
    assert (result["status"], result["code"]) == ("rejected", "CONFLICT")
    assert result["current"]["address"] == "东村 12 号" and result["current"]["version"] == base + 1
    assert db.session.get(Resident, w.extra["a"]).address == "东村 12 号"
    fresh = record("resident_update", {"resident_id": w.extra["a"], "address": "东村 3 号"},
                   base_version=base + 1)
    result = _ok(client.post(PUSH, headers=headers, json={"records": [fresh]}))["results"][0]
    assert result["status"] == "updated" and result["result"]["version"] == base + 2
    db.session.expire_all()
    assert db.session.get(Resident, w.extra["a"]).address == "东村 3 号"
    missing = record("resident_update", {"resident_id": w.extra["a"], "address": "x"})
    result = _ok(client.post(PUSH, headers=headers, json={"records": [missing]}))["results"][0]
    assert result["code"] == "VALIDATION_FAILED" and "base_version" in result["errors"]


def test_deliveries_and_signings_answer_with_the_online_codes(client, rounds):
    w = rounds
    headers = w.extra["doctor"]
    deliver = [record("service_delivery", {"contract_id": w.extra["contract"], "item_code": "health_assessment",
                                           "delivered_on": "2026-03-02", "place": "home"}) for _ in range(2)]
    outsider = w.extra["outsider"]
    results = _ok(client.post(PUSH, headers=headers, json={"records": [
        *deliver,
        record("contract_signing", {"resident_id": outsider, "package_codes": ["basic"], "payment": BASIC_PAY}),
        record("contract_signing", {"resident_id": w.extra["a"], "package_codes": ["basic"], "payment": BASIC_PAY}),
        record("followup", visit(outsider)),
    ]}))["results"]
    assert [(r["status"], r.get("code")) for r in results] == [
        ("created", None), ("rejected", "ENTITLEMENT_EXHAUSTED"), ("created", None),
        ("rejected", "CONTRACT_ALREADY_ACTIVE"), ("rejected", "NOT_ENROLLED")]
    assert results[2]["result"]["resident_id"] == outsider and results[2]["result"]["status"] == "active"
    assert count(ServiceDelivery) == 1
    assert count(Contract, Contract.resident_id == outsider, Contract.status == "active") == 1
    # The next pull shows what is left, and the newly signed resident.
    changes, _, _ = pull_all(client, headers)
    held = holdings(changes)
    item = next(e for e in held[("contract", w.extra["contract"])]["data"]["entitlements"]
                if e["item_code"] == "health_assessment")
    assert item["remaining"] == 0
    assert ("resident", outsider) in held


def test_a_late_visit_is_stored_without_rewriting_the_later_one(client, rounds):
    w = rounds
    headers = w.extra["doctor"]
    later = _ok(client.post(PUSH, headers=headers, json={"records": [record("followup", visit(w.extra["a"]))]}))
    later = later["results"][0]["result"]
    enrolment = db.session.get(ProgramEnrolment, w.extra["enrolment"])
    due, assessment = enrolment.next_due_date, enrolment.last_assessment
    late = _ok(client.post(PUSH, headers=headers, json={"records": [
        record("followup", visit(w.extra["a"], "2026-02-10", sbp=176, dbp=102))]}))["results"][0]
    assert late["status"] == "created" and late["result"]["assessment"]["classification"] == "uncontrolled"
    db.session.expire_all()
    enrolment = db.session.get(ProgramEnrolment, w.extra["enrolment"])
    assert (enrolment.next_due_date, enrolment.last_assessment, enrolment.last_visit_date) == (
        due, assessment, dt.date(2026, 3, 1))
    stored = db.session.get(FollowUp, later["id"])
    assert stored.classification == later["assessment"]["classification"]
    assert stored.next_due_date.isoformat() == later["assessment"]["next_due_date"]
    dates = db.session.scalars(select(FollowUp.visit_date).where(FollowUp.enrolment_id == enrolment.id)
                               .order_by(FollowUp.visit_date)).all()
    assert dates == [dt.date(2026, 2, 10), dt.date(2026, 3, 1)]


def test_push_envelope_errors_are_422_and_write_nothing(client, rounds):
    headers = rounds.extra["doctor"]
    for body in ({"records": []}, {"records": [{"type": "followup"}]},
                 {"records": [record("followup", visit(rounds.extra["a"]))] * 501},
                 {"records": [{**record("followup", visit(rounds.extra["a"])), "type": "bogus"}]}):
        resp = client.post(PUSH, headers=headers, json=body)
        assert resp.status_code == 422, resp.get_json()
        assert resp.get_json()["code"] == "VALIDATION_ERROR"
    assert count(FollowUp) == 0
    assert client.post(PUSH, headers=login(client, "doctor_a") | {"Authorization": "Bearer x"},
                       json={"records": []}).status_code == 401


def test_a_uuid_reused_for_another_record_is_refused(client, rounds):
    headers = rounds.extra["doctor"]
    first = record("followup", visit(rounds.extra["a"]))
    _ok(client.post(PUSH, headers=headers, json={"records": [first]}))
    other = {**first, "data": visit(rounds.extra["a"], "2026-02-11")}
    result = _ok(client.post(PUSH, headers=headers, json={"records": [other]}))["results"][0]
    assert (result["status"], result["code"]) == ("rejected", "UUID_REUSED")
    assert count(FollowUp) == 1


def test_rebuilding_the_feed_gives_phones_the_same_panel(app, client, rounds):
    headers = rounds.extra["doctor"]
    before = holdings(pull_all(client, headers)[0])
    result = app.test_cli_runner().invoke(args=["sync", "rebuild"])
    assert result.exit_code == 0 and "rows" in result.output
    after = holdings(pull_all(client, headers)[0])
    assert {k: c["data"] for k, c in after.items()} == {k: c["data"] for k, c in before.items()}
