"""What a request costs in SQL, counted so it cannot creep back, and the cached
sign-in lookup that makes reads cheap without letting a revoked or deactivated
account in for longer than AUTH_CACHE_SECONDS (well inside a token's life).

Statements are counted with an SQLAlchemy `before_cursor_execute` listener on
the engine; COMMIT is not a statement there. Each endpoint is called once
before it is counted, so the caller's (cached) sign-in lookup is not part of
the count: a signed-in caller costs no statement.
"""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event, func, select

from services.core import clock
from services.core.db import db
from services.models import AuditLog, FollowUp, ProgramEnrolment, Slot, Staff
from tests.factories import login, make_contract, make_resident, resident_headers

TODAY = dt.date(2026, 3, 2)  # the frozen clock


@pytest.fixture
def clinic(world, frozen_clock):
    return world


@contextmanager
def counted():
    """Every statement sent to the database inside the block (its text on one line)."""
    seen: list[str] = []

    def _count(conn, cursor, statement, params, context, executemany):
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", _count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", _count)


def cost(client, method: str, path: str, headers: dict, **kwargs) -> tuple[object, list[str]]:
    """One request's response and statements, after a warm-up call of the same kind."""
    getattr(client, method)(path, headers=headers, **kwargs)
    # A served request starts with an empty session; here the test's session outlives it.
    db.session.expunge_all()
    with counted() as seen:
        resp = getattr(client, method)(path, headers=headers, **kwargs)
    return resp, seen


