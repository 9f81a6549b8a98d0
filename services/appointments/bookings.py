"""Appointments (预约): teams publish sessions, residents book places on them.

Capacity is never exceeded: a booking takes its place with one conditional
UPDATE (`booked < capacity`) on the session row, which PostgreSQL serialises
per row and re-checks after waiting, and the database refuses
`booked > capacity` besides. One live booking per resident per session is a
partial unique index. Signed residents (an active contract with the
session's team) get priority, as national policy promises: sessions are open
to everyone, to signed residents only, or to signed residents first and to
everyone N hours after publication.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, select, update
from sqlalchemy.orm import contains_eager, selectinload

from services.access.scope import Scope
from services.appointments.sessions import (
    AppointmentSettings,
    BookingMark,
    booking_marks,
    get_managed_slot,
    get_slot,
    managed_slots,
)
from services.core import audit, clock
from services.core.db import db, flush_or_conflict, one_or_404
from services.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from services.core.pagination import Page, paginate
from services.core.views import ModelView
from services.models import ProgramEnrolment, Resident
from services.models.appointment import Appointment, AppointmentEvent, Slot
from services.residents.register import get_visible_resident


class SignedResidentsOnly(DomainError):
    status = 403
    code = "SIGNED_RESIDENTS_ONLY"
    message = "该时段仅向与本团队签约的居民开放预约"


class OutsideServiceArea(DomainError):
    status = 403
    code = "OUTSIDE_SERVICE_AREA"
    message = "该团队不服务您所在的区域，请预约您所在辖区的家庭医生团队"


# --- publishing sessions -------------------------------------------------------------


def cancel_slot(slot_id: int, reason: str, scope: Scope) -> CancelledSession:
    """Cancel a session and every booking on it, recording why (the residents are told
    by the reminders work: their bookings carry `cancelled_by = session`)."""
    slot = get_managed_slot(slot_id, scope, for_update=True)
    now = clock.now()
    if slot.status == "cancelled":
        raise Conflict("该出诊安排已取消", code="SLOT_ALREADY_CANCELLED")
    if slot.ends_at <= now:
        raise Conflict("该出诊安排已结束，不能取消", code="SLOT_CLOSED")
    slot.status, slot.cancel_reason, slot.cancelled_at = "cancelled", reason, now
    slot.cancelled_by_staff_id = scope.actor_id
    bookings = db.session.scalars(select(Appointment).where(
        Appointment.slot_id == slot.id, Appointment.status == "booked")
        .with_for_update().execution_options(populate_existing=True)).all()
    for appt in bookings:
        _transition(appt, "cancelled", scope, f"出诊安排取消：{reason}", now)
        appt.cancelled_at, appt.cancelled_by, appt.cancel_reason = now, "session", reason
    slot.booked -= len(bookings)
    return CancelledSession(slot, len(bookings))


# --- booking -------------------------------------------------------------------------

_MARK_ERRORS = {
    "SLOT_CLOSED": lambda: Conflict("该时段已开始、已结束或已取消，不能预约", code="SLOT_CLOSED"),
    "OUTSIDE_SERVICE_AREA": OutsideServiceArea,
    "ALREADY_BOOKED": lambda: Conflict("您已预约该时段", code="ALREADY_BOOKED"),
    "SIGNED_RESIDENTS_ONLY": SignedResidentsOnly,
    "SLOT_FULL": lambda: Conflict("该时段已约满", code="SLOT_FULL"),
}


def _raise_for(mark: BookingMark, slot: Slot) -> None:
    if mark.can_book:
        return
    error = _MARK_ERRORS[mark.reason]()
    if mark.reason == "SIGNED_RESIDENTS_ONLY" and slot.audience == "signed_first" and slot.open_to_all_at:
        error.message = f"该时段签约居民优先，{clock.to_local(slot.open_to_all_at):%m月%d日 %H:%M} 起向其他居民开放"
        error.extra = {"open_to_all_at": clock.to_local(slot.open_to_all_at).isoformat()}
    raise error


def _event(appt: Appointment, from_status: str | None, to_status: str, scope: Scope | None,
           reason: str | None, at: dt.datetime) -> None:
    db.session.add(AppointmentEvent(
        appointment_id=appt.id, at=at, from_status=from_status, to_status=to_status,
        actor_type=scope.kind if scope else "system", actor_id=scope.actor_id if scope else None,
        reason=reason))


def _transition(appt: Appointment, to_status: str, scope: Scope | None, reason: str | None,
                at: dt.datetime) -> None:
    _event(appt, appt.status, to_status, scope, reason, at)
    appt.status = to_status


def _take_place(slot: Slot, now: dt.datetime) -> None:
    """Take one place with a conditional UPDATE; the row lock makes concurrent takers queue
    and re-check, so exactly `capacity` of them succeed."""
    result = db.session.execute(
        update(Slot).where(Slot.id == slot.id, Slot.status == "open", Slot.starts_at > now,
                           Slot.booked < Slot.capacity)
        .values(booked=Slot.booked + 1).execution_options(synchronize_session=False))
    fresh = db.session.scalar(select(Slot).where(Slot.id == slot.id).execution_options(populate_existing=True))
    if result.rowcount != 1:
        if fresh.status != "open" or fresh.starts_at <= now:
            raise _MARK_ERRORS["SLOT_CLOSED"]()
        raise _MARK_ERRORS["SLOT_FULL"]()


def _enrolment_for(resident_id: int, enrolment_id: int | None) -> int | None:
    if enrolment_id is None:
        return None
    found = db.session.scalar(select(ProgramEnrolment.id).where(
        ProgramEnrolment.id == enrolment_id, ProgramEnrolment.resident_id == resident_id,
        ProgramEnrolment.status == "active"))
    if found is None:
        raise ValidationFailed.field("enrolment_id", "该居民没有这项正在管理中的慢病随访")
    return found


def _book(slot: Slot, resident: Resident, scope: Scope, reason: str | None, enrolment_id: int | None,
          now: dt.datetime, rescheduled_from: Appointment | None = None) -> Appointment:
    marks = booking_marks([slot], resident.id, is_staff=False)
    _raise_for(marks[slot.id], slot)
    _take_place(slot, now)
    appt = Appointment(slot_id=slot.id, resident_id=resident.id, status="booked", reason=reason,
                       enrolment_id=enrolment_id, booked_by=scope.kind,
                       booked_by_staff_id=scope.actor_id if scope.is_staff else None,
                       proxy_resident_id=scope.proxy_id, created_at=now,
                       rescheduled_from_id=rescheduled_from.id if rescheduled_from else None)
    db.session.add(appt)
    flush_or_conflict(_MARK_ERRORS["ALREADY_BOOKED"]())  # the same resident booking twice at the same moment
    _event(appt, None, "booked", scope, "改约" if rescheduled_from else reason, now)
    return appt


def _resident_for(scope: Scope, resident_id: int | None) -> Resident:
    if scope.is_staff:
        if resident_id is None:
            raise ValidationFailed.field("resident_id", "工作人员代为预约须指定居民")
        return get_visible_resident(resident_id, scope)
    if resident_id not in (None, scope.resident_id):
        raise NotFound("居民不存在", code="RESIDENT_NOT_FOUND")
    return db.session.get(Resident, scope.resident_id)


def _slot_to_book(slot_id: int, scope: Scope) -> Slot:
    if scope.is_staff:
        return get_managed_slot(slot_id, scope)
    return get_slot(slot_id)


def book(data: dict, scope: Scope) -> AppointmentDetail:
    """A resident books for themself, or staff book for a resident in their scope."""
    resident = _resident_for(scope, data.get("resident_id"))
    slot = _slot_to_book(data["slot_id"], scope)
    enrolment_id = _enrolment_for(resident.id, data.get("enrolment_id"))
    return appointment_detail(_book(slot, resident, scope, data.get("reason"), enrolment_id, clock.now()))


# --- changes -------------------------------------------------------------------------

def appointment_visible(scope: Scope) -> ColumnElement[bool]:
    if scope.kind == "resident":
        return Appointment.resident_id == scope.resident_id
    return Appointment.slot_id.in_(select(Slot.id).where(managed_slots(scope)))


def get_visible_appointment(appointment_id: int, scope: Scope, *, for_update: bool = False) -> Appointment:
    return one_or_404(select(Appointment).where(Appointment.id == appointment_id, appointment_visible(scope)),
                      NotFound("预约不存在", code="APPOINTMENT_NOT_FOUND"), for_update=for_update)


_STATUS_WORDS = {"booked": "已预约", "cancelled": "已取消", "checked_in": "已签到", "no_show": "已记为爽约"}


def _require(appt: Appointment, allowed: tuple[str, ...], action: str) -> None:
    if appt.status not in allowed:
        raise Conflict(f"该预约{_STATUS_WORDS[appt.status]}，不能{action}", code="INVALID_APPOINTMENT_STATUS",
                       extra={"status": appt.status})


def _check_cancel_window(appt: Appointment, scope: Scope, settings: AppointmentSettings,
                         now: dt.datetime) -> None:
    """Residents may cancel until a cutoff before the start; staff always may."""
    if scope.is_staff:
        return
    deadline = appt.slot.starts_at - dt.timedelta(hours=settings.cancel_cutoff_hours)
    if now > deadline:
        hours = f"{settings.cancel_cutoff_hours:g}"
        raise Conflict(f"距开始不足 {hours} 小时，已不能在线取消，请联系家庭医生团队",
                       code="CANCEL_WINDOW_CLOSED",
                       extra={"cutoff_hours": settings.cancel_cutoff_hours,
                              "deadline": clock.to_local(deadline).isoformat()})


def _release(appt: Appointment, by: str, reason: str | None, scope: Scope, now: dt.datetime) -> None:
    _transition(appt, "cancelled", scope, reason, now)
    appt.cancelled_at, appt.cancelled_by, appt.cancel_reason = now, by, reason
    db.session.execute(update(Slot).where(Slot.id == appt.slot_id, Slot.booked > 0)
                       .values(booked=Slot.booked - 1).execution_options(synchronize_session=False))


def cancel(appointment_id: int, reason: str | None, scope: Scope, settings: AppointmentSettings) -> AppointmentDetail:
    appt = get_visible_appointment(appointment_id, scope, for_update=True)
    now = clock.now()
    _require(appt, ("booked",), "取消")
    if scope.is_staff and not reason:
        raise ValidationFailed.field("reason", "工作人员取消预约须说明原因")
    _check_cancel_window(appt, scope, settings, now)
    _release(appt, "staff" if scope.is_staff else "resident", reason, scope, now)
    return appointment_detail(appt)


def reschedule(appointment_id: int, slot_id: int, reason: str | None, scope: Scope,
               settings: AppointmentSettings) -> AppointmentDetail:
    """Cancel and book in one transaction: if the new place cannot be had, the old one stays."""
    appt = get_visible_appointment(appointment_id, scope, for_update=True)
    now = clock.now()
    _require(appt, ("booked",), "改约")
    if slot_id == appt.slot_id:
        raise ValidationFailed.field("slot_id", "新时段与原预约相同")
    _check_cancel_window(appt, scope, settings, now)
    new_slot = _slot_to_book(slot_id, scope)
    resident = db.session.get(Resident, appt.resident_id)
    _release(appt, "reschedule", reason or "改约", scope, now)
    return appointment_detail(_book(new_slot, resident, scope, appt.reason, appt.enrolment_id, now,
                                    rescheduled_from=appt))


def check_in(appointment_id: int, scope: Scope) -> AppointmentDetail:
    """Staff check a resident in on the session's day. A booking the nightly job marked
    as no-show can still be checked in (a doctor on rounds may sync late)."""
    appt = get_visible_appointment(appointment_id, scope, for_update=True)
    now = clock.now()
    _require(appt, ("booked", "no_show"), "签到")
    if appt.slot.status != "open":
        raise Conflict("该出诊安排已取消", code="SLOT_CLOSED")
    if clock.today() < clock.to_local(appt.slot.starts_at).date():
        raise Conflict("签到须在就诊当天进行", code="CHECK_IN_NOT_OPEN")
    _transition(appt, "checked_in", scope, None, now)
    appt.checked_in_at = now
    return appointment_detail(appt)


def mark_no_show(appointment_id: int, scope: Scope, reason: str | None = None) -> AppointmentDetail:
    appt = get_visible_appointment(appointment_id, scope, for_update=True)
    now = clock.now()
    _require(appt, ("booked",), "记为爽约")
    if now < appt.slot.starts_at:
        raise Conflict("时段尚未开始，不能记为爽约", code="SESSION_NOT_STARTED")
    _transition(appt, "no_show", scope, reason, now)
    return appointment_detail(appt)


def mark_no_shows(at: dt.datetime | None = None) -> int:
    """Daily job: bookings never checked in after their session ended become no-shows.
    Idempotent: only `booked` rows move, so a second run changes nothing."""
    at = at or clock.now()
    rows = db.session.scalars(
        select(Appointment).join(Slot, Appointment.slot_id == Slot.id)
        .where(Appointment.status == "booked", Slot.status == "open", Slot.ends_at <= at)
        .order_by(Appointment.id).with_for_update(of=Appointment, skip_locked=True)).all()
    for appt in rows:
        _transition(appt, "no_show", None, "时段结束仍未签到", at)
    return len(rows)


# --- views ---------------------------------------------------------------------------

@dataclass
class AppointmentFilters:
    when: str | None = None  # upcoming | past
    status: str | None = None
    resident_id: int | None = None
    team_id: int | None = None
    slot_id: int | None = None
    staff_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def appointments_query(scope: Scope, f: AppointmentFilters) -> Select:
    """Upcoming soonest first; past (and everything else) newest first."""
    now = clock.now()
    stmt = (select(Appointment).join(Slot, Appointment.slot_id == Slot.id)
            .options(contains_eager(Appointment.slot), selectinload(Appointment.resident))
            .where(appointment_visible(scope)))
    if f.when == "upcoming":
        stmt = stmt.where(Slot.ends_at > now, Appointment.status.in_(("booked", "checked_in")))
    elif f.when == "past":
        stmt = stmt.where(Slot.ends_at <= now)
    if f.status:
        stmt = stmt.where(Appointment.status == f.status)
    if f.resident_id is not None:
        stmt = stmt.where(Appointment.resident_id == f.resident_id)
    if f.team_id is not None:
        stmt = stmt.where(Slot.team_id == f.team_id)
    if f.slot_id is not None:
        stmt = stmt.where(Appointment.slot_id == f.slot_id)
    if f.staff_id is not None:
        stmt = stmt.where(Slot.staff_id == f.staff_id)
    if f.date_from or f.date_to:
        start, end = clock.day_bounds(f.date_from or dt.date(1900, 1, 1), f.date_to or dt.date(9998, 12, 30))
        stmt = stmt.where(Slot.starts_at >= start, Slot.starts_at < end)
    if f.when == "upcoming":
        return stmt.order_by(Slot.starts_at, Appointment.id)
    return stmt.order_by(Slot.starts_at.desc(), Appointment.id.desc())


def history(appointment_id: int) -> list[AppointmentEvent]:
    return list(db.session.scalars(select(AppointmentEvent).where(
        AppointmentEvent.appointment_id == appointment_id).order_by(AppointmentEvent.at, AppointmentEvent.id)))


@dataclass
class CancelledSession(ModelView):
    model: Slot
    cancelled_appointments: int


@dataclass
class AppointmentDetail(ModelView):
    """A booking with every change made to it, oldest first."""

    model: Appointment
    history: list[AppointmentEvent]


def appointment_detail(appt: Appointment) -> AppointmentDetail:
    return AppointmentDetail(appt, history(appt.id))


def get_appointment_detail(appointment_id: int, scope: Scope) -> AppointmentDetail:
    return appointment_detail(get_visible_appointment(appointment_id, scope))


def appointments_page(scope: Scope, f: AppointmentFilters, page: int, page_size: int,
                      ctx: audit.RequestContext | None = None) -> Page:
    result = paginate(appointments_query(scope, f), page, page_size)
    audit.record_read(scope, ctx, "appointments", listed=sorted({a.resident_id for a in result.items}),
                      detail={"count": len(result.items)})
    return result
