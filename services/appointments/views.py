"""Read views over sessions and bookings: a team's day, a doctor's agenda, a resident's summary."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import contains_eager, selectinload

from services.access.scope import Scope, visible_team
from services.appointments.sessions import SlotFilters, slots_query
from services.core import audit, clock
from services.core.audit import RequestContext
from services.core.db import db
from services.core.errors import NotFound, ValidationFailed
from services.core.views import ModelView
from services.models import Team
from services.models.appointment import Appointment, Slot
from services.residents.register import get_visible_resident


def no_show_counts(resident_ids: list[int]) -> dict[int, int]:
    if not resident_ids:
        return {}
    return dict(db.session.execute(
        select(Appointment.resident_id, func.count()).where(
            Appointment.resident_id.in_(sorted(set(resident_ids))), Appointment.status == "no_show")
        .group_by(Appointment.resident_id)).all())


def resident_summary(resident_id: int, scope: Scope) -> dict:
    """Counts of a resident's bookings by status, and how many were upcoming."""
    if scope.kind == "resident":
        if resident_id != scope.resident_id:
            raise NotFound("居民不存在", code="RESIDENT_NOT_FOUND")
    else:
        get_visible_resident(resident_id, scope)
    counts = dict(db.session.execute(
        select(Appointment.status, func.count()).where(Appointment.resident_id == resident_id)
        .group_by(Appointment.status)).all())
    upcoming = db.session.scalar(
        select(func.count()).select_from(Appointment).join(Slot, Appointment.slot_id == Slot.id)
        .where(Appointment.resident_id == resident_id, Appointment.status == "booked",
               Slot.starts_at > clock.now())) or 0
    last_no_show = db.session.scalar(
        select(func.max(Slot.starts_at)).select_from(Appointment).join(Slot, Appointment.slot_id == Slot.id)
        .where(Appointment.resident_id == resident_id, Appointment.status == "no_show"))
    return {"resident_id": resident_id, "upcoming": upcoming,
            "booked": counts.get("booked", 0), "checked_in": counts.get("checked_in", 0),
            "cancelled": counts.get("cancelled", 0), "no_show": counts.get("no_show", 0),
            "last_no_show_at": last_no_show}


@dataclass
class BookingView(ModelView):
    """A booking in a day view, with how often the resident has not come before."""

    model: Appointment
    no_show_count: int


@dataclass
class SessionView:
    slot: Slot
    appointments: list[BookingView]


@dataclass
class TeamDay:
    date: dt.date
    team: Team
    sessions: list[SessionView]


@dataclass
class Agenda:
    date_from: dt.date
    date_to: dt.date
    sessions: list[SessionView]


def _sessions_with_bookings(stmt: Select, scope: Scope, what: str, ctx: RequestContext | None) -> list[SessionView]:
    """Sessions with their bookings (cancelled ones too); staff reading them is audited as a list."""
    slots = list(db.session.scalars(stmt))
    by_slot: dict[int, list[Appointment]] = {s.id: [] for s in slots}
    if slots:
        rows = db.session.scalars(
            select(Appointment).where(Appointment.slot_id.in_(list(by_slot)))
            .options(selectinload(Appointment.resident)).order_by(Appointment.created_at, Appointment.id))
        for appt in rows:
            by_slot[appt.slot_id].append(appt)
    shown = [a for s in slots for a in by_slot[s.id]]
    audit.record_read(scope, ctx, what, listed=sorted({a.resident_id for a in shown}), detail={"count": len(shown)})
    counts = no_show_counts([a.resident_id for a in shown])
    return [SessionView(s, [BookingView(a, counts.get(a.resident_id, 0)) for a in by_slot[s.id]]) for s in slots]


def team_day(team_id: int, day: dt.date, scope: Scope, ctx: RequestContext | None = None) -> TeamDay:
    """A team's day: its sessions in time order, each with its bookings (cancelled ones too)."""
    team = visible_team(team_id, scope)
    f = SlotFilters(date_from=day, date_to=day, team_id=team_id, include_cancelled=True)
    return TeamDay(day, team, _sessions_with_bookings(slots_query(f), scope, "team_day", ctx))


def doctor_agenda(scope: Scope, date_from: dt.date, date_to: dt.date, ctx: RequestContext | None = None) -> Agenda:
    """A doctor's own agenda: sessions assigned to them, and their team's team-wide sessions."""
    if scope.role != "doctor" or scope.team_id is None:
        raise ValidationFailed.field("role", "仅团队成员有个人日程")
    f = SlotFilters(date_from=date_from, date_to=date_to, include_cancelled=False)
    stmt = slots_query(f).where(
        (Slot.staff_id == scope.actor_id) | ((Slot.team_id == scope.team_id) & Slot.staff_id.is_(None)))
    return Agenda(date_from, date_to, _sessions_with_bookings(stmt, scope, "agenda", ctx))


def upcoming_for_resident(resident_id: int, limit: int = 5) -> list[Appointment]:
    return list(db.session.scalars(
        select(Appointment).join(Slot, Appointment.slot_id == Slot.id)
        .options(contains_eager(Appointment.slot))
        .where(Appointment.resident_id == resident_id, Appointment.status.in_(("booked", "checked_in")),
               Slot.ends_at > clock.now())
        .order_by(Slot.starts_at).limit(limit)))
