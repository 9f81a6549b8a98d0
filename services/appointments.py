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
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, false, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, selectinload

from services import clock
from services.db import db
from services.errors import Conflict, DomainError, NotFound, ValidationFailed
from services.models import Contract, ProgramEnrolment, Resident, RoundPoint, Staff, Team
from services.models.appointment import Appointment, AppointmentEvent, Slot
from services.models.contract import LIVE_CONTRACT_STATUSES
from services.residents import get_visible_resident
from services.scope import Scope, institution_subtree, team_for_staff

MAX_SESSION_HOURS = 12
MAX_DAYS_AHEAD = 366  # sessions are published at most a year ahead


class SignedResidentsOnly(DomainError):
    status = 403
    code = "SIGNED_RESIDENTS_ONLY"
    message = "该时段仅向与本团队签约的居民开放预约"


class OutsideServiceArea(DomainError):
    status = 403
    code = "OUTSIDE_SERVICE_AREA"
    message = "该团队不服务您所在的区域，请预约您所在辖区的家庭医生团队"


@dataclass(frozen=True)
class AppointmentSettings:
    cancel_cutoff_hours: float = 2
    signed_first_default_hours: int = 24
    max_repeat_weeks: int = 26


# --- who manages which sessions ----------------------------------------------------

def managed_slots(scope: Scope) -> ColumnElement[bool]:
    """Sessions a staff member manages: a doctor their team's, an admin those of teams in scope."""
    if not scope.is_staff:
        return false()
    if scope.role == "doctor":
        return Slot.team_id == scope.team_id if scope.team_id is not None else false()
    return Slot.team_id.in_(select(Team.id).where(Team.institution_id.in_(sorted(scope.institution_ids))))


def _team_for(scope: Scope, team_id: int | None) -> Team:
    return team_for_staff(scope, team_id, own_team_only="医生只能为本团队发布出诊安排", required="请指定家庭医生团队")


def _get_managed_slot(slot_id: int, scope: Scope, *, for_update: bool = False) -> Slot:
    stmt = select(Slot).where(Slot.id == slot_id, managed_slots(scope))
    if for_update:  # a locked read must see the row as it is now, not as this session last saw it
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    slot = db.session.scalar(stmt)
    if slot is None:
        raise NotFound("出诊安排不存在", code="SLOT_NOT_FOUND")
    return slot


def get_slot(slot_id: int) -> Slot:
    """Sessions are public (times and places only, no resident data)."""
    slot = db.session.get(Slot, slot_id)
    if slot is None:
        raise NotFound("出诊安排不存在", code="SLOT_NOT_FOUND")
    return slot


# --- publishing sessions -------------------------------------------------------------

def _weekly(start: dt.datetime, weeks: int) -> dt.datetime:
    """The same local wall-clock time `weeks` weeks later (correct even across DST)."""
    local = clock.to_local(start).replace(tzinfo=None) + dt.timedelta(weeks=weeks)
    return local.replace(tzinfo=clock.zone()).astimezone(dt.timezone.utc)


def _check_round_point(data: dict, team: Team, errors: dict) -> None:
    kind, point_id = data["kind"], data.get("round_point_id")
    if kind == "round":
        if point_id is None:
            errors["round_point_id"] = ["巡诊须指定巡诊点"]
            return
        point = db.session.get(RoundPoint, point_id)
        if point is None or not point.active or point.institution_id not in institution_subtree(team.institution_id):
            errors["round_point_id"] = ["巡诊点不存在、已停用或不属于该团队所在机构"]
    elif point_id is not None:
        errors["round_point_id"] = ["仅巡诊需要指定巡诊点"]


def _check_member(staff_id: int | None, team: Team, errors: dict) -> None:
    if staff_id is None:
        return
    member = db.session.get(Staff, staff_id)
    if member is None or not member.active or member.team_id != team.id:
        errors["staff_id"] = ["该人员不是本团队的在岗成员"]


def _check_overlap(staff_id: int | None, starts: dt.datetime, ends: dt.datetime) -> None:
    """One member cannot be in two places at once; team-wide sessions may run side by side."""
    if staff_id is None:
        return
    clash = db.session.scalar(select(Slot).where(
        Slot.staff_id == staff_id, Slot.status == "open", Slot.starts_at < ends, Slot.ends_at > starts))
    if clash is not None:
        raise Conflict("该医生在此时间已有出诊安排", code="SLOT_OVERLAP",
                       extra={"slot_id": clash.id, "starts_at": clock.to_local(clash.starts_at).isoformat()})