def _enrol(client, headers, resident_id):
    resp = client.post(f"/api/v1/residents/{resident_id}/programs", json={"program": "hypertension", "enrolled_on": "2026-02-01"},
                       headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _visit(client, headers, resident_id, day: dt.date, sbp=128):
    return client.post("/api/v1/followups", headers=headers, json={
        "resident_id": resident_id, "program": "hypertension", "visit_date": day.isoformat(),
        "visit_mode": "clinic", "sbp": sbp, "dbp": 80})


# --- statements per request ------------------------------------------------------------

def test_worklist_is_its_rows_and_one_audit_insert(client, clinic):
    doctor = login(client, "doctor_a")
    for i in range(3):
        _enrol(client, doctor, make_resident(clinic.thc_a, name=f"患者{i}", phone=f"1380000000{i}").id)
    resp, seen = cost(client, "get", "/api/v1/worklist", doctor)
    body = resp.get_json()
    assert resp.status_code == 200 and body["total"] == 3 and len(body["items"]) == 3
    # A short page tells its own total: no count(*). No sign-in lookup (cached), no tags.
    assert len(seen) == 2, seen
    assert "FROM program_enrolments JOIN residents" in seen[0] and seen[1].startswith("INSERT INTO audit_logs")


def test_a_full_page_counts_the_rest_once(client, clinic):
    doctor = login(client, "doctor_a")
    for i in range(3):
        _enrol(client, doctor, make_resident(clinic.thc_a, name=f"患者{i}").id)
    resp, seen = cost(client, "get", "/api/v1/worklist?page_size=2", doctor)
    assert resp.get_json()["total"] == 3 and len(resp.get_json()["items"]) == 2
    assert len(seen) == 3 and seen[1].startswith("SELECT count(*)"), seen
    # Past the end: no rows, so the total must be counted.
    resp, seen = cost(client, "get", "/api/v1/worklist?page=5&page_size=2", doctor)
    assert resp.get_json()["total"] == 3 and resp.get_json()["items"] == []
    assert [s.split()[0] for s in seen] == ["SELECT", "SELECT", "INSERT"], seen
    # The second page holds the last row: 2 before it + 1 = 3, no count.
    resp, seen = cost(client, "get", "/api/v1/worklist?page=2&page_size=2", doctor)
    assert resp.get_json()["total"] == 3 and len(resp.get_json()["items"]) == 1 and len(seen) == 2, seen


def test_resident_search_reads_rows_and_tags_in_one_statement(client, clinic):
    doctor = login(client, "doctor_a")
    for i in range(3):
        make_resident(clinic.thc_a, name=f"王{i}", tags=("tuberculosis", "disabled") if i else ())
    resp, seen = cost(client, "get", "/api/v1/residents?q=王", doctor)
    items = resp.get_json()["items"]
    assert resp.status_code == 200 and len(items) == 3
    assert sorted(t for item in items for t in item["tags"] if t in ("disabled", "tuberculosis")) == [
        "disabled", "disabled", "tuberculosis", "tuberculosis"]
    assert len(seen) == 2 and seen[1].startswith("INSERT INTO audit_logs"), seen


def test_slots_are_one_statement_with_team_staff_and_round_point(client, clinic):
    start = clock.now().replace(hour=9, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    for i in range(4):
        db.session.add(Slot(team_id=clinic.team_a.id, staff_id=clinic.doctor_a.id, kind="clinic",
                            starts_at=start + dt.timedelta(hours=i), ends_at=start + dt.timedelta(hours=i, minutes=30),
                            capacity=3, booked=0, status="open", audience="everyone"))
    db.session.commit()
    resp, seen = cost(client, "get", "/api/v1/slots", {})
    items = resp.get_json()["items"]
    assert resp.status_code == 200 and len(items) == 4
    assert {item["team"]["id"] for item in items} == {clinic.team_a.id}
    assert {item["staff"]["id"] for item in items} == {clinic.doctor_a.id}
    assert len(seen) == 1, seen


def test_me_needs_no_sign_in_lookup(client, clinic):
    r = make_resident(clinic.thc_a, name="赵六")
    headers = resident_headers(r.id)
    resp, seen = cost(client, "get", "/api/v1/me", headers)
    assert resp.status_code == 200 and resp.get_json()["profile"]["id"] == r.id
    assert not any("revoked_token" in s for s in seen), seen
    assert sum(s.startswith("SELECT residents.") for s in seen) == 1, seen
    # resident, audit row, tags, contract with its team (no packages or entitlements:
    # the summary does not show them), programmes, upcoming appointments with their slots.
    assert len(seen) == 6, "\n".join(s[:60] for s in seen)


def test_judging_a_visit_costs_the_same_after_300_earlier_visits(client, clinic):
    doctor = login(client, "doctor_a")
    fresh = make_resident(clinic.thc_a, name="新患者")
    veteran = make_resident(clinic.thc_a, name="老患者")
    _enrol(client, doctor, fresh.id)
    enrolment_id = _enrol(client, doctor, veteran.id)
    enrolment = db.session.get(ProgramEnrolment, enrolment_id)
    # 300 earlier visits, written as a county's history import would (the rules only
    # look at the latest and the latest valid one).
    rows = [{"enrolment_id": enrolment_id, "resident_id": veteran.id, "team_id": enrolment.team_id,
             "program": "hypertension", "visit_date": TODAY - dt.timedelta(days=300 - i), "visit_mode": "clinic",
             "not_reached": False, "details": {}, "classification": "uncontrolled" if i == 299 else "controlled",
             "at_target": i != 299, "referral": "none", "reasons": [], "sbp": 150 if i == 299 else 128, "dbp": 80,
             "next_due_date": TODAY + dt.timedelta(days=14), "rules_version": "test",
             "recorded_by_id": clinic.doctor_a.id, "created_at": clock.now()} for i in range(300)]
    db.session.execute(sa.insert(FollowUp), rows)
    db.session.commit()

    loaded: list[int] = []

    def _loaded(target, _context):
        loaded.append(target.id)

    _visit(client, doctor, fresh.id, TODAY - dt.timedelta(days=2))  # the first visit of `fresh`
    event.listen(FollowUp, "load", _loaded)
    try:
        with counted() as first:
            a = _visit(client, doctor, fresh.id, TODAY)
        loaded_first, loaded[:] = list(loaded), []
        with counted() as later:
            b = _visit(client, doctor, veteran.id, TODAY)
    finally:
        event.remove(FollowUp, "load", _loaded)
    assert a.status_code == 201 and b.status_code == 201, (a.get_json(), b.get_json())
    # The veteran's previous valid visit was uncontrolled (150/80) and this one is
    # controlled: the rules saw it (the classification reads the latest valid one).
    assert b.get_json()["assessment"]["classification"] == "controlled"
    assert len(later) == len(first), (first, later)
    assert len(loaded_first) == 1 and len(loaded) == 1, (loaded_first, loaded)
    assert db.session.scalar(select(func.count()).select_from(FollowUp).where(
        FollowUp.enrolment_id == enrolment_id)) == 301


# --- the cached sign-in lookup -----------------------------------------------------------

def _outside_this_process(statement, **params) -> None:
    """A change as another worker would make it: its own connection, no ORM events here."""
    with db.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def test_a_deactivation_made_elsewhere_is_refused_within_the_cache_time(client, clinic):
    ttl = current_app.extensions["principal_cache"].ttl
    assert dt.timedelta(0) < ttl < current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    doctor = login(client, "doctor_a")
    assert client.get("/api/v1/worklist", headers=doctor).status_code == 200
    _outside_this_process("UPDATE staff SET active = :no WHERE id = :id", no=False, id=clinic.doctor_a.id)
    # Still remembered here for a moment (another worker's change is not seen at once) ...
    assert client.get("/api/v1/worklist", headers=doctor).status_code == 200
    # ... and refused once the entry has lived its time, long before the token expires.
    with clock.freeze(clock.now() + ttl + dt.timedelta(seconds=1)):
        resp = client.get("/api/v1/worklist", headers=doctor)
    assert resp.status_code == 401 and resp.get_json()["code"] == "TOKEN_INVALID"


def test_a_sign_in_revoked_elsewhere_is_refused_within_the_cache_time(client, clinic):
    ttl = current_app.extensions["principal_cache"].ttl
    tokens = client.post("/api/v1/auth/staff/login", json={"username": "doctor_a",
                                                           "password": "correct-horse-battery"}).get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/api/v1/worklist", headers=headers).status_code == 200
    from flask_jwt_extended import decode_token
    family = decode_token(tokens["access_token"])["fam"]
    now = clock.now()
    _outside_this_process(
        "INSERT INTO revoked_token_families (family_id, subject, reason, revoked_at, expires_at) "
        "VALUES (:f, :s, 'logout', :now, :later)", f=family, s=f"staff:{clinic.doctor_a.id}", now=now,
        later=now + dt.timedelta(days=31))
    with clock.freeze(clock.now() + ttl + dt.timedelta(seconds=1)):
        resp = client.get("/api/v1/worklist", headers=headers)
    assert resp.status_code == 401 and resp.get_json()["code"] == "TOKEN_REVOKED"


def test_a_deactivation_made_here_is_refused_at_once(client, clinic):
    doctor = login(client, "doctor_a")
    admin = login(client, "admin_all")
    assert client.get("/api/v1/worklist", headers=doctor).status_code == 200
    resp = client.patch(f"/api/v1/staff/{clinic.doctor_a.id}", json={"active": False}, headers=admin)
    assert resp.status_code == 200, resp.get_json()
    assert db.session.get(Staff, clinic.doctor_a.id).active is False
    resp = client.get("/api/v1/worklist", headers=doctor)
    assert resp.status_code == 401 and resp.get_json()["code"] == "TOKEN_INVALID"


def test_a_team_move_made_here_changes_scope_at_once(client, clinic):
    r = make_resident(clinic.thc_b, name="西村居民")
    make_contract(r.id, clinic.team_b)
    doctor = login(client, "doctor_a")
    assert client.get(f"/api/v1/residents/{r.id}", headers=doctor).status_code == 404
    staff = db.session.get(Staff, clinic.doctor_a.id)
    staff.team_id = clinic.team_b.id
    db.session.commit()
    resp = client.get(f"/api/v1/residents/{r.id}", headers=doctor)
    assert resp.status_code == 200 and resp.get_json()["id"] == r.id


def test_a_read_is_audited_in_its_own_transaction(client, clinic):
    doctor = login(client, "doctor_a")
    _enrol(client, doctor, make_resident(clinic.thc_a, name="患者").id)
    before = db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "search"))
    resp = client.get("/api/v1/worklist", headers=doctor)
    assert resp.status_code == 200
    rows = db.session.scalars(select(AuditLog).where(AuditLog.action == "search")
                              .order_by(AuditLog.id.desc())).all()
    assert len(rows) == before + 1
    assert rows[0].detail["list"] == "worklist"
    assert rows[0].detail["resident_ids"] == [item["resident"]["id"] for item in resp.get_json()["items"]]
