"""Follow-up indicators (GET /stats/followup) on the cases test_followups.py does not reach:
period boundaries, pro rata requirements, patients who left during the period,
which visit decides 控制率, units with no patients, and the statement count of
the aggregation (it is done in SQL, not row by row in Python).

The frozen day is 2026-03-02; the rules ask for 4 face-to-face visits a year,
so a patient managed d days of the period needs ceil(4 x d / 365) of them.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event

from services.core.db import db
from services.models import Team
from tests.factories import login, make_resident

STABLE = {"risk_level": 0, "insight": "complete"}  # 严重精神障碍: judged 'stable'
AT_TARGET = {"sbp": 130, "dbp": 80}
NOT_AT_TARGET = {"sbp": 150, "dbp": 95}


@pytest.fixture
def clinic(world, frozen_clock):
    return world


@pytest.fixture
def doctor(client, clinic):
    return login(client, "doctor_a")


def patient(client, headers, clinic, enrolled_on, program="hypertension", name="患者"):
    r = make_resident(clinic.thc_a, name=name, birth=dt.date(1955, 1, 1))
    extra = {"disease": "schizophrenia"} if program == "mental_disorder" else {}
    resp = client.post(f"/api/v1/residents/{r.id}/programs",
                       json={"program": program, "enrolled_on": enrolled_on, **extra}, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return r.id, resp.get_json()["id"]


def visit(client, headers, resident_id, visit_date, program="hypertension", visit_mode="clinic", **fields):
    body = {"resident_id": resident_id, "program": program, "visit_date": visit_date, "visit_mode": visit_mode,
            **fields}
    resp = client.post("/api/v1/followups", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def leave(client, headers, enrolment_id, on, status="moved_out"):
    resp = client.patch(f"/api/v1/programs/{enrolment_id}", json={"status": status, "status_changed_on": on,
                                                                   "reason": "迁出本辖区"}, headers=headers)
    assert resp.status_code == 200, resp.get_json()


def stats(client, headers, date_from, date_to, **unit):
    query = "&".join(f"{k}={v}" for k, v in {"date_from": date_from, "date_to": date_to, **unit}.items())
    resp = client.get(f"/api/v1/stats/followup?{query}", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return {p["program"]: p for p in resp.get_json()["programs"]}


def figures(p: dict) -> tuple:
    return (p["under_management"], p["register"], p["face_to_face_visits"], p["standard_managed"], p["at_target"])


def test_period_boundaries_are_inclusive(client, clinic, doctor):
    """January 2026 (31 days: each full-period patient needs ceil(4 x 31/365) = 1 visit).

    A: visits on 12-31 and 02-01 only, both outside -> 0 visits, not standard, no visit so not at target.
    B: a visit at target on 01-01 (the first day)  -> 1 visit, standard, at target.
    C: a visit not at target on 01-31 (the last day) -> 1 visit, standard, not at target.
    D: enrolled on 01-31 (the last day): managed 1 day, needs ceil(4/365) = 1, has none -> not standard.
    E: enrolled on 02-01, after the period -> not under management.
    So 4 under management, 2 visits, 2 standard (0.5), 1 at target (0.25), 0.5 visits per patient.
    """
    a, _ = patient(client, doctor, clinic, "2025-12-01", name="甲")
    b, _ = patient(client, doctor, clinic, "2025-12-01", name="乙")
    c, _ = patient(client, doctor, clinic, "2025-12-01", name="丙")
    patient(client, doctor, clinic, "2026-01-31", name="丁")
    patient(client, doctor, clinic, "2026-02-01", name="戊")
    visit(client, doctor, a, "2025-12-31", **AT_TARGET)
    visit(client, doctor, a, "2026-02-01", **AT_TARGET)
    visit(client, doctor, b, "2026-01-01", **AT_TARGET)
    visit(client, doctor, c, "2026-01-31", visit_mode="home", **NOT_AT_TARGET)
    h = stats(client, doctor, "2026-01-01", "2026-01-31")["hypertension"]
    assert figures(h) == (4, 4, 2, 2, 1)
    assert (h["standard_management_rate"], h["control_rate"], h["visits_per_patient"]) == (0.5, 0.25, 0.5)


def test_required_visits_are_pro_rata_to_the_days_managed(client, clinic, doctor):
    """A year, 2025-03-03..2026-03-02 (365 days).

    F: managed all 365 days, needs 4, has 3                      -> not standard.
    G: enrolled 2025-09-01, managed 183 days, ceil(732/365) = 3, has 2 -> not standard.
    H: enrolled 2025-09-02, managed 182 days, ceil(728/365) = 2, has 2 -> standard.
    So 3 under management, 7 visits, 1 standard (0.3333), 2.33 visits per patient.
    """
    f, _ = patient(client, doctor, clinic, "2025-01-01", name="己")
    g, _ = patient(client, doctor, clinic, "2025-09-01", name="庚")
    h_, _ = patient(client, doctor, clinic, "2025-09-02", name="辛")
    for day in ("2025-04-01", "2025-08-01", "2025-12-01"):
        visit(client, doctor, f, day, **AT_TARGET)
    for r in (g, h_):
        visit(client, doctor, r, "2025-10-01", **AT_TARGET)
        visit(client, doctor, r, "2026-01-10", **AT_TARGET)
    h = stats(client, doctor, "2025-03-03", "2026-03-02")["hypertension"]
    assert figures(h) == (3, 3, 7, 1, 3)
    assert (h["standard_management_rate"], h["control_rate"], h["visits_per_patient"]) == (0.3333, 1.0, 2.33)


def test_patients_who_left_during_the_period(client, clinic, doctor):
    """2026-01-01..2026-03-02 (61 days).

    P (hypertension): visits at target 01-05 and not at target 02-20, moved out 02-10. Managed
      01-01..02-10 (41 days, needs 1): the 02-20 visit is outside the days managed, so 1 visit
      and standard; but the latest reached visit in the period is 02-20's, so not at target.
    Q (hypertension): moved out 2025-12-31, before the period -> not under management.
    R (hypertension): moved out on 01-01, the first day -> under management (1 day, needs 1,
      has 0: not standard), not on the register.
    S (mental disorder): stable visit 01-20, deceased 02-01 -> under management, off the register;
      32 days, needs 1, has 1: standard; stable but off the register, so not counted at target.
    T (mental disorder): active, stable visit 02-15 -> on the register, standard, at target.
    Hypertension: 2 managed, 0 on the register, 1 visit, 1 standard (0.5), 0 at target (0.0).
    Mental disorder: 2 managed, 1 on the register, 2 visits, 2 standard (1.0), 1 at target over
    the register of 1 (1.0).
    """
    p, p_enrolment = patient(client, doctor, clinic, "2025-12-01", name="壬")
    _, q_enrolment = patient(client, doctor, clinic, "2025-12-01", name="癸")
    _, r_enrolment = patient(client, doctor, clinic, "2025-12-01", name="子")
    s, s_enrolment = patient(client, doctor, clinic, "2025-12-01", program="mental_disorder", name="丑")
    t, _ = patient(client, doctor, clinic, "2025-12-01", program="mental_disorder", name="寅")
    visit(client, doctor, p, "2026-01-05", **AT_TARGET)
    visit(client, doctor, p, "2026-02-20", **NOT_AT_TARGET)
    visit(client, doctor, s, "2026-01-20", program="mental_disorder", **STABLE)
    visit(client, doctor, t, "2026-02-15", program="mental_disorder", **STABLE)
    leave(client, doctor, p_enrolment, "2026-02-10")
    leave(client, doctor, q_enrolment, "2025-12-31")
    leave(client, doctor, r_enrolment, "2026-01-01")
    leave(client, doctor, s_enrolment, "2026-02-01", status="deceased")
    out = stats(client, doctor, "2026-01-01", "2026-03-02")
    h, m = out["hypertension"], out["mental_disorder"]
    assert figures(h) == (2, 0, 1, 1, 0)
    assert (h["standard_management_rate"], h["control_rate"]) == (0.5, 0.0)
    assert figures(m) == (2, 1, 2, 2, 1)
    assert (m["standard_management_rate"], m["control_rate"]) == (1.0, 1.0)


def test_the_latest_reached_visit_decides_control(client, clinic, doctor):
    """2026-01-01..2026-03-02 (61 days, each patient needs 1 face-to-face visit).

    U: at target 01-10, not at target 02-10                  -> 2 visits, not at target.
    V: not at target 01-10, at target by phone 02-10         -> 1 face-to-face visit (phone does
       not count), at target (a phone visit still says where the patient is).
    W: at target 01-10, not reached at home 02-10            -> 1 visit, at target (an attempt
       that did not reach the patient is no visit).
    X: two visits on 02-10, at target then not at target     -> 2 visits, not at target (the
       later recorded one is the latest).
    So 4 managed, 6 visits (1.5 per patient), 4 standard, 2 at target (0.5).
    """
    u, _ = patient(client, doctor, clinic, "2025-12-01", name="卯")
    v, _ = patient(client, doctor, clinic, "2025-12-01", name="辰")
    w, _ = patient(client, doctor, clinic, "2025-12-01", name="巳")
    x, _ = patient(client, doctor, clinic, "2025-12-01", name="午")
    visit(client, doctor, u, "2026-01-10", **AT_TARGET)
    visit(client, doctor, u, "2026-02-10", **NOT_AT_TARGET)
    visit(client, doctor, v, "2026-01-10", **NOT_AT_TARGET)
    visit(client, doctor, v, "2026-02-10", visit_mode="phone", **AT_TARGET)
    visit(client, doctor, w, "2026-01-10", **AT_TARGET)
    visit(client, doctor, w, "2026-02-10", visit_mode="home", not_reached=True, not_reached_reason="外出务工")
    visit(client, doctor, x, "2026-02-10", **AT_TARGET)
    visit(client, doctor, x, "2026-02-10", **NOT_AT_TARGET)
    h = stats(client, doctor, "2026-01-01", "2026-03-02")["hypertension"]
    assert figures(h) == (4, 4, 6, 4, 2)
    assert (h["standard_management_rate"], h["control_rate"], h["visits_per_patient"]) == (1.0, 0.5, 1.5)


def test_units_with_and_without_patients(client, clinic, doctor):
    """Two patients of team A (东镇), one of team B (西镇), a team under 东村卫生室 with none.

    The empty team: every figure 0, every rate and visits per patient null (0 / 0).
    东镇 and below (team A and the empty team): 2. The whole community: 3. Team B alone: 1.
    """
    empty = Team(institution_id=clinic.village_a.id, code="team-empty", name="东村家庭医生队")
    db.session.add(empty)
    db.session.commit()
    for name in ("未", "申"):
        r, _ = patient(client, doctor, clinic, "2025-12-01", name=name)
        visit(client, doctor, r, "2026-02-01", **AT_TARGET)
    other = make_resident(clinic.thc_b, name="酉", birth=dt.date(1955, 1, 1))
    doctor_b = login(client, "doctor_b")
    assert client.post(f"/api/v1/residents/{other.id}/programs", json={"program": "hypertension",
                       "enrolled_on": "2025-12-01"}, headers=doctor_b).status_code == 201
    period = ("2026-01-01", "2026-03-02")
    admin = login(client, "admin_all")
    nothing = stats(client, admin, *period, team_id=empty.id)
    assert all(figures(p) == (0, 0, 0, 0, 0) for p in nothing.values())
    assert all(p[k] is None for p in nothing.values()
               for k in ("visits_per_patient", "standard_management_rate", "control_rate"))
    assert figures(stats(client, admin, *period, institution_id=clinic.village_a.id)["hypertension"]) == (
        0, 0, 0, 0, 0)
    assert figures(stats(client, admin, *period, institution_id=clinic.thc_a.id)["hypertension"]) == (
        2, 2, 2, 2, 2)
    everyone = stats(client, admin, *period)["hypertension"]
    assert figures(everyone) == (3, 3, 2, 2, 2)
    assert (everyone["standard_management_rate"], everyone["control_rate"]) == (0.6667, 0.6667)
    assert figures(stats(client, doctor_b, *period)["hypertension"]) == (1, 1, 0, 0, 0)


def test_a_one_day_period_and_a_reversed_one(client, clinic, doctor):
    """Period 2026-02-10..2026-02-10: one visit that day is enough (ceil(4/365) = 1); a period
    whose start is after its end is refused with 422."""
    r, _ = patient(client, doctor, clinic, "2025-12-01")
    visit(client, doctor, r, "2026-02-10", **AT_TARGET)
    assert figures(stats(client, doctor, "2026-02-10", "2026-02-10")["hypertension"]) == (1, 1, 1, 1, 1)
    resp = client.get("/api/v1/stats/followup?date_from=2026-02-11&date_to=2026-02-10", headers=doctor)
    assert resp.status_code == 422 and "date_from" in resp.get_json()["errors"]


def test_the_indicators_are_one_statement(app, clinic, doctor, client):
    """Three patients with two visits each in the period (2026-01-01..03-02, each needs 1): 6 visits,
    3 standard, 0 at target (each latest visit is not at target). However many rows there are, the
    figures for a given list of teams come from one SELECT: aggregating rows in Python must not
    come back."""
    from services.followup.indicators import followup_indicators

    for name in ("戌", "亥", "甲乙"):
        r, _ = patient(client, doctor, clinic, "2025-12-01", name=name)
        visit(client, doctor, r, "2026-01-10", **AT_TARGET)
        visit(client, doctor, r, "2026-02-10", **NOT_AT_TARGET)
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        items = followup_indicators([clinic.team_a.id], dt.date(2026, 1, 1), dt.date(2026, 3, 2))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
    h = {i.program: i for i in items}["hypertension"]
    assert (h.under_management, h.face_to_face_visits, h.standard_managed, h.at_target) == (3, 6, 3, 0)
