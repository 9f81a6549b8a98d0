"""Booking races on PostgreSQL: 50 residents for a 5-place session give
exactly 5 bookings and 45 x 409 SLOT_FULL, never a 500 or a sixth place; one
resident tapping "book" ten times at once gets one booking; a reschedule
racing for the last place keeps its old booking when it loses."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from services.core.db import db
from services.models import Appointment, AppointmentEvent, Slot
from tests.concurrency import race
from tests.factories import login, make_resident, resident_headers


def _slot(client, capacity, day="2026-03-03"):
    resp = client.post("/api/v1/slots", headers=login(client, "doctor_a"), json={
        "kind": "clinic", "starts_at": f"{day}T08:30:00+08:00", "ends_at": f"{day}T11:30:00+08:00",
        "capacity": capacity})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_fifty_concurrent_bookings_for_five_places(app, world, frozen_clock):
    slot_id = _slot(app.test_client(), 5)
    residents = [make_resident(world.thc_a, name=f"居民{i}", birth=dt.date(1950, 1, 1) + dt.timedelta(days=i))
                 for i in range(50)]
    headers = [resident_headers(r.id) for r in residents]
    results = race(app, 50, lambda c, i: c.post("/api/v1/appointments", headers=headers[i],
                                                json={"slot_id": slot_id, "reason": "复查"}))
    codes = sorted(code for code, _ in results)
    assert codes == [201] * 5 + [409] * 45, results
    assert {body["code"] for code, body in results if code == 409} == {"SLOT_FULL"}
    winners = {body["resident"]["id"] for code, body in results if code == 201}
    assert len(winners) == 5
    assert _count(Appointment) == 5 and _count(AppointmentEvent) == 5
    assert set(db.session.scalars(select(Appointment.resident_id))) == winners
    assert db.session.get(Slot, slot_id).booked == 5


def test_one_resident_booking_ten_times_at_once_gets_one_booking(app, world, frozen_clock):
    slot_id = _slot(app.test_client(), 20)
    me = resident_headers(make_resident(world.thc_a).id)
    results = race(app, 10, lambda c, i: c.post("/api/v1/appointments", headers=me, json={"slot_id": slot_id}))
    codes = sorted(code for code, _ in results)
    assert codes == [201] + [409] * 9, results
    assert {body["code"] for code, body in results if code == 409} == {"ALREADY_BOOKED"}
    assert _count(Appointment) == 1 and db.session.get(Slot, slot_id).booked == 1


def test_reschedule_losing_the_race_keeps_the_old_booking(app, world, frozen_clock):
    client = app.test_client()
    old_slot, last_place = _slot(client, 10), _slot(client, 1, day="2026-03-05")
    movers = [make_resident(world.thc_a, birth=dt.date(1960, 1, 1) + dt.timedelta(days=i)) for i in range(8)]
    bookings = []
    for r in movers:
        resp = client.post("/api/v1/appointments", headers=resident_headers(r.id), json={"slot_id": old_slot})
        bookings.append(resp.get_json()["id"])
    headers = [resident_headers(r.id) for r in movers]
    results = race(app, 8, lambda c, i: c.post(f"/api/v1/appointments/{bookings[i]}/reschedule",
                                               headers=headers[i], json={"slot_id": last_place}))
    codes = sorted(code for code, _ in results)
    assert codes == [201] + [409] * 7, results
    assert _count(Appointment, Appointment.slot_id == last_place) == 1
    assert _count(Appointment, Appointment.slot_id == old_slot, Appointment.status == "booked") == 7
    assert db.session.get(Slot, old_slot).booked == 7 and db.session.get(Slot, last_place).booked == 1
