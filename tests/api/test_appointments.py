"""Appointments over HTTP: publishing sessions (time zones, weekly series),
availability, booking rules and every error code, changes with history,
no-shows, views, and scope (a stranger gets 404)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from app.config import reconfigure
from services.appointments import bookings as appointments
from services.core import clock
from services.core.db import db
from services.models import Appointment, AppointmentEvent, RoundPoint, Slot
from tests.factories import login, make_contract, make_resident, resident_headers

UTC = dt.timezone.utc
# The frozen clock is Monday 2026-03-02 10:00 Beijing time.
TUESDAY = "2026-03-03"


@pytest.fixture
def clinic(world, frozen_clock):
    return world


def publish(client, headers, **fields):
    body = {"kind": "clinic", "starts_at": f"{TUESDAY}T08:30:00+08:00", "ends_at": f"{TUESDAY}T11:30:00+08:00",
            "capacity": 5, **fields}
    return client.post("/api/v1/slots", json=body, headers=headers)


def book(client, headers, slot_id, **fields):
    return client.post("/api/v1/appointments", json={"slot_id": slot_id, "reason": "复查血压", **fields},
                       headers=headers)


def error(resp, status, code):
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()
    assert body["code"] == code, body
    assert body["message"]
    return body


def booked_count(slot_id: int) -> int:
    db.session.expire_all()
    return db.session.get(Slot, slot_id).booked


# --- publishing ----------------------------------------------------------------------

def test_session_at_0830_beijing_is_stored_as_0030_utc_and_listed_with_offset(client, clinic):
    doctor = login(client, "doctor_a")
    resp = publish(client, doctor)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["starts_at"] == "2026-03-03T08:30:00+08:00"
    assert body["ends_at"] == "2026-03-03T11:30:00+08:00"
    assert (body["team"]["id"], body["capacity"], body["remaining"], body["audience"]) == (
        clinic.team_a.id, 5, 5, "everyone")
    slot = db.session.get(Slot, body["id"])
    assert slot.starts_at == dt.datetime(2026, 3, 3, 0, 30, tzinfo=UTC)
    raw = db.session.execute(text("SELECT starts_at FROM slots WHERE id = :id"), {"id": body["id"]}).scalar()
    if isinstance(raw, str):  # SQLite keeps the UTC wall clock as text
        assert raw.startswith("2026-03-03 00:30:00")
    else:
        assert raw.astimezone(UTC) == dt.datetime(2026, 3, 3, 0, 30, tzinfo=UTC)
    # The same instant given in UTC is the same session time.
    same = publish(client, doctor, starts_at="2026-03-10T00:30:00Z", ends_at="2026-03-10T03:30:00Z")
    assert same.get_json()["starts_at"] == "2026-03-10T08:30:00+08:00"
    listed = client.get("/api/v1/slots", query_string={"team_id": clinic.team_a.id, "date_from": TUESDAY,
                                                       "date_to": TUESDAY}).get_json()
    assert [s["starts_at"] for s in listed["items"]] == ["2026-03-03T08:30:00+08:00"]


def test_session_validation(client, clinic):
    doctor = login(client, "doctor_a")
    resp = publish(client, doctor, starts_at=f"{TUESDAY}T08:30:00")
    assert error(resp, 422, "VALIDATION_ERROR")["errors"] == {"starts_at": ["须带时区偏移，如 2026-03-10T08:30:00+08:00"]}
    resp = publish(client, doctor, ends_at=f"{TUESDAY}T08:00:00+08:00")
    assert error(resp, 422, "VALIDATION_ERROR")["errors"] == {"ends_at": ["结束时间须晚于开始时间"]}
    resp = publish(client, doctor, starts_at="2026-03-01T08:30:00+08:00", ends_at="2026-03-01T09:30:00+08:00")
    assert error(resp, 422, "VALIDATION_ERROR")["errors"] == {"starts_at": ["开始时间须晚于当前时间"]}
    resp = publish(client, doctor, kind="round")
    assert error(resp, 422, "VALIDATION_ERROR")["errors"] == {"round_point_id": ["巡诊须指定巡诊点"]}
    point = db.session.scalar(select(RoundPoint))
    resp = publish(client, doctor, round_point_id=point.id)
    assert error(resp, 422, "VALIDATION_ERROR")["errors"] == {"round_point_id": ["仅巡诊需要指定巡诊点"]}
    resp = publish(client, doctor, staff_id=clinic.doctor_b.id)
    assert error(resp, 422, "VALIDATION_ERROR")["errors"] == {"staff_id": ["该人员不是本团队的在岗成员"]}
    resp = publish(client, doctor, signed_first_hours=12)
    assert "signed_first_hours" in error(resp, 422, "VALIDATION_ERROR")["errors"]
    resp = publish(client, doctor, starts_at="9999-12-31T20:00:00-08:00", ends_at="9999-12-31T21:00:00-08:00")
    assert error(resp, 422, "VALIDATION_ERROR")["errors"] == {"starts_at": ["出诊安排最多提前一年发布"]}
    resp = publish(client, doctor, capacity=0)
    assert "capacity" in error(resp, 422, "VALIDATION_ERROR")["errors"]
    resp = publish(client, doctor, team_id=clinic.team_b.id)
    assert error(resp, 422, "VALIDATION_ERROR")["errors"] == {"team_id": ["医生只能为本团队发布出诊安排"]}
    resp = publish(client, login(client, "admin_a"), team_id=clinic.team_b.id)
    assert error(resp, 422, "VALIDATION_ERROR")["errors"] == {"team_id": ["团队不存在或不在您的管辖范围内"]}
    resp = publish(client, resident_headers(make_resident(clinic.thc_a).id))
    error(resp, 403, "FORBIDDEN")
    assert db.session.scalar(select(func.count()).select_from(Slot)) == 0


def test_home_visits_default_to_signed_residents_and_round_sessions_name_a_point(client, clinic):
    doctor = login(client, "doctor_a")
    home = publish(client, doctor, kind="home_visit", staff_id=clinic.doctor_a.id).get_json()
    assert (home["audience"], home["staff"]) == ("signed_only", {"id": clinic.doctor_a.id, "name": "李医生"})
    point = db.session.scalar(select(RoundPoint))
    rnd = publish(client, doctor, kind="round", round_point_id=point.id,
                  starts_at=f"{TUESDAY}T14:00:00+08:00", ends_at=f"{TUESDAY}T16:00:00+08:00").get_json()
    assert rnd["round_point"] == {"id": point.id, "name": "东村巡诊点", "village": "东村", "address": None}
    assert rnd["kind_label"] == "巡诊"


def test_weekly_series_is_created_in_one_transaction(client, clinic):
    doctor = login(client, "doctor_a")
    resp = publish(client, doctor, staff_id=clinic.doctor_a.id, repeat_weeks=8)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    starts = [o["starts_at"] for o in body["occurrences"]]
    assert starts == [f"2026-{d}T08:30:00+08:00" for d in (
        "03-03", "03-10", "03-17", "03-24", "03-31", "04-07", "04-14", "04-21")]
    assert len({o["series_id"] for o in body["occurrences"]}) == 1 and body["series_id"]
    # A series that clashes with the doctor's existing session in week 3 creates nothing.
    before = db.session.scalar(select(func.count()).select_from(Slot))
    clash = publish(client, doctor, staff_id=clinic.doctor_a.id, repeat_weeks=4,
                    starts_at="2026-03-03T10:00:00+08:00", ends_at="2026-03-03T12:00:00+08:00")
    err = error(clash, 409, "SLOT_OVERLAP")
    assert err["details"]["slot_id"] == body["occurrences"][0]["id"]
    assert db.session.scalar(select(func.count()).select_from(Slot)) == before == 8
    # A team-wide session at the same time is fine (the team can run two rooms).
    team_wide = publish(client, doctor)
    assert team_wide.status_code == 201 and team_wide.get_json()["staff"] is None
    assert db.session.scalar(select(func.count()).select_from(Slot)) == 9
    too_many = publish(client, doctor, repeat_weeks=27)
    assert error(too_many, 422, "VALIDATION_ERROR")["errors"] == {"repeat_weeks": ["每周重复最多 26 次"]}


# --- availability --------------------------------------------------------------------

def test_availability_is_public_and_tells_a_resident_whether_they_may_book(client, clinic):
    doctor = login(client, "doctor_a")
    open_slot = publish(client, doctor).get_json()
    signed_only = publish(client, doctor, audience="signed_only", starts_at=f"{TUESDAY}T14:00:00+08:00",
                          ends_at=f"{TUESDAY}T16:00:00+08:00").get_json()
    publish(client, doctor, kind="home_visit", starts_at="2026-03-20T09:00:00+08:00",
            ends_at="2026-03-20T10:00:00+08:00")
    anonymous = client.get("/api/v1/slots", query_string={"team_id": clinic.team_a.id})
    assert anonymous.status_code == 200
    items = anonymous.get_json()["items"]
    assert [i["id"] for i in items] == [open_slot["id"], signed_only["id"]]  # default window: 14 days
    assert {(i["can_book"], i["cannot_book_reason"]) for i in items} == {(False, "LOGIN_REQUIRED")}
    resident = make_resident(clinic.village_a)
    mine = client.get("/api/v1/slots", query_string={"team_id": clinic.team_a.id},
                      headers=resident_headers(resident.id)).get_json()["items"]
    assert [(i["can_book"], i["cannot_book_reason"]) for i in mine] == [(True, None), (False, "SIGNED_RESIDENTS_ONLY")]
    stranger = make_resident(clinic.thc_b)
    theirs = client.get("/api/v1/slots", query_string={"team_id": clinic.team_a.id},
                        headers=resident_headers(stranger.id)).get_json()["items"]
    assert {i["cannot_book_reason"] for i in theirs} == {"OUTSIDE_SERVICE_AREA"}
    wide = client.get("/api/v1/slots", query_string={"team_id": clinic.team_a.id, "date_to": "2026-03-31",
                                                     "kind": "home_visit"}).get_json()
    assert [i["kind"] for i in wide["items"]] == ["home_visit"]
    bad = client.get("/api/v1/slots", query_string={"date_from": "2026-03-10", "date_to": "2026-03-01"})
    assert error(bad, 422, "VALIDATION_ERROR")["errors"] == {"date_to": ["结束日期不能早于开始日期"]}
    bad = client.get("/api/v1/slots", query_string={"date_from": "2026-03-01", "date_to": "2026-07-01"})
    assert error(bad, 422, "VALIDATION_ERROR")["errors"] == {"date_to": ["查询范围最长 92 天"]}
    bad = client.get("/api/v1/slots", query_string={"date_from": "9999-12-31"})
    assert error(bad, 422, "VALIDATION_ERROR")["errors"] == {"date_from": ["日期须在 1900-01-01 至 2999-12-31 之间"]}


# --- booking -------------------------------------------------------------------------

def test_resident_books_sees_it_and_cannot_book_twice(client, clinic):
    slot = publish(client, login(client, "doctor_a"), capacity=2).get_json()
    resident = make_resident(clinic.village_a, name="王秀英", phone="13912345678")
    me = resident_headers(resident.id)
    resp = book(client, me, slot["id"])
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert (body["status"], body["booked_by"], body["reason"]) == ("booked", "resident", "复查血压")
    assert body["slot"]["starts_at"] == "2026-03-03T08:30:00+08:00"
    assert body["resident"] == {"id": resident.id, "name": "王*英", "phone": "139****5678", "village": None}
    assert [(h["from_status"], h["to_status"], h["actor_type"]) for h in body["history"]] == [
        (None, "booked", "resident")]
    assert booked_count(slot["id"]) == 1
    listed = client.get("/api/v1/appointments", headers=me).get_json()
    assert [a["id"] for a in listed["items"]] == [body["id"]]
    again = book(client, me, slot["id"])
    error(again, 409, "ALREADY_BOOKED")
    assert booked_count(slot["id"]) == 1
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 1
    shown = client.get(f"/api/v1/slots/{slot['id']}", headers=me).get_json()
    assert (shown["remaining"], shown["can_book"], shown["cannot_book_reason"]) == (1, False, "ALREADY_BOOKED")


def test_full_session_gives_slot_full(client, clinic):
    slot = publish(client, login(client, "doctor_a"), capacity=1).get_json()
    first, second = make_resident(clinic.thc_a), make_resident(clinic.thc_a)
    assert book(client, resident_headers(first.id), slot["id"]).status_code == 201
    body = error(book(client, resident_headers(second.id), slot["id"]), 409, "SLOT_FULL")
    assert body["message"] == "该时段已约满"
    assert booked_count(slot["id"]) == 1
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 1


def test_past_and_cancelled_sessions_are_closed(client, clinic):
    doctor = login(client, "doctor_a")
    slot = publish(client, doctor).get_json()
    cancelled = publish(client, doctor, starts_at="2026-03-04T08:30:00+08:00",
                        ends_at="2026-03-04T11:30:00+08:00").get_json()
    assert client.post(f"/api/v1/slots/{cancelled['id']}/cancel", json={"reason": "医生外出培训"},
                       headers=doctor).status_code == 200
    resident = resident_headers(make_resident(clinic.thc_a).id)
    error(book(client, resident, cancelled["id"]), 409, "SLOT_CLOSED")
    clock.advance(dt.timedelta(days=1))  # Tuesday 10:00, the session started at 08:30
    error(book(client, resident, slot["id"]), 409, "SLOT_CLOSED")
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 0


def test_signed_only_and_signed_first_sessions(client, clinic):
    doctor = login(client, "doctor_a")
    only = publish(client, doctor, audience="signed_only").get_json()
    first = publish(client, doctor, audience="signed_first", signed_first_hours=6,
                    starts_at="2026-03-05T08:30:00+08:00", ends_at="2026-03-05T11:30:00+08:00").get_json()
    assert first["open_to_all_at"] == "2026-03-02T16:00:00+08:00"
    signed, unsigned = make_resident(clinic.thc_a), make_resident(clinic.thc_a)
    make_contract(signed.id, clinic.team_a)
    # Signed with another team does not count as signed with this one.
    elsewhere = make_resident(clinic.village_a)
    make_contract(elsewhere.id, clinic.team_b)
    body = error(book(client, resident_headers(unsigned.id), only["id"]), 403, "SIGNED_RESIDENTS_ONLY")
    assert body["message"] == "该时段仅向与本团队签约的居民开放预约"
    error(book(client, resident_headers(elsewhere.id), only["id"]), 403, "SIGNED_RESIDENTS_ONLY")
    assert book(client, resident_headers(signed.id), only["id"]).status_code == 201
    early = error(book(client, resident_headers(unsigned.id), first["id"]), 403, "SIGNED_RESIDENTS_ONLY")
    assert early["details"]["open_to_all_at"] == "2026-03-02T16:00:00+08:00"
    assert "03月02日 16:00" in early["message"]
    assert book(client, resident_headers(signed.id), first["id"]).status_code == 201
    clock.advance(dt.timedelta(hours=6))
    assert book(client, resident_headers(unsigned.id), first["id"]).status_code == 201
    # Staff booking for an unsigned resident is refused the same way.
    staff = error(book(client, doctor, only["id"], resident_id=unsigned.id), 403, "SIGNED_RESIDENTS_ONLY")
    assert staff["code"] == "SIGNED_RESIDENTS_ONLY"
    assert booked_count(only["id"]) == 1 and booked_count(first["id"]) == 2


def test_resident_outside_the_area_is_refused(client, clinic):
    slot = publish(client, login(client, "doctor_a")).get_json()
    far = make_resident(clinic.thc_b)
    body = error(book(client, resident_headers(far.id), slot["id"]), 403, "OUTSIDE_SERVICE_AREA")
    assert "区域" in body["message"]
    # A resident signed with the team may book even when registered elsewhere.
    make_contract(far.id, clinic.team_a)
    assert book(client, resident_headers(far.id), slot["id"]).status_code == 201


def test_staff_book_for_residents_in_scope_only(client, clinic):
    doctor = login(client, "doctor_a")
    slot = publish(client, doctor).get_json()
    mine, theirs = make_resident(clinic.village_a), make_resident(clinic.thc_b)
    resp = book(client, doctor, slot["id"], resident_id=mine.id)
    assert resp.status_code == 201 and resp.get_json()["booked_by"] == "staff"
    assert db.session.scalar(select(Appointment.booked_by_staff_id)) == clinic.doctor_a.id
    error(book(client, doctor, slot["id"], resident_id=theirs.id), 404, "RESIDENT_NOT_FOUND")
    body = error(book(client, doctor, slot["id"]), 422, "VALIDATION_ERROR")
    assert body["errors"] == {"resident_id": ["工作人员代为预约须指定居民"]}
    # Another team's doctor cannot book onto this team's session.
    other = login(client, "doctor_b")
    error(book(client, other, slot["id"], resident_id=theirs.id), 404, "SLOT_NOT_FOUND")
    error(book(client, doctor, 999999, resident_id=mine.id), 404, "SLOT_NOT_FOUND")
    # A resident cannot book for someone else.
    error(book(client, resident_headers(mine.id), slot["id"], resident_id=theirs.id), 404, "RESIDENT_NOT_FOUND")


def test_booking_may_name_the_due_follow_up(client, clinic):
    doctor = login(client, "doctor_a")
    slot = publish(client, doctor).get_json()
    resident = make_resident(clinic.thc_a, birth=dt.date(1955, 1, 1))
    enrolment = client.post(f"/api/v1/residents/{resident.id}/programs", json={"program": "hypertension"},
                            headers=doctor).get_json()
    other = make_resident(clinic.thc_a, birth=dt.date(1956, 1, 1))
    body = error(book(client, resident_headers(other.id), slot["id"], enrolment_id=enrolment["id"]),
                 422, "VALIDATION_ERROR")
    assert body["errors"] == {"enrolment_id": ["该居民没有这项正在管理中的慢病随访"]}
    resp = book(client, resident_headers(resident.id), slot["id"], enrolment_id=enrolment["id"])
    assert resp.status_code == 201 and resp.get_json()["enrolment_id"] == enrolment["id"]


# --- changes -------------------------------------------------------------------------

def test_resident_cancels_before_the_cutoff_but_not_after(client, clinic):
    doctor = login(client, "doctor_a")
    slot = publish(client, doctor).get_json()
    resident = make_resident(clinic.thc_a)
    me = resident_headers(resident.id)
    first = book(client, me, slot["id"]).get_json()
    resp = client.post(f"/api/v1/appointments/{first['id']}/cancel", json={"reason": "临时有事"}, headers=me)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["status"], body["cancelled_by"], body["cancel_reason"]) == ("cancelled", "resident", "临时有事")
    assert [(h["from_status"], h["to_status"]) for h in body["history"]] == [(None, "booked"), ("booked", "cancelled")]
    assert booked_count(slot["id"]) == 0
    again = client.post(f"/api/v1/appointments/{first['id']}/cancel", json={}, headers=me)
    assert error(again, 409, "INVALID_APPOINTMENT_STATUS")["details"]["status"] == "cancelled"
    second = book(client, me, slot["id"]).get_json()  # a cancelled booking does not block a new one
    clock.advance(dt.timedelta(hours=21))  # Tuesday 07:00, 1.5 hours before the start
    late = client.post(f"/api/v1/appointments/{second['id']}/cancel", json={}, headers=me)
    body = error(late, 409, "CANCEL_WINDOW_CLOSED")
    assert (body["details"]["cutoff_hours"], body["details"]["deadline"]) == (2, "2026-03-03T06:30:00+08:00")
    assert db.session.get(Appointment, second["id"]).status == "booked" and booked_count(slot["id"]) == 1
    # Staff can always cancel, with a reason.
    no_reason = client.post(f"/api/v1/appointments/{second['id']}/cancel", json={}, headers=doctor)
    assert error(no_reason, 422, "VALIDATION_ERROR")["errors"] == {"reason": ["工作人员取消预约须说明原因"]}
    by_staff = client.post(f"/api/v1/appointments/{second['id']}/cancel", json={"reason": "医生临时出诊"},
                           headers=doctor).get_json()
    assert (by_staff["status"], by_staff["cancelled_by"]) == ("cancelled", "staff")
    assert by_staff["history"][-1]["actor_type"] == "staff"
    assert booked_count(slot["id"]) == 0


def test_cancel_cutoff_is_configurable(app, client, clinic):
    reconfigure(app, APPOINTMENT_CANCEL_CUTOFF_HOURS=24)
    slot = publish(client, login(client, "doctor_a")).get_json()
    me = resident_headers(make_resident(clinic.thc_a).id)
    appt = book(client, me, slot["id"]).get_json()
    body = error(client.post(f"/api/v1/appointments/{appt['id']}/cancel", json={}, headers=me),
                 409, "CANCEL_WINDOW_CLOSED")
    assert body["details"]["deadline"] == "2026-03-02T08:30:00+08:00"


def test_reschedule_moves_the_booking_or_keeps_the_old_one(client, clinic):
    doctor = login(client, "doctor_a")
    old = publish(client, doctor).get_json()
    new = publish(client, doctor, starts_at="2026-03-05T08:30:00+08:00", ends_at="2026-03-05T11:30:00+08:00").get_json()
    full = publish(client, doctor, capacity=1, starts_at="2026-03-06T08:30:00+08:00",
                   ends_at="2026-03-06T11:30:00+08:00").get_json()
    me = resident_headers(make_resident(clinic.thc_a).id)
    book(client, resident_headers(make_resident(clinic.thc_a).id), full["id"])
    appt = book(client, me, old["id"]).get_json()
    refused = client.post(f"/api/v1/appointments/{appt['id']}/reschedule", json={"slot_id": full["id"]}, headers=me)
    error(refused, 409, "SLOT_FULL")
    assert db.session.get(Appointment, appt["id"]).status == "booked"
    assert (booked_count(old["id"]), booked_count(full["id"])) == (1, 1)
    resp = client.post(f"/api/v1/appointments/{appt['id']}/reschedule", json={"slot_id": new["id"]}, headers=me)
    assert resp.status_code == 201, resp.get_json()
    moved = resp.get_json()
    assert (moved["slot"]["id"], moved["status"], moved["rescheduled_from_id"], moved["reason"]) == (
        new["id"], "booked", appt["id"], "复查血压")
    previous = db.session.get(Appointment, appt["id"])
    assert (previous.status, previous.cancelled_by) == ("cancelled", "reschedule")
    assert (booked_count(old["id"]), booked_count(new["id"])) == (0, 1)
    same = client.post(f"/api/v1/appointments/{moved['id']}/reschedule", json={"slot_id": new["id"]}, headers=me)
    assert error(same, 422, "VALIDATION_ERROR")["errors"] == {"slot_id": ["新时段与原预约相同"]}


def test_check_in_and_no_show(client, clinic):
    doctor = login(client, "doctor_a")
    slot = publish(client, doctor).get_json()
    a = book(client, resident_headers(make_resident(clinic.thc_a).id), slot["id"]).get_json()
    b = book(client, resident_headers(make_resident(clinic.thc_a).id), slot["id"]).get_json()
    error(client.post(f"/api/v1/appointments/{a['id']}/check_in", headers=doctor), 409, "CHECK_IN_NOT_OPEN")
    error(client.post(f"/api/v1/appointments/{b['id']}/no_show", json={}, headers=doctor), 409, "SESSION_NOT_STARTED")
    resident_try = client.post(f"/api/v1/appointments/{a['id']}/check_in", headers=resident_headers(a["resident"]["id"]))
    error(resident_try, 403, "FORBIDDEN")
    clock.advance(dt.timedelta(hours=22, minutes=45))  # Tuesday 08:45
    checked = client.post(f"/api/v1/appointments/{a['id']}/check_in", headers=doctor).get_json()
    assert (checked["status"], checked["checked_in_at"]) == ("checked_in", "2026-03-03T08:45:00+08:00")
    missed = client.post(f"/api/v1/appointments/{b['id']}/no_show", json={"reason": "电话未接"}, headers=doctor)
    assert missed.get_json()["status"] == "no_show"
    assert missed.get_json()["history"][-1] == {"at": "2026-03-03T08:45:00+08:00", "from_status": "booked",
                                                "to_status": "no_show", "actor_type": "staff",
                                                "actor_id": clinic.doctor_a.id, "reason": "电话未接"}
    error(client.post(f"/api/v1/appointments/{a['id']}/no_show", json={}, headers=doctor),
          409, "INVALID_APPOINTMENT_STATUS")
    # A doctor syncing late can still check in a resident marked as no-show.
    late = client.post(f"/api/v1/appointments/{b['id']}/check_in", headers=doctor).get_json()
    assert late["status"] == "checked_in"
    assert booked_count(slot["id"]) == 2


def test_daily_no_show_job_is_idempotent(client, clinic):
    doctor = login(client, "doctor_a")
    slot = publish(client, doctor).get_json()
    later = publish(client, doctor, starts_at="2026-03-03T14:00:00+08:00", ends_at="2026-03-03T17:00:00+08:00").get_json()
    came = book(client, resident_headers(make_resident(clinic.thc_a).id), slot["id"]).get_json()
    stayed_home = book(client, resident_headers(make_resident(clinic.thc_a).id), slot["id"]).get_json()
    afternoon = book(client, resident_headers(make_resident(clinic.thc_a).id), later["id"]).get_json()
    clock.advance(dt.timedelta(hours=23))  # Tuesday 09:00
    client.post(f"/api/v1/appointments/{came['id']}/check_in", headers=doctor)
    clock.advance(dt.timedelta(hours=3))  # 12:00: the morning ended, the afternoon has not
    assert appointments.mark_no_shows() == 1
    db.session.commit()
    assert appointments.mark_no_shows() == 0
    db.session.commit()
    statuses = dict(db.session.execute(select(Appointment.id, Appointment.status)).all())
    assert statuses == {came["id"]: "checked_in", stayed_home["id"]: "no_show", afternoon["id"]: "booked"}
    event = db.session.scalar(select(AppointmentEvent).where(
        AppointmentEvent.appointment_id == stayed_home["id"], AppointmentEvent.to_status == "no_show"))
    assert (event.actor_type, event.actor_id, event.reason) == ("system", None, "时段结束仍未签到")
    summary = client.get(f"/api/v1/residents/{stayed_home['resident']['id']}/appointment-summary",
                         headers=doctor).get_json()
    assert (summary["no_show"], summary["last_no_show_at"]) == (1, "2026-03-03T08:30:00+08:00")


def test_cancelling_a_session_cancels_its_bookings_with_the_reason(client, clinic):
    doctor = login(client, "doctor_a")
    slot = publish(client, doctor).get_json()
    appts = [book(client, resident_headers(make_resident(clinic.thc_a).id), slot["id"]).get_json() for _ in range(3)]
    client.post(f"/api/v1/appointments/{appts[0]['id']}/cancel", json={}, headers=resident_headers(
        appts[0]["resident"]["id"]))
    resp = client.post(f"/api/v1/slots/{slot['id']}/cancel", json={"reason": "医生参加县里培训"}, headers=doctor)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["status"], body["cancel_reason"], body["cancelled_appointments"], body["remaining"]) == (
        "cancelled", "医生参加县里培训", 2, 0)
    rows = {a.id: a for a in db.session.scalars(select(Appointment))}
    assert rows[appts[0]["id"]].cancelled_by == "resident"
    for a in appts[1:]:
        assert (rows[a["id"]].status, rows[a["id"]].cancelled_by, rows[a["id"]].cancel_reason) == (
            "cancelled", "session", "医生参加县里培训")
    assert booked_count(slot["id"]) == 0
    error(client.post(f"/api/v1/slots/{slot['id']}/cancel", json={"reason": "x"}, headers=doctor),
          409, "SLOT_ALREADY_CANCELLED")
    error(client.post(f"/api/v1/slots/{slot['id']}/cancel", json={"reason": "x"}, headers=login(client, "doctor_b")),
          404, "SLOT_NOT_FOUND")
    error(client.post(f"/api/v1/slots/{slot['id']}/cancel", json={}, headers=doctor), 422, "VALIDATION_ERROR")


# --- views and scope -----------------------------------------------------------------

def test_resident_upcoming_and_past(client, clinic):
    doctor = login(client, "doctor_a")
    tue = publish(client, doctor).get_json()
    fri = publish(client, doctor, starts_at="2026-03-06T08:30:00+08:00", ends_at="2026-03-06T11:30:00+08:00").get_json()
    resident = make_resident(clinic.thc_a)
    me = resident_headers(resident.id)
    a_tue, a_fri = book(client, me, tue["id"]).get_json(), book(client, me, fri["id"]).get_json()
    upcoming = client.get("/api/v1/appointments", query_string={"when": "upcoming"}, headers=me).get_json()
    assert [a["id"] for a in upcoming["items"]] == [a_tue["id"], a_fri["id"]]
    me_view = client.get("/api/v1/me", headers=me).get_json()
    kinds = [(u["kind"], u.get("appointment_id")) for u in me_view["upcoming"] if u["kind"] == "appointment"]
    assert kinds == [("appointment", a_tue["id"]), ("appointment", a_fri["id"])]
    clock.advance(dt.timedelta(days=2))
    past = client.get("/api/v1/appointments", query_string={"when": "past"}, headers=me).get_json()
    upcoming = client.get("/api/v1/appointments", query_string={"when": "upcoming"}, headers=me).get_json()
    assert [a["id"] for a in past["items"]] == [a_tue["id"]]
    assert [a["id"] for a in upcoming["items"]] == [a_fri["id"]]


def test_team_day_view_and_doctor_agenda(client, clinic):
    doctor = login(client, "doctor_a")
    afternoon = publish(client, doctor, starts_at=f"{TUESDAY}T14:00:00+08:00", ends_at=f"{TUESDAY}T16:00:00+08:00",
                        staff_id=clinic.nurse_a.id).get_json()
    morning = publish(client, doctor, staff_id=clinic.doctor_a.id).get_json()
    team_wide = publish(client, doctor, starts_at=f"{TUESDAY}T09:00:00+08:00",
                        ends_at=f"{TUESDAY}T10:00:00+08:00").get_json()
    resident = make_resident(clinic.thc_a)
    appt = book(client, resident_headers(resident.id), morning["id"]).get_json()
    db.session.add(Appointment(slot_id=afternoon["id"], resident_id=resident.id, status="no_show", booked_by="staff"))
    db.session.commit()
    day = client.get(f"/api/v1/teams/{clinic.team_a.id}/day", query_string={"date": TUESDAY}, headers=doctor)
    assert day.status_code == 200, day.get_json()
    body = day.get_json()
    assert [s["slot"]["id"] for s in body["sessions"]] == [morning["id"], team_wide["id"], afternoon["id"]]
    first = body["sessions"][0]["appointments"]
    assert [(a["id"], a["no_show_count"]) for a in first] == [(appt["id"], 1)]
    agenda = client.get("/api/v1/agenda", query_string={"date_from": TUESDAY}, headers=doctor).get_json()
    assert [s["slot"]["id"] for s in agenda["sessions"]] == [morning["id"], team_wide["id"]]
    nurse = client.get("/api/v1/agenda", query_string={"date_from": TUESDAY}, headers=login(client, "nurse_a"))
    assert [s["slot"]["id"] for s in nurse.get_json()["sessions"]] == [team_wide["id"], afternoon["id"]]
    error(client.get(f"/api/v1/teams/{clinic.team_a.id}/day", headers=login(client, "doctor_b")), 404, "TEAM_NOT_FOUND")
    by_admin = client.get(f"/api/v1/teams/{clinic.team_a.id}/day", query_string={"date": TUESDAY},
                          headers=login(client, "admin_a"))
    assert by_admin.status_code == 200
    assert [s["slot"]["id"] for s in by_admin.get_json()["sessions"]] == [morning["id"], team_wide["id"], afternoon["id"]]


def test_a_stranger_gets_404(client, clinic):
    doctor = login(client, "doctor_a")
    slot = publish(client, doctor).get_json()
    resident = make_resident(clinic.thc_a)
    appt = book(client, resident_headers(resident.id), slot["id"]).get_json()
    other_doctor, other_resident = login(client, "doctor_b"), resident_headers(make_resident(clinic.thc_a).id)
    for headers in (other_doctor, other_resident):
        error(client.get(f"/api/v1/appointments/{appt['id']}", headers=headers), 404, "APPOINTMENT_NOT_FOUND")
        error(client.post(f"/api/v1/appointments/{appt['id']}/cancel", json={"reason": "x"}, headers=headers),
              404, "APPOINTMENT_NOT_FOUND")
        assert client.get("/api/v1/appointments", headers=headers).get_json()["items"] == []
    error(client.post(f"/api/v1/appointments/{appt['id']}/check_in", headers=other_doctor), 404, "APPOINTMENT_NOT_FOUND")
    error(client.get(f"/api/v1/residents/{resident.id}/appointment-summary", headers=other_resident),
          404, "RESIDENT_NOT_FOUND")
    error(client.get(f"/api/v1/residents/{resident.id}/appointment-summary", headers=other_doctor),
          404, "RESIDENT_NOT_FOUND")
    assert db.session.get(Appointment, appt["id"]).status == "booked"
    for headers in (doctor, login(client, "admin_a")):
        seen = client.get(f"/api/v1/appointments/{appt['id']}", headers=headers)
        assert seen.status_code == 200 and (seen.get_json()["id"], seen.get_json()["status"]) == (appt["id"], "booked")


def test_staff_appointment_lists_are_audited(client, clinic):
    from services.models import AuditLog

    doctor = login(client, "doctor_a")
    slot = publish(client, doctor).get_json()
    resident = make_resident(clinic.thc_a)
    book(client, resident_headers(resident.id), slot["id"])
    client.get("/api/v1/appointments", headers=doctor)
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "search").order_by(AuditLog.id.desc()))
    assert row.detail["resident_ids"] == [resident.id] and row.detail["list"] == "appointments"


def test_idempotent_booking_returns_the_first_response(client, clinic):
    slot = publish(client, login(client, "doctor_a")).get_json()
    me = {**resident_headers(make_resident(clinic.thc_a).id), "Idempotency-Key": "book-1"}
    first = book(client, me, slot["id"])
    second = book(client, me, slot["id"])
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.get_json()["id"] == first.get_json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert booked_count(slot["id"]) == 1