def create_slots(data: dict, scope: Scope, settings: AppointmentSettings) -> list[Slot]:
    """Publish one session, or a weekly series (`repeat_weeks` occurrences) in one transaction."""
    team = _team_for(scope, data.get("team_id"))
    starts, ends, now = data["starts_at"], data["ends_at"], clock.now()
    errors: dict[str, list[str]] = {}
    if ends <= starts:
        errors["ends_at"] = ["结束时间须晚于开始时间"]
    elif ends - starts > dt.timedelta(hours=MAX_SESSION_HOURS):
        errors["ends_at"] = [f"单次出诊时长不能超过 {MAX_SESSION_HOURS} 小时"]
    if starts <= now:
        errors["starts_at"] = ["开始时间须晚于当前时间"]
    elif starts > now + dt.timedelta(days=MAX_DAYS_AHEAD):
        errors["starts_at"] = ["出诊安排最多提前一年发布"]
    _check_round_point(data, team, errors)
    _check_member(data.get("staff_id"), team, errors)
    audience = data.get("audience") or ("signed_only" if data["kind"] == "home_visit" else "everyone")
    hours = data.get("signed_first_hours")
    if hours is not None and audience != "signed_first":
        errors["signed_first_hours"] = ["仅“签约居民优先”的时段需要填写优先小时数"]
    repeat = data.get("repeat_weeks") or 1
    if repeat > settings.max_repeat_weeks:
        errors["repeat_weeks"] = [f"每周重复最多 {settings.max_repeat_weeks} 次"]
    if errors:
        raise ValidationFailed(errors=errors)
    if audience == "signed_first" and hours is None:
        hours = settings.signed_first_default_hours
    series_id = uuid.uuid4().hex if repeat > 1 else None
    created = []
    for week in range(repeat):
        s, e = _weekly(starts, week), _weekly(ends, week)
        _check_overlap(data.get("staff_id"), s, e)
        slot = Slot(team_id=team.id, staff_id=data.get("staff_id"), kind=data["kind"],
                    round_point_id=data.get("round_point_id"), starts_at=s, ends_at=e,
                    capacity=data["capacity"], booked=0, audience=audience,
                    open_to_all_at=(now + dt.timedelta(hours=hours)) if audience == "signed_first" else None,
                    title=data.get("title"), note=data.get("note"), status="open", series_id=series_id,
                    created_by_staff_id=scope.actor_id, created_at=now)
        db.session.add(slot)
        db.session.flush()  # the next occurrence's overlap check sees this one
        created.append(slot)
    return created


def cancel_slot(slot_id: int, reason: str, scope: Scope) -> tuple[Slot, int]:
    """Cancel a session and every booking on it, recording why (the residents are told
    by the reminders work: their bookings carry `cancelled_by = session`)."""
    slot = _get_managed_slot(slot_id, scope, for_update=True)
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
    return slot, len(bookings)


# --- availability ------------------------------------------------------------------

@dataclass
class SlotFilters:
    date_from: dt.date
    date_to: dt.date
    team_id: int | None = None
    kind: str | None = None
    round_point_id: int | None = None
    staff_id: int | None = None
    include_cancelled: bool = False
    only_available: bool = False


def slots_query(f: SlotFilters) -> Select:
    start, end = clock.day_bounds(f.date_from, f.date_to)
    stmt = (select(Slot).where(Slot.starts_at >= start, Slot.starts_at < end)
            .options(selectinload(Slot.team), selectinload(Slot.staff), selectinload(Slot.round_point))
            .order_by(Slot.starts_at, Slot.id))
    if f.team_id is not None:
        stmt = stmt.where(Slot.team_id == f.team_id)
    if f.kind:
        stmt = stmt.where(Slot.kind == f.kind)
    if f.round_point_id is not None:
        stmt = stmt.where(Slot.round_point_id == f.round_point_id)
    if f.staff_id is not None:
        stmt = stmt.where(Slot.staff_id == f.staff_id)
    if not f.include_cancelled:
        stmt = stmt.where(Slot.status == "open")
    if f.only_available:
        stmt = stmt.where(Slot.status == "open", Slot.booked < Slot.capacity, Slot.starts_at > clock.now())
    return stmt


