"""The county's picture on a small hand-built data set: every figure of
/stats/overview, /stats/monthly and /stats/workload, each stated with why.

The world (tests/factories.py): 东镇卫生院 (thc_a, with 东村卫生室 below it)
has team_a (doctor_a, nurse_a); 西镇卫生院 (thc_b) has team_b (doctor_b).
The requests are made on 2026-03-02 (Beijing); the period is January and
February 2026, so coverage is judged on 2026-02-28.

Residents (registered 2025-12-01 unless said):
    R1 thc_a   born 1950-04-01 (elderly) tags hypertension      team_a active 2026-01-01..2026-12-31
    R2 village born 1958-03-01 (67: elderly)                   team_a expired 2025-02-01..2026-01-31,
                                                               renewed: active 2026-02-01..2027-01-31
    R3 thc_a   born 2021-06-01 (child) poverty_alleviation      team_a expired 2025-02-11..2026-02-10, and a
                                                               renewal only applied for (pending)
    R4 thc_a   born 1980-05-05 poverty_alleviation              team_a 2026-01-05..2027-01-04, terminated 02-15
    R5 thc_a   born 1990-07-07                                 team_b active 2026-01-01..2026-12-31
    R6 thc_a   born 1961-02-28 (65 exactly on 02-28: elderly)   an application to team_a, pending
    R7 thc_a   registered 2026-03-01                           team_a active 2026-03-01..2027-02-28
    R9 thc_b   born 1950-01-01 (elderly)                       team_b active 2026-01-01..2026-12-31
"""
from __future__ import annotations

import datetime as dt

import pytest

from services.core import clock
from services.core.db import db
from services.models import (
    Appointment,
    Contract,
    ContractEntitlement,
    ContractEvent,
    Evaluation,
    OutboxMessage,
    ServiceDelivery,
    Slot,
)
from tests.factories import login, make_resident, make_world, resident_headers

Z = clock.zone()
PERIOD = {"date_from": "2026-01-01", "date_to": "2026-02-28"}


def local(y, m, d, hh=10, mm=0):
    return dt.datetime(y, m, d, hh, mm, tzinfo=Z)


def _contract(resident, team, status, starts, ends, **extra):
    c = Contract(resident_id=resident.id, team_id=team.id, status=status, starts_on=starts, ends_on=ends, **extra)
    db.session.add(c)
    db.session.flush()
    return c


def _event(contract, from_status, to_status, at, actor=None, actor_type="staff"):
    db.session.add(ContractEvent(contract_id=contract.id, from_status=from_status, to_status=to_status, at=at,
                                 actor_type=actor_type if actor or actor_type != "staff" else "system",
                                 actor_id=actor.id if actor else None))


def _deliver(contract, entitlement, on, staff):
    db.session.add(ServiceDelivery(contract_id=contract.id, entitlement_id=entitlement.id,
                                   item_code=entitlement.item_code, delivered_on=on, staff_id=staff.id,
                                   place="clinic", recorded_by_id=staff.id))
    entitlement.used += 1


def _message(resident, status, sent_at, n=[0]):  # noqa: B006 - a counter for unique keys
    n[0] += 1
    db.session.add(OutboxMessage(dedupe_key=f"t:{n[0]}", kind="followup_due", resident_id=resident.id,
                                 recipient="+8613800000000", template_code="t", text="【测试】提醒",
                                 status=status, sent_at=sent_at))


