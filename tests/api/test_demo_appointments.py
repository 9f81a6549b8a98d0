"""The issue's "done means" on the demo data: a demo resident lists a team's
sessions, books, sees the booking, cancels before the cutoff and not after."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from services.core import clock
from services.core.db import db
from services.demo import seed as demo
from services.demo.appointments import seed_demo_sessions
from services.models import Resident, RoundPoint, Slot, Team
from tests.factories import resident_headers


def test_demo_sessions_are_created_once(app, frozen_clock):
    demo.seed_demo(app.extensions["pii_cipher"])
    first = seed_demo_sessions()
    db.session.commit()
    assert first > 0 and seed_demo_sessions() == 0
    kinds = set(db.session.scalars(select(Slot.kind)))
    assert kinds == {"clinic", "round", "home_visit"}
    # Every round point gets its weekly round, and residents of its village are assigned to it.
    points = db.session.scalars(select(RoundPoint)).all()
    assert {s.round_point_id for s in db.session.scalars(select(Slot).where(Slot.kind == "round"))} == {
        p.id for p in points}
    assert db.session.scalar(select(func.count()).select_from(Resident).where(
        Resident.round_point_id.is_not(None))) > 0
    # No doctor is booked into two places at once.
    mine = sorted((s.staff_id, s.starts_at, s.ends_at) for s in db.session.scalars(
        select(Slot).where(Slot.staff_id.is_not(None))))
    for (a_staff, _, a_end), (b_staff, b_start, _) in zip(mine, mine[1:], strict=False):
        assert a_staff != b_staff or a_end <= b_start


def test_demo_resident_books_and_cancels(app, client, frozen_clock):
    demo.seed_demo(app.extensions["pii_cipher"])
    seed_demo_sessions()
    db.session.commit()
    team = db.session.scalar(select(Team).where(Team.code == "demo-team-1"))
    resident = db.session.scalar(select(Resident).where(Resident.institution_id == team.institution_id)
                                 .order_by(Resident.id))
    me = resident_headers(resident.id)
    listed = client.get("/api/v1/slots", query_string={"team_id": team.id, "kind": "clinic"}, headers=me).get_json()
    bookable = [s for s in listed["items"] if s["can_book"]]
    assert bookable, listed
    slot = bookable[0]
    assert slot["starts_at"].endswith("+08:00") and slot["remaining"] == slot["capacity"]
    resp = client.post("/api/v1/appointments", json={"slot_id": slot["id"], "reason": "体检咨询"}, headers=me)
    assert resp.status_code == 201, resp.get_json()
    appt = resp.get_json()
    mine = client.get("/api/v1/appointments", headers=me).get_json()["items"]
    assert [a["id"] for a in mine] == [appt["id"]] and mine[0]["status"] == "booked"
    ok = client.post(f"/api/v1/appointments/{appt['id']}/cancel", json={}, headers=me)
    assert ok.status_code == 200 and ok.get_json()["status"] == "cancelled"
    again = client.post("/api/v1/appointments", json={"slot_id": slot["id"]}, headers=me).get_json()
    start = dt.datetime.fromisoformat(slot["starts_at"])
    clock.advance(start - dt.timedelta(hours=1) - clock.now())
    late = client.post(f"/api/v1/appointments/{again['id']}/cancel", json={}, headers=me)
    assert late.status_code == 409 and late.get_json()["code"] == "CANCEL_WINDOW_CLOSED"