@dataclass(frozen=True)
class BookingMark:
    can_book: bool
    reason: str | None = None  # the error code booking would give now


def _signed_team_ids(resident_id: int) -> set[int]:
    return set(db.session.scalars(select(Contract.team_id).where(
        Contract.resident_id == resident_id, Contract.status == "active")))


def _serving_team_ids(resident: Resident, team_ids: set[int]) -> set[int]:
    """Teams whose area the resident lives in (registered at the team's institution or
    below), or whom they hold a live contract with."""
    served = set(db.session.scalars(select(Contract.team_id).where(
        Contract.resident_id == resident.id, Contract.status.in_(LIVE_CONTRACT_STATUSES))))
    for team in db.session.scalars(select(Team).where(Team.id.in_(sorted(team_ids - served)))):
        if resident.institution_id in institution_subtree(team.institution_id):
            served.add(team.id)
    return served


def _mark(slot: Slot, *, now: dt.datetime, signed: bool, served: bool, already: bool) -> BookingMark:
    if slot.status != "open" or slot.starts_at <= now:
        return BookingMark(False, "SLOT_CLOSED")
    if not served:
        return BookingMark(False, "OUTSIDE_SERVICE_AREA")
    if already:
        return BookingMark(False, "ALREADY_BOOKED")
    if not signed and (slot.audience == "signed_only" or (
            slot.audience == "signed_first" and slot.open_to_all_at is not None and now < slot.open_to_all_at)):
        return BookingMark(False, "SIGNED_RESIDENTS_ONLY")
    if slot.booked >= slot.capacity:
        return BookingMark(False, "SLOT_FULL")
    return BookingMark(True)


def booking_marks(slots: list[Slot], resident_id: int | None, is_staff: bool) -> dict[int, BookingMark]:
    """Whether the caller may book each session now, and if not, the code booking would give.

    For staff the answer ignores who the resident is (open and not full); for an
    anonymous caller it is LOGIN_REQUIRED."""
    now = clock.now()
    if resident_id is None:
        if is_staff:
            return {s.id: _mark(s, now=now, signed=True, served=True, already=False) for s in slots}
        return {s.id: BookingMark(False, "LOGIN_REQUIRED") for s in slots}
    resident = db.session.get(Resident, resident_id)
    signed = _signed_team_ids(resident_id)
    served = _serving_team_ids(resident, {s.team_id for s in slots})
    mine = set(db.session.scalars(select(Appointment.slot_id).where(
        Appointment.resident_id == resident_id, Appointment.slot_id.in_([s.id for s in slots]),
        Appointment.status.in_(("booked", "checked_in")))))
    return {s.id: _mark(s, now=now, signed=s.team_id in signed, served=s.team_id in served,
                        already=s.id in mine) for s in slots}


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
                       booked_by_staff_id=scope.actor_id if scope.is_staff else None, created_at=now,
                       rescheduled_from_id=rescheduled_from.id if rescheduled_from else None)
    db.session.add(appt)
    try:
        db.session.flush()
    except IntegrityError as exc:  # the same resident booking twice at the same moment
        db.session.rollback()
        raise _MARK_ERRORS["ALREADY_BOOKED"]() from exc
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
        return _get_managed_slot(slot_id, scope)
    return get_slot(slot_id)


def book(data: dict, scope: Scope) -> Appointment:
    """A resident books for themself, or staff book for a resident in their scope."""
    resident = _resident_for(scope, data.get("resident_id"))
    slot = _slot_to_book(data["slot_id"], scope)
    enrolment_id = _enrolment_for(resident.id, data.get("enrolment_id"))
    return _book(slot, resident, scope, data.get("reason"), enrolment_id, clock.now())


# --- changes -------------------------------------------------------------------------

def appointment_visible(scope: Scope) -> ColumnElement[bool]:
    if scope.kind == "resident":
        return Appointment.resident_id == scope.resident_id
    return Appointment.slot_id.in_(select(Slot.id).where(managed_slots(scope)))