@pytest.fixture
def county(app, client):
    with clock.freeze(local(2025, 12, 1)):
        w = make_world()
        r1 = make_resident(w.thc_a, name="甲", birth=dt.date(1950, 4, 1), tags=("hypertension",))
        r2 = make_resident(w.village_a, name="乙", birth=dt.date(1958, 3, 1))
        r3 = make_resident(w.thc_a, name="丙", birth=dt.date(2021, 6, 1), tags=("poverty_alleviation",))
        r4 = make_resident(w.thc_a, name="丁", birth=dt.date(1980, 5, 5), tags=("poverty_alleviation",))
        r5 = make_resident(w.thc_a, name="戊", birth=dt.date(1990, 7, 7))
        r6 = make_resident(w.thc_a, name="己", birth=dt.date(1961, 2, 28))
        r9 = make_resident(w.thc_b, name="壬", birth=dt.date(1950, 1, 1))
    with clock.freeze(local(2026, 3, 1)):
        r7 = make_resident(w.thc_a, name="庚", birth=dt.date(1970, 1, 1))
    a, b = w.team_a, w.team_b
    c1 = _contract(r1, a, "active", dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    c2a = _contract(r2, a, "expired", dt.date(2025, 2, 1), dt.date(2026, 1, 31))
    c2b = _contract(r2, a, "active", dt.date(2026, 2, 1), dt.date(2027, 1, 31), renewed_from_id=c2a.id)
    c3 = _contract(r3, a, "expired", dt.date(2025, 2, 11), dt.date(2026, 2, 10))
    _contract(r3, a, "pending", dt.date(2026, 2, 11), None, renewed_from_id=c3.id)
    c4 = _contract(r4, a, "terminated", dt.date(2026, 1, 5), dt.date(2027, 1, 4), terminated_on=dt.date(2026, 2, 15))
    c5 = _contract(r5, b, "active", dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    _contract(r6, a, "pending", None, None)
    c7 = _contract(r7, a, "active", dt.date(2026, 3, 1), dt.date(2027, 2, 28))
    c9 = _contract(r9, b, "active", dt.date(2026, 1, 1), dt.date(2026, 12, 31))

    # Signings (workload): who made each contract signed, and when.
    _event(c1, None, "active", local(2026, 1, 1, 9), w.doctor_a)
    _event(c2a, None, "active", local(2025, 2, 1, 9), w.doctor_a)
    _event(c2b, None, "scheduled", local(2026, 1, 20, 9), w.nurse_a)       # a renewal paid ahead: signed now
    _event(c2b, "scheduled", "active", local(2026, 2, 1, 0, 5), actor_type="system")  # starts by itself: not again
    _event(c4, None, "pending", local(2026, 1, 4, 9), actor_type="resident")
    _event(c4, "pending", "active", local(2026, 1, 5, 9), w.doctor_a)      # accepted, nothing to pay
    _event(c7, None, "active", local(2026, 3, 1, 9), w.doctor_a)           # after the period
    _event(c5, None, "active", local(2026, 1, 1, 9), w.doctor_b)
    _event(c9, None, "active", local(2026, 2, 1, 9), w.doctor_b)

    # Entitlements: bp x4 on each of team_a's five contracts in force in the period, home visit x2 on R1's.
    ents = {}
    for c in (c1, c2a, c2b, c3, c4, c7, c5, c9):
        ents[c.id] = ContractEntitlement(contract_id=c.id, item_code="bp_check", name="血压测量", package_codes=["basic"],
                                         promised=4, used=0, unit_value_fen=100)
        db.session.add(ents[c.id])
    home = ContractEntitlement(contract_id=c1.id, item_code="home_visit", name="上门随访", package_codes=["elderly"],
                               promised=2, used=0, unit_value_fen=500)
    db.session.add(home)
    db.session.flush()
    _deliver(c1, ents[c1.id], dt.date(2026, 1, 10), w.doctor_a)
    _deliver(c1, ents[c1.id], dt.date(2026, 2, 20), w.nurse_a)
    _deliver(c1, home, dt.date(2026, 3, 1), w.doctor_a)                  # after date_to
    for day in (dt.date(2025, 5, 1), dt.date(2025, 8, 1), dt.date(2025, 11, 1)):
        _deliver(c2a, ents[c2a.id], day, w.doctor_a)                      # before the period, same contract
    _deliver(c4, ents[c4.id], dt.date(2026, 1, 20), w.doctor_a)
    _deliver(c9, ents[c9.id], dt.date(2026, 2, 2), w.doctor_b)

    # Reminders: sent (handed to the provider) in the period, and what became of them.
    _message(r1, "delivered", local(2026, 1, 15))
    _message(r2, "failed", local(2026, 2, 1))
    _message(r3, "sent", local(2026, 2, 28, 23, 30))                     # the last half hour of the period
    _message(r1, "delivered", local(2026, 3, 1, 0, 10))                  # just after it
    _message(r4, "planned", None)                                        # never sent
    _message(r9, "delivered", local(2026, 2, 10))

    # Satisfaction.
    db.session.add_all([
        Evaluation(contract_id=c1.id, resident_id=r1.id, team_id=a.id, month="2026-01", score=5,
                   created_at=local(2026, 1, 20)),
        Evaluation(contract_id=c2b.id, resident_id=r2.id, team_id=a.id, month="2026-02", score=4,
                   created_at=local(2026, 2, 28, 22)),
        Evaluation(contract_id=c1.id, resident_id=r1.id, team_id=a.id, month="2026-03", score=3,
                   created_at=local(2026, 3, 1, 8)),
        Evaluation(contract_id=c9.id, resident_id=r9.id, team_id=b.id, month="2026-02", score=1,
                   created_at=local(2026, 2, 5)),
    ])

    # Appointments: a session of doctor_a on 02-10 (one attended, one no-show, one cancelled), one on 03-01.
    feb = Slot(team_id=a.id, staff_id=w.doctor_a.id, kind="clinic", starts_at=local(2026, 2, 10, 9),
               ends_at=local(2026, 2, 10, 11), capacity=5, booked=2, audience="everyone")
    mar = Slot(team_id=a.id, staff_id=w.doctor_a.id, kind="clinic", starts_at=local(2026, 3, 1, 9),
               ends_at=local(2026, 3, 1, 11), capacity=5, booked=1, audience="everyone")
    db.session.add_all([feb, mar])
    db.session.flush()
    db.session.add_all([
        Appointment(slot_id=feb.id, resident_id=r1.id, status="checked_in", booked_by="resident"),
        Appointment(slot_id=feb.id, resident_id=r2.id, status="no_show", booked_by="resident"),
        Appointment(slot_id=feb.id, resident_id=r3.id, status="cancelled", booked_by="resident"),
        Appointment(slot_id=mar.id, resident_id=r1.id, status="checked_in", booked_by="resident"),
    ])
    db.session.commit()

    # Follow-up, recorded through the API on 2026-03-02 by doctor_a and nurse_a.
    with clock.freeze(local(2026, 3, 2)):
        doc, nurse = login(client, "doctor_a"), login(client, "nurse_a")
        for resident, program in ((r1, "hypertension"), (r2, "diabetes")):
            resp = client.post(f"/api/v1/residents/{resident.id}/programs",
                               json={"program": program, "enrolled_on": "2025-06-01"}, headers=doc)
            assert resp.status_code == 201, resp.get_json()
        for headers, body in (
                (doc, {"resident_id": r1.id, "program": "hypertension", "visit_date": "2026-02-01",
                       "visit_mode": "clinic", "sbp": 130, "dbp": 80}),
                (doc, {"resident_id": r1.id, "program": "hypertension", "visit_date": "2026-02-10",
                       "visit_mode": "phone", "sbp": 128, "dbp": 78}),
                (nurse, {"resident_id": r2.id, "program": "diabetes", "visit_date": "2026-02-15",
                         "visit_mode": "home", "not_reached": True, "not_reached_reason": "外出务工"})):
            resp = client.post("/api/v1/followups", json=body, headers=headers)
            assert resp.status_code == 201, resp.get_json()
    return w


@pytest.fixture
def on_march_2(county):
    with clock.freeze(local(2026, 3, 2)):
        yield county


def get(client, path, headers, **query):
    resp = client.get(path, query_string=query, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def f(n, d, rate):
    return {"numerator": n, "denominator": d, "rate": rate}


def tags(body):
    return {t["tag"]: (t["numerator"], t["denominator"], t["rate"]) for t in body["coverage_by_tag"]}


def test_overview_of_an_institution(client, on_march_2):
    body = get(client, "/api/v1/stats/overview", login(client, "admin_a"), **PERIOD)
    assert body["unit"] == {"kind": "institution", "id": on_march_2.thc_a.id, "name": "东镇卫生院"}
    assert body["coverage_on"] == "2026-02-28"
    # Population R1-R6 (R7 registered after 02-28, R9 elsewhere). In force on 02-28 with team_a: R1 and R2's
    # renewal; R3's ended 02-10, R4's was terminated 02-15, R5 signed with team_b (not thc_a's), R6 only applied.
    assert body["coverage"] == f(2, 6, 0.3333)
    t = tags(body)
    assert t["elderly"] == (2, 3, 0.6667)        # R1, R2, R6 (65 on the day itself); R1 and R2 signed
    assert t["child"] == (0, 1, 0.0)             # R3
    assert t["hypertension"] == (1, 1, 1.0)      # R1 (recorded tag)
    assert t["poverty_alleviation"] == (0, 2, 0.0)  # R3, R4
    assert t["disabled"] == (0, 0, None)
    # Ending in the period: R2's first (renewed, the renewal in force) and R3's (only an application): 1 of 2.
    assert body["renewal"] == f(1, 2, 0.5)
    # In force on a day of the period: R1's, R2's two, R3's, R4's (terminated 02-15): promised 5 x 4 + 2 = 22;
    # delivered up to 02-28 under them: R1 2 (the home visit of 03-01 is later), R2's first 3 (in 2025), R4 1.
    assert body["fulfilment"] == f(6, 22, 0.2727)
    # Sent in the period to thc_a's residents: R1 (delivered), R2 (failed), R3 (23:30 on 02-28, no receipt yet).
    assert body["reminder_delivery"] == f(1, 3, 0.3333)
    # Ratings in the period to team_a: 5 and 4 (22:00 on 02-28); the 3 of 03-01 is later.
    assert body["satisfaction"] == f(9, 2, 4.5)
    programs = {p["program"]: p for p in body["programs"]}
    # R1: one clinic visit (59 days need ceil(4 x 59 / 365) = 1), latest reached visit (phone, 02-10) at target.
    assert programs["hypertension"]["under_management"] == 1
    assert programs["hypertension"]["standard_management"] == f(1, 1, 1.0)
    assert programs["hypertension"]["control"] == f(1, 1, 1.0)
    # R2: only a not-reached visit: not standard, not at target.
    assert programs["diabetes"]["standard_management"] == f(0, 1, 0.0)
    assert programs["diabetes"]["control"] == f(0, 1, 0.0)
    assert programs["mental_disorder"]["control"] == f(0, 0, None)


def test_overview_programmes_are_the_figures_of_stats_followup(client, on_march_2):
    headers = login(client, "admin_a")
    body = get(client, "/api/v1/stats/overview", headers, **PERIOD)
    followup = get(client, "/api/v1/stats/followup", headers, **PERIOD)
    for mine, theirs in zip(body["programs"], followup["programs"], strict=True):
        assert mine["program"] == theirs["program"]
        assert mine["under_management"] == theirs["under_management"]
        assert mine["standard_management"]["rate"] == theirs["standard_management_rate"]
        assert mine["control"]["rate"] == theirs["control_rate"]
        assert mine["control"]["numerator"] == theirs["at_target"]


def test_overview_of_the_community_and_of_a_team(client, on_march_2):
    body = get(client, "/api/v1/stats/overview", login(client, "admin_all"), **PERIOD)
    assert body["unit"]["kind"] == "community"
    # Population R1-R6 and R9; signed: R1, R2, R5 (team_b is the community's), R9.
    assert body["coverage"] == f(4, 7, 0.5714)
    assert tags(body)["elderly"] == (3, 4, 0.75)  # R1, R2, R6, R9
    assert body["reminder_delivery"] == f(2, 4, 0.5)
    assert body["satisfaction"] == f(10, 3, 3.33)
    # team_a's residents for reminders are those it looked after (R1-R4): the same three messages as thc_a.
    team = get(client, "/api/v1/stats/overview", login(client, "admin_all"), team_id=on_march_2.team_a.id, **PERIOD)
    assert team["unit"] == {"kind": "team", "id": on_march_2.team_a.id, "name": "东镇家庭医生一队"}
    assert team["coverage"] == f(2, 6, 0.3333)
    assert team["reminder_delivery"] == f(1, 3, 0.3333)
    # team_b's population is thc_b's (R9); R5 signed with it but is registered at thc_a.
    team_b = get(client, "/api/v1/stats/overview", login(client, "admin_all"), team_id=on_march_2.team_b.id,
                 **PERIOD)
    assert team_b["coverage"] == f(1, 1, 1.0)
    assert team_b["satisfaction"] == f(1, 1, 1.0)


def test_coverage_is_judged_today_when_the_period_runs_on(client, on_march_2):
    body = get(client, "/api/v1/stats/overview", login(client, "admin_a"), date_from="2026-01-01",
               date_to="2026-12-31")
    assert body["coverage_on"] == "2026-03-02"
    assert body["coverage"] == f(3, 7, 0.4286)   # R7 registered and signed by now


def test_monthly_series(client, on_march_2):
    body = get(client, "/api/v1/stats/monthly", login(client, "admin_a"), months=3,
               metric="coverage,renewal,satisfaction,coverage.elderly")
    assert body["metrics"] == ["coverage", "renewal", "satisfaction", "coverage.elderly"]
    months = body["months"]
    assert [(m["month"], m["date_from"], m["date_to"]) for m in months] == [
        ("2026-01", "2026-01-01", "2026-01-31"), ("2026-02", "2026-02-01", "2026-02-28"),
        ("2026-03", "2026-03-01", "2026-03-02")]
    # 01-31: R1, R2's first (its last day), R3's, R4's (terminated later) in force, of R1-R6.
    assert [m["figures"]["coverage"] for m in months] == [f(4, 6, 0.6667), f(2, 6, 0.3333), f(3, 7, 0.4286)]
    # R6 turns 65 on 1961-02-28 + 65 years: not elderly on 01-31, elderly from 02-28.
    assert [m["figures"]["coverage.elderly"] for m in months] == [f(2, 2, 1.0), f(2, 3, 0.6667), f(2, 3, 0.6667)]
    assert [m["figures"]["renewal"] for m in months] == [f(1, 1, 1.0), f(0, 1, 0.0), f(0, 0, None)]
    assert [m["figures"]["satisfaction"] for m in months] == [f(5, 1, 5.0), f(4, 1, 4.0), f(3, 1, 3.0)]


def test_monthly_defaults_and_limits(client, on_march_2):
    headers = login(client, "admin_a")
    body = get(client, "/api/v1/stats/monthly", headers)
    assert len(body["months"]) == 12 and body["months"][-1]["month"] == "2026-03"
    assert body["months"][0]["month"] == "2025-04"
    assert "control.hypertension" in body["months"][-1]["figures"]
    feb = body["months"][-2]["figures"]
    assert feb["fulfilment"] == get(client, "/api/v1/stats/overview", headers, date_from="2026-02-01",
                                    date_to="2026-02-28")["fulfilment"]
    for query, field in (({"months": 37}, "months"), ({"months": 0}, "months"), ({"metric": "coverage,nope"}, "metric")):
        resp = client.get("/api/v1/stats/monthly", query_string=query, headers=headers)
        assert resp.status_code == 422, resp.get_json()
        assert field in resp.get_json()["errors"]


def test_workload(client, on_march_2):
    w = on_march_2
    body = get(client, "/api/v1/stats/workload", login(client, "admin_all"), **PERIOD)
    teams = {t["team_id"]: t for t in body["teams"]}
    a = teams[w.team_a.id]
    # Signed in the period: R1's (doctor_a on site) and R4's (accepted by doctor_a) new; R2's renewal paid
    # ahead by nurse_a on 01-20 (its start on 02-01 by itself is not a second signing); R7's is on 03-01.
    assert (a["signed_new"], a["signed_renewed"], a["signed_total"]) == (2, 1, 3)
    assert (a["face_to_face_followups"], a["phone_followups"], a["not_reached_visits"]) == (1, 1, 1)
    assert a["services_delivered"] == 3          # 01-10, 02-20, 01-20 (03-01 and 2025 outside)
    assert a["appointments_attended"] == 1       # the 02-10 session: one checked in
    assert a["satisfaction"] == f(9, 2, 4.5)
    b = teams[w.team_b.id]
    assert (b["signed_new"], b["services_delivered"], b["satisfaction"]) == (2, 1, f(1, 1, 1.0))
    staff = {s["staff_id"]: s for s in body["staff"]}
    doc, nurse = staff[w.doctor_a.id], staff[w.nurse_a.id]
    assert (doc["signed_new"], doc["signed_renewed"], doc["face_to_face_followups"], doc["phone_followups"],
            doc["services_delivered"], doc["appointments_attended"]) == (2, 0, 1, 1, 2, 1)
    assert (nurse["signed_renewed"], nurse["not_reached_visits"], nurse["services_delivered"],
            nurse["appointments_attended"]) == (1, 1, 1, 0)
    assert doc["team_name"] == "东镇家庭医生一队" and doc["satisfaction"] == f(9, 2, 4.5)
    assert staff[w.doctor_b.id]["signed_new"] == 2


def test_workload_sorts(client, on_march_2):
    headers = login(client, "admin_all")
    body = get(client, "/api/v1/stats/workload", headers, sort="services_delivered", order="desc", **PERIOD)
    assert [t["services_delivered"] for t in body["teams"]] == [3, 1]
    assert [s["services_delivered"] for s in body["staff"]][:3] == [2, 1, 1]
    body = get(client, "/api/v1/stats/workload", headers, sort="satisfaction", order="asc", **PERIOD)
    assert [t["satisfaction"]["rate"] for t in body["teams"]] == [1.0, 4.5]
    resp = client.get("/api/v1/stats/workload", query_string={"sort": "salary"}, headers=headers)
    assert resp.status_code == 422 and "sort" in resp.get_json()["errors"]


def test_scope(client, on_march_2):
    w = on_march_2
    admin_a, doctor_a = login(client, "admin_a"), login(client, "doctor_a")
    # An institution admin: their own institution, never another's or another's team.
    for query, code in (({"institution_id": w.thc_b.id}, "INSTITUTION_NOT_FOUND"),
                        ({"team_id": w.team_b.id}, "TEAM_NOT_FOUND")):
        for path in ("/api/v1/stats/overview", "/api/v1/stats/monthly", "/api/v1/stats/workload"):
            resp = client.get(path, query_string=query, headers=admin_a)
            assert resp.status_code == 404 and resp.get_json()["code"] == code, (path, query)
    workload = get(client, "/api/v1/stats/workload", admin_a, **PERIOD)
    assert [t["team_id"] for t in workload["teams"]] == [w.team_a.id]
    assert w.doctor_b.id not in {s["staff_id"] for s in workload["staff"]}
    # A team member: their own team, whatever they ask; another team is 404.
    body = get(client, "/api/v1/stats/overview", doctor_a, **PERIOD)
    assert body["unit"]["kind"] == "team" and body["unit"]["id"] == w.team_a.id
    workload = get(client, "/api/v1/stats/workload", doctor_a, **PERIOD)
    assert [t["team_id"] for t in workload["teams"]] == [w.team_a.id]
    assert {s["team_id"] for s in workload["staff"]} == {w.team_a.id}
    for query in ({"team_id": w.team_b.id}, {"institution_id": w.thc_a.id}):
        resp = client.get("/api/v1/stats/overview", query_string=query, headers=doctor_a)
        assert resp.status_code == 404, query
    # Residents may not look.
    resp = client.get("/api/v1/stats/overview", headers=resident_headers(1))
    assert resp.status_code == 403


def test_bad_period_is_a_clear_422(client, on_march_2):
    resp = client.get("/api/v1/stats/overview", query_string={"date_from": "2026-03-01", "date_to": "2026-01-01"},
                      headers=login(client, "admin_a"))
    assert resp.status_code == 422
    assert resp.get_json()["errors"] == {"date_from": ["开始日期不能晚于结束日期"]}


def _sheet_rows(resp, title):
    import io

    from openpyxl import load_workbook

    assert resp.status_code == 200, resp.get_json(silent=True)
    assert resp.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(resp.data))
    sheet = book[title]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header_at = next(i for i, r in enumerate(rows) if r[0] in ("指标", "团队", "姓名"))
    assert sheet.freeze_panes == f"A{header_at + 2}"
    return rows[header_at], rows[header_at + 1:]


def test_overview_xlsx_holds_what_the_json_shows(client, on_march_2):
    headers = login(client, "admin_a")
    body = get(client, "/api/v1/stats/overview", headers, **PERIOD)
    header, rows = _sheet_rows(client.get("/api/v1/stats/overview.xlsx", query_string=PERIOD, headers=headers),
                               "指标总览")
    assert header == ["指标", "分子", "分母", "比率", "平均分"]
    by_name = {r[0]: r for r in rows}
    assert by_name["签约率"][1:4] == [2, 6, 0.3333]
    assert by_name["签约率：65岁及以上老年人"][1:4] == [2, 3, 0.6667]
    assert by_name["续约率"][1:4] == [1, 2, 0.5] and by_name["履约率"][1:4] == [6, 22, 0.2727]
    assert by_name["高血压：规范管理率"][1:4] == [1, 1, 1]
    assert by_name["满意度（平均分）"][1:] == [9, 2, None, 4.5]
    # every figure of the JSON, in its order
    assert len(rows) == 1 + len(body["coverage_by_tag"]) + 2 + 3 * len(body["programs"]) + 2


def test_workload_xlsx_holds_what_the_json_shows(client, on_march_2):
    headers = login(client, "admin_all")
    query = {**PERIOD, "sort": "services_delivered", "order": "desc"}
    body = get(client, "/api/v1/stats/workload", headers, **query)
    resp = client.get("/api/v1/stats/workload.xlsx", query_string=query, headers=headers)
    header, teams = _sheet_rows(resp, "团队")
    assert header[:4] == ["团队", "机构", "新签约", "续约"]
    assert [r[0] for r in teams] == [t["team_name"] for t in body["teams"]]
    assert teams[0][2:12] == [2, 1, 3, 1, 1, 1, 3, 1, 4.5, 2]
    _header, staff = _sheet_rows(resp, "人员")
    assert [r[0] for r in staff] == [s["name"] for s in body["staff"]]
    resp = client.get("/api/v1/stats/workload.xlsx", query_string={"team_id": on_march_2.team_b.id},
                      headers=login(client, "admin_a"))
    assert resp.status_code == 404


# --- what the dashboard draws besides the overview ----------------------------------

def test_units_offer_what_the_caller_may_pick(client, on_march_2):
    w = on_march_2
    body = get(client, "/api/v1/stats/units", login(client, "admin_a"))
    assert body["today"] == "2026-03-02" and body["default_kind"] == "institution"
    # thc_a and the village clinic below it, parents first with their depth; thc_a's team only
    assert [(i["id"], i["depth"]) for i in body["institutions"]] == [(w.thc_a.id, 0), (w.village_a.id, 1)]
    assert body["teams"] == [{"id": w.team_a.id, "name": "东镇家庭医生一队", "institution_id": w.thc_a.id}]
    everything = get(client, "/api/v1/stats/units", login(client, "admin_all"))
    assert everything["default_kind"] == "community"
    assert [i["id"] for i in everything["institutions"]][0] == w.county.id
    assert {t["id"] for t in everything["teams"]} == {w.team_a.id, w.team_b.id}
    doctor = get(client, "/api/v1/stats/units", login(client, "doctor_b"))
    assert doctor["default_kind"] == "team" and doctor["institutions"] == []
    assert [t["id"] for t in doctor["teams"]] == [w.team_b.id]


def test_overdue_by_team_and_village(client, on_march_2):
    w = on_march_2
    # R2's diabetes (enrolled 2025-06-01, first due 2025-06-15, only a not-reached visit since) is the one
    # overdue patient: the worklist's overdue section says the same.
    worklist = get(client, "/api/v1/worklist", login(client, "doctor_a"), status="overdue")
    assert [i["resident"]["name"] for i in worklist["items"]] == ["乙"]
    body = get(client, "/api/v1/stats/overdue", login(client, "admin_all"))
    assert body["as_of"] == "2026-03-02" and body["total"] == 1
    # every team of the unit is listed, the most overdue first; a team with none shows 0
    assert [(t["team_id"], t["overdue"], t["by_program"]["diabetes"]) for t in body["by_team"]] == \
        [(w.team_a.id, 1, 1), (w.team_b.id, 0, 0)]
    # R2 has no village on record: grouped as such, under the clinic R2 is registered at
    assert body["by_village"] == [{"village": "未填写村/社区", "institution_name": "东村卫生室", "overdue": 1,
                                   "by_program": {"hypertension": 0, "diabetes": 1, "mental_disorder": 0}}]
    own = get(client, "/api/v1/stats/overdue", login(client, "doctor_b"))
    assert own["unit"]["id"] == w.team_b.id and own["total"] == 0 and own["by_village"] == []
    assert [t["team_id"] for t in own["by_team"]] == [w.team_b.id]
    assert client.get("/api/v1/stats/overdue", query_string={"team_id": w.team_a.id},
                      headers=login(client, "doctor_b")).status_code == 404


def test_reminder_breakdown_matches_the_overview(client, on_march_2):
    w = on_march_2
    from services.models import Resident

    r1 = db.session.scalar(db.select(Resident).where(Resident.name == "甲"))
    # a message to R1 the carrier could not deliver (Twilio 30003), and one that failed before being sent
    db.session.add_all([
        OutboxMessage(dedupe_key="t:30003", kind="followup_due", resident_id=r1.id, recipient="+8613800000000",
                      template_code="t", text="x", status="failed", error_code="30003", sent_at=local(2026, 2, 3)),
        OutboxMessage(dedupe_key="t:unsent", kind="followup_due", resident_id=r1.id, recipient="+8613800000000",
                      template_code="t", text="x", status="failed", error_code="21211",
                      last_attempt_at=local(2026, 2, 4)),
    ])
    db.session.commit()
    admin = login(client, "admin_a")
    body = get(client, "/api/v1/stats/reminders", admin, **PERIOD)
    overview = get(client, "/api/v1/stats/overview", admin, **PERIOD)
    # sent in the period to thc_a's residents: R1 01-15 delivered, R2 02-01 failed, R1 02-03 failed (30003),
    # R3 02-28 no receipt; the one never sent counts as failed, not as sent
    assert (body["sent"], body["delivered"], body["failed"]) == (4, 1, 3)
    assert body["delivery_rate"] == 0.25
    assert overview["reminder_delivery"] == f(1, 4, 0.25)
    assert body["failed_by_reason"] == [
        {"error_code": "21211", "label": "号码格式无效", "count": 1},
        {"error_code": "30003", "label": "无法接通（关机、停机或不在服务区）", "count": 1},
        {"error_code": "UNKNOWN", "label": "原因未知", "count": 1}]
    assert [d["date"] for d in body["days"]] == ["2026-01-15", "2026-02-01", "2026-02-03", "2026-02-04",
                                                 "2026-02-28"]
    # a team: the residents it looked after; another team's doctor may not ask for it
    team = get(client, "/api/v1/stats/reminders", login(client, "doctor_a"), **PERIOD)
    assert team["unit"]["id"] == w.team_a.id and team["sent"] == 4
    assert client.get("/api/v1/stats/reminders", query_string={"team_id": w.team_a.id, **PERIOD},
                      headers=login(client, "doctor_b")).status_code == 404
    bad = client.get("/api/v1/stats/reminders", query_string={"date_from": "2026-03-01", "date_to": "2026-02-01"},
                     headers=admin)
    assert bad.status_code == 422 and "date_from" in bad.get_json()["errors"]
