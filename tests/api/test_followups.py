"""Chronic-disease follow-up over HTTP: enrolment, visits with assessment,
clinician dates, worklist with scope, referrals and indicators."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from services.core.db import db
from services.models import AuditLog, FollowUp, ProgramEnrolment, ResidentTag
from tests.factories import login, make_resident

TODAY = dt.date(2026, 3, 2)  # the frozen clock


@pytest.fixture
def clinic(world, frozen_clock):
    return world


def enrol(client, headers, resident_id, program="hypertension", **extra):
    return client.post(f"/api/v1/residents/{resident_id}/programs", json={"program": program, **extra},
                       headers=headers)


def visit(client, headers, resident_id, program="hypertension", **fields):
    body = {"resident_id": resident_id, "program": program, "visit_date": "2026-03-02", "visit_mode": "clinic",
            **fields}
    return client.post("/api/v1/followups", json=body, headers=headers)


def test_enrolment_schedules_first_visit_and_adds_tag(client, clinic):
    r = make_resident(clinic.thc_a, birth=dt.date(1955, 6, 1))
    headers = login(client, "doctor_a")
    resp = enrol(client, headers, r.id, diagnosed_on="2020-05-01", enrolled_on="2026-02-01")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert (body["program"], body["team_id"], body["enrolled_on"], body["next_due_date"]) == (
        "hypertension", clinic.team_a.id, "2026-02-01", "2026-02-15")
    assert db.session.scalars(select(ResidentTag.tag).where(ResidentTag.resident_id == r.id)).all() == ["hypertension"]
    again = enrol(client, headers, r.id)
    assert again.status_code == 409 and again.get_json()["code"] == "ALREADY_ENROLLED"


def test_enrolment_validation(client, clinic):
    r = make_resident(clinic.thc_a, birth=dt.date(1955, 6, 1))
    headers = login(client, "doctor_a")
    resp = enrol(client, headers, r.id, enrolled_on="2026-03-03")
    assert resp.status_code == 422 and resp.get_json()["errors"] == {"enrolled_on": ["纳入管理日期不能晚于今天"]}
    resp = enrol(client, headers, r.id, program="mental_disorder")
    assert resp.status_code == 422 and "disease" in resp.get_json()["errors"]
    resp = enrol(client, headers, r.id, program="mental_disorder", disease="schizophrenia")
    assert resp.status_code == 201 and resp.get_json()["disease"] == "schizophrenia"
    other = make_resident(clinic.thc_b, birth=dt.date(1956, 1, 1))
    assert enrol(client, headers, other.id).status_code == 404


def test_visit_182_95_is_urgent_with_sbp_ge_180(client, clinic):
    r = make_resident(clinic.thc_a, birth=dt.date(1960, 1, 1))
    headers = login(client, "doctor_a")
    enrol(client, headers, r.id, enrolled_on="2026-01-10")
    resp = visit(client, headers, r.id, sbp=182, dbp=95)
    assert resp.status_code == 201, resp.get_json()
    a = resp.get_json()["assessment"]
    assert a["referral"] == "urgent" and "SBP_GE_180" in a["reasons"]
    assert a["next_due_date"] == "2026-03-16" and a["rules_version"]
    row = db.session.scalars(select(FollowUp)).one()
    assert (row.sbp, row.dbp, row.referral, row.rules_version) == (182, 95, "urgent", a["rules_version"])
    trail = db.session.scalars(select(AuditLog.detail).where(AuditLog.resident_id == r.id,
                                                             AuditLog.action == "create")).all()
    assert [d["record"] for d in trail] == ["program_enrolment", "followup"]
    client.get(f"/api/v1/residents/{r.id}/followups", headers=headers)
    assert db.session.scalar(select(AuditLog.detail).where(AuditLog.action == "read")) == {
        "record": "followups", "count": 1}
    e = db.session.scalars(select(ProgramEnrolment)).one()
    assert (e.next_due_date, e.last_referral) == (dt.date(2026, 3, 16), "urgent")


def test_clinical_validation_is_422_with_field_messages(client, clinic):
    r = make_resident(clinic.thc_a, birth=dt.date(1960, 1, 1))
    headers = login(client, "doctor_a")
    enrol(client, headers, r.id, enrolled_on="2026-02-20")
    resp = visit(client, headers, r.id, sbp=120, dbp=130)
    assert resp.status_code == 422 and "dbp" in resp.get_json()["errors"]
    resp = visit(client, headers, r.id, sbp=400, dbp=80)
    assert resp.status_code == 422 and "sbp" in resp.get_json()["errors"]
    resp = visit(client, headers, r.id, visit_date="2026-02-19", sbp=130, dbp=80)
    assert resp.status_code == 422 and "visit_date" in resp.get_json()["errors"]
    resp = visit(client, headers, r.id, visit_date="2026-03-03", sbp=130, dbp=80)
    assert resp.status_code == 422 and "visit_date" in resp.get_json()["errors"]
    resp = visit(client, headers, r.id, program="diabetes", sbp=130, dbp=80, fasting_glucose=6.0)
    assert resp.status_code == 422 and resp.get_json()["code"] == "NOT_ENROLLED"
    assert db.session.scalars(select(FollowUp)).all() == []


def test_not_reached_keeps_plan_and_two_uncontrolled_in_a_row(client, clinic):
    r = make_resident(clinic.thc_a, birth=dt.date(1970, 1, 1))  # under 65: target 140/90
    headers = login(client, "doctor_a")
    enrol(client, headers, r.id, enrolled_on="2025-12-01")
    first = visit(client, headers, r.id, visit_date="2026-01-05", sbp=150, dbp=85).get_json()["assessment"]
    assert (first["classification"], first["referral"], first["next_due_date"]) == ("uncontrolled", "none",
                                                                                   "2026-01-19")
    missed = visit(client, headers, r.id, visit_date="2026-01-19", visit_mode="phone", not_reached=True,
                   not_reached_reason="外出务工").get_json()["assessment"]
    assert (missed["classification"], missed["next_due_date"]) == (None, "2026-01-19")
    second = visit(client, headers, r.id, visit_date="2026-02-02", sbp=146, dbp=88).get_json()["assessment"]
    assert second["referral"] == "advised" and "TWO_CONSECUTIVE_UNCONTROLLED" in second["reasons"]


def test_clinician_may_set_an_earlier_date_with_reason(client, clinic):
    r = make_resident(clinic.thc_a, birth=dt.date(1960, 1, 1))
    headers = login(client, "doctor_a")
    enrol(client, headers, r.id, enrolled_on="2026-01-10")
    resp = visit(client, headers, r.id, sbp=128, dbp=80, next_due_date="2026-04-01")
    assert resp.status_code == 422 and resp.get_json()["errors"] == {"next_due_reason": ["提前随访日期须填写原因"]}
    resp = visit(client, headers, r.id, sbp=128, dbp=80, next_due_date="2026-07-01", next_due_reason="x")
    assert resp.status_code == 422 and "next_due_date" in resp.get_json()["errors"]
    resp = visit(client, headers, r.id, sbp=128, dbp=80, next_due_date="2026-04-01", next_due_reason="调整用药后复查")
    assert resp.status_code == 201
    body = resp.get_json()
    assert (body["assessment"]["next_due_date"], body["clinician_next_due_date"], body["effective_next_due_date"]) == (
        "2026-05-31", "2026-04-01", "2026-04-01")
    e = db.session.scalars(select(ProgramEnrolment)).one()
    assert (e.system_due_date, e.clinician_due_date, e.next_due_date) == (
        dt.date(2026, 5, 31), dt.date(2026, 4, 1), dt.date(2026, 4, 1))


def test_worklist_order_filters_and_scope(client, clinic):
    headers = login(client, "doctor_a")
    a = make_resident(clinic.thc_a, name="逾期久", birth=dt.date(1950, 1, 1), phone="13700000001", village="东村")
    b = make_resident(clinic.thc_a, name="逾期短", birth=dt.date(1951, 1, 1), village="西头")
    c = make_resident(clinic.thc_a, name="本周到期", birth=dt.date(1952, 1, 1), village="东村")
    d = make_resident(clinic.thc_a, name="下月到期", birth=dt.date(1953, 1, 1))
    u = make_resident(clinic.thc_a, name="紧急转诊", birth=dt.date(1954, 1, 1))
    enrol(client, headers, a.id, enrolled_on="2026-01-01")           # due 01-15: 46 days overdue
    enrol(client, headers, b.id, enrolled_on="2026-02-10")           # due 02-24: 6 days overdue
    enrol(client, headers, c.id, enrolled_on="2026-02-20", program="diabetes")  # due 03-06
    enrol(client, headers, d.id, enrolled_on="2026-03-01")           # due 03-15: outside 7 days
    enrol(client, headers, u.id, enrolled_on="2026-02-01")
    visit(client, headers, u.id, sbp=185, dbp=100)                    # urgent, due 03-16
    other = make_resident(clinic.thc_b, name="别队", birth=dt.date(1950, 5, 5))
    enrol(client, login(client, "doctor_b"), other.id, enrolled_on="2026-01-01")
    page = client.get("/api/v1/worklist", headers=headers).get_json()
    assert [(i["resident"]["id"], i["section"], i["days_overdue"]) for i in page["items"]] == [
        (a.id, "overdue", 46), (b.id, "overdue", 6), (c.id, "due", 0), (u.id, "urgent_referral", 0)]
    first = page["items"][0]
    assert first["resident"]["name"] == "逾*久" and first["resident"]["id_number"].startswith("131122****")
    assert first["phone"] == "13700000001"
    assert [i["resident"]["id"] for i in client.get("/api/v1/worklist?status=overdue", headers=headers)
            .get_json()["items"]] == [a.id, b.id]
    assert [i["resident"]["id"] for i in client.get("/api/v1/worklist?village=东村", headers=headers)
            .get_json()["items"]] == [a.id, c.id]
    assert [i["resident"]["id"] for i in client.get("/api/v1/worklist?program=diabetes", headers=headers)
            .get_json()["items"]] == [c.id]
    assert d.id in [i["resident"]["id"] for i in client.get("/api/v1/worklist?within_days=14", headers=headers)
                    .get_json()["items"]]
    theirs = client.get("/api/v1/worklist", headers=login(client, "doctor_b")).get_json()["items"]
    assert [i["resident"]["id"] for i in theirs] == [other.id]
    assert client.get(f"/api/v1/worklist?team_id={clinic.team_b.id}", headers=headers).status_code == 404
    admin = login(client, "admin_a")
    assert client.get("/api/v1/worklist", headers=admin).status_code == 422
    assert client.get(f"/api/v1/worklist?team_id={clinic.team_a.id}", headers=admin).get_json()["total"] == 4


def test_referral_lifecycle(client, clinic):
    r = make_resident(clinic.village_a, birth=dt.date(1960, 1, 1))
    headers = login(client, "doctor_a")
    enrol(client, headers, r.id, enrolled_on="2026-02-01")
    f = visit(client, headers, r.id, sbp=190, dbp=100).get_json()
    resp = client.post("/api/v1/referrals", json={"resident_id": r.id, "to_institution_id": clinic.county.id,
                                                  "reason": "血压≥180，紧急转诊", "urgent": True,
                                                  "followup_id": f["id"]}, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    ref = resp.get_json()
    assert (ref["direction"], ref["status"], ref["urgent"]) == ("up", "created", True)
    sideways = client.post("/api/v1/referrals", json={"resident_id": r.id, "to_institution_id": clinic.thc_b.id,
                                                      "reason": "x"}, headers=headers)
    assert sideways.status_code == 422
    down = client.post("/api/v1/referrals", json={"resident_id": r.id, "to_institution_id": clinic.village_a.id,
                                                  "reason": "下转社区管理"}, headers=headers)
    assert down.status_code == 201 and down.get_json()["direction"] == "down"
    path = f"/api/v1/referrals/{ref['id']}"
    bad = client.patch(path, json={"status": "completed"}, headers=headers)
    assert bad.status_code == 409 and bad.get_json()["code"] == "INVALID_REFERRAL_STATUS"
    assert client.patch(path, json={"status": "received"}, headers=headers).get_json()["status"] == "received"
    done = client.patch(path, json={"status": "completed", "note": "已住院治疗"}, headers=headers).get_json()
    assert done["status"] == "completed" and [h["status"] for h in done["history"]] == ["created", "received",
                                                                                          "completed"]
    assert client.patch(path, json={"status": "cancelled", "note": "x"}, headers=headers).status_code == 409
    assert client.patch(path, json={"status": "received"}, headers=login(client, "doctor_b")).status_code == 404


def test_indicators_on_a_hand_computed_data_set(client, clinic):
    """Period 2026-01-01..2026-03-02 (61 days): required = ceil(4 x days/365) -> 1 for a full-period patient."""
    headers = login(client, "doctor_a")
    p1 = make_resident(clinic.thc_a, name="甲", birth=dt.date(1950, 1, 1))
    p2 = make_resident(clinic.thc_a, name="乙", birth=dt.date(1951, 1, 1))
    p3 = make_resident(clinic.thc_a, name="丙", birth=dt.date(1952, 1, 1))
    m1 = make_resident(clinic.thc_a, name="丁", birth=dt.date(1970, 1, 1))
    for r in (p1, p2, p3):
        enrol(client, headers, r.id, enrolled_on="2025-12-01")
    enrol(client, headers, m1.id, program="mental_disorder", disease="schizophrenia", enrolled_on="2025-12-01")
    visit(client, headers, p1.id, visit_date="2026-01-10", sbp=130, dbp=80)   # at target, face to face
    visit(client, headers, p2.id, visit_date="2026-01-12", sbp=150, dbp=95)   # not at target
    visit(client, headers, p3.id, visit_date="2026-01-15", visit_mode="phone", sbp=125, dbp=78)  # phone only
    visit(client, headers, m1.id, program="mental_disorder", visit_date="2026-01-20", risk_level=0,
          insight="complete")
    resp = client.get("/api/v1/stats/followup?date_from=2026-01-01&date_to=2026-03-02", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    stats = {p["program"]: p for p in resp.get_json()["programs"]}
    h = stats["hypertension"]
    assert (h["under_management"], h["face_to_face_visits"], h["standard_managed"], h["at_target"]) == (3, 2, 2, 2)
    assert (h["standard_management_rate"], h["control_rate"], h["visits_per_patient"]) == (0.6667, 0.6667, 0.67)
    m = stats["mental_disorder"]
    assert (m["register"], m["standard_managed"], m["at_target"], m["control_rate"]) == (1, 1, 1, 1.0)
    assert stats["diabetes"]["under_management"] == 0 and stats["diabetes"]["control_rate"] is None
    # Another team's doctor sees nothing of this team.
    theirs = client.get("/api/v1/stats/followup?date_from=2026-01-01&date_to=2026-03-02",
                        headers=login(client, "doctor_b")).get_json()
    assert all(p["under_management"] == 0 for p in theirs["programs"])
    assert client.get(f"/api/v1/stats/followup?date_from=2026-01-01&date_to=2026-03-02&team_id={clinic.team_a.id}",
                      headers=login(client, "doctor_b")).status_code == 404


def test_me_lists_upcoming_followups(client, clinic):
    from tests.factories import resident_headers

    r = make_resident(clinic.thc_a, birth=dt.date(1960, 1, 1))
    headers = login(client, "doctor_a")
    enrol(client, headers, r.id, enrolled_on="2026-02-20")
    enrol(client, headers, r.id, program="diabetes", enrolled_on="2026-02-25")
    me = client.get("/api/v1/me", headers=resident_headers(r.id)).get_json()
    assert [(u["kind"], u["program"], u["due_date"]) for u in me["upcoming"]] == [
        ("followup", "hypertension", "2026-03-06"), ("followup", "diabetes", "2026-03-11")]


def test_status_change_needs_reason_and_leaves_the_worklist(client, clinic):
    r = make_resident(clinic.thc_a, birth=dt.date(1960, 1, 1))
    headers = login(client, "doctor_a")
    e = enrol(client, headers, r.id, enrolled_on="2026-01-01").get_json()
    assert client.get("/api/v1/worklist", headers=headers).get_json()["total"] == 1
    resp = client.patch(f"/api/v1/programs/{e['id']}", json={"status": "moved_out"}, headers=headers)
    assert resp.status_code == 422 and resp.get_json()["errors"] == {"reason": ["请填写状态变更原因"]}
    resp = client.patch(f"/api/v1/programs/{e['id']}", json={"status": "moved_out", "reason": "迁往外省",
                                                             "status_changed_on": "2026-02-15"}, headers=headers)
    assert resp.status_code == 200
    assert (resp.get_json()["status"], resp.get_json()["status_changed_on"]) == ("moved_out", "2026-02-15")
    assert client.get("/api/v1/worklist", headers=headers).get_json()["total"] == 0
    # No visits on an enrolment that has ended; a new enrolment is possible.
    assert visit(client, headers, r.id, sbp=130, dbp=80).get_json()["code"] == "NOT_ENROLLED"
    assert client.patch(f"/api/v1/programs/{e['id']}", json={"status": "lost", "reason": "x"},
                        headers=login(client, "doctor_b")).status_code == 404
    listed = client.get(f"/api/v1/residents/{r.id}/programs", headers=headers).get_json()["items"]
    assert [(i["program"], i["status"]) for i in listed] == [("hypertension", "moved_out")]


def test_enrolment_before_birth_is_422_and_writes_nothing(client, clinic):
    r = make_resident(clinic.thc_a, birth=dt.date(1949, 12, 31))
    headers = login(client, "doctor_a")
    resp = enrol(client, headers, r.id, enrolled_on="1949-01-01")
    assert resp.status_code == 422 and resp.get_json()["errors"] == {"enrolled_on": ["纳入管理日期不能早于出生日期"]}
    resp = enrol(client, headers, r.id, enrolled_on="0001-01-01")
    assert resp.status_code == 422 and "enrolled_on" in resp.get_json()["errors"]
    assert db.session.scalars(select(ProgramEnrolment)).all() == []