def get_visible_appointment(appointment_id: int, scope: Scope, *, for_update: bool = False) -> Appointment:
    stmt = select(Appointment).where(Appointment.id == appointment_id, appointment_visible(scope))
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    appt = db.session.scalar(stmt)
    if appt is None:
        raise NotFound("预约不存在", code="APPOINTMENT_NOT_FOUND")
    return appt


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


def cancel(appointment_id: int, reason: str | None, scope: Scope, settings: AppointmentSettings) -> Appointment:
    appt = get_visible_appointment(appointment_id, scope, for_update=True)
    now = clock.now()
    _require(appt, ("booked",), "取消")
    if scope.is_staff and not reason:
        raise ValidationFailed.field("reason", "工作人员取消预约须说明原因")
    _check_cancel_window(appt, scope, settings, now)
    _release(appt, "staff" if scope.is_staff else "resident", reason, scope, now)
    return appt


def reschedule(appointment_id: int, slot_id: int, reason: str | None, scope: Scope,
               settings: AppointmentSettings) -> Appointment:
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
    return _book(new_slot, resident, scope, appt.reason, appt.enrolment_id, now, rescheduled_from=appt)


def check_in(appointment_id: int, scope: Scope) -> Appointment:
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
    return appt


def mark_no_show(appointment_id: int, scope: Scope, reason: str | None = None) -> Appointment:
    appt = get_visible_appointment(appointment_id, scope, for_update=True)
    now = clock.now()
    _require(appt, ("booked",), "记为爽约")
    if now < appt.slot.starts_at:
        raise Conflict("时段尚未开始，不能记为爽约", code="SESSION_NOT_STARTED")
    _transition(appt, "no_show", scope, reason, now)
    return appt


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
class SessionView:
    slot: Slot
    appointments: list[Appointment]


def _sessions_with_bookings(stmt: Select) -> list[SessionView]:
    slots = list(db.session.scalars(stmt))
    by_slot: dict[int, list[Appointment]] = {s.id: [] for s in slots}
    if slots:
        rows = db.session.scalars(
            select(Appointment).where(Appointment.slot_id.in_(list(by_slot)))
            .options(selectinload(Appointment.resident)).order_by(Appointment.created_at, Appointment.id))
        for appt in rows:
            by_slot[appt.slot_id].append(appt)
    return [SessionView(s, by_slot[s.id]) for s in slots]


def team_day(team_id: int, day: dt.date, scope: Scope) -> tuple[Team, list[SessionView]]:
    """A team's day: its sessions in time order, each with its bookings (cancelled ones too)."""
    team = db.session.get(Team, team_id)
    allowed = team is not None and (
        (scope.role == "doctor" and scope.team_id == team_id)
        or (scope.role == "admin" and team.institution_id in scope.institution_ids))
    if not allowed:
        raise NotFound("家庭医生团队不存在", code="TEAM_NOT_FOUND")
    f = SlotFilters(date_from=day, date_to=day, team_id=team_id, include_cancelled=True)
    return team, _sessions_with_bookings(slots_query(f))


def doctor_agenda(scope: Scope, date_from: dt.date, date_to: dt.date) -> list[SessionView]:
    """A doctor's own agenda: sessions assigned to them, and their team's team-wide sessions."""
    if scope.role != "doctor" or scope.team_id is None:
        raise ValidationFailed.field("role", "仅团队成员有个人日程")
    f = SlotFilters(date_from=date_from, date_to=date_to, include_cancelled=False)
    stmt = slots_query(f).where(
        (Slot.staff_id == scope.actor_id) | ((Slot.team_id == scope.team_id) & Slot.staff_id.is_(None)))
    return _sessions_with_bookings(stmt)


def history(appointment_id: int) -> list[AppointmentEvent]:
    return list(db.session.scalars(select(AppointmentEvent).where(
        AppointmentEvent.appointment_id == appointment_id).order_by(AppointmentEvent.at, AppointmentEvent.id)))


def upcoming_for_resident(resident_id: int, limit: int = 5) -> list[Appointment]:
    return list(db.session.scalars(
        select(Appointment).join(Slot, Appointment.slot_id == Slot.id)
        .options(contains_eager(Appointment.slot))
        .where(Appointment.resident_id == resident_id, Appointment.status.in_(("booked", "checked_in")),
               Slot.ends_at > clock.now())
        .order_by(Slot.starts_at).limit(limit)))
