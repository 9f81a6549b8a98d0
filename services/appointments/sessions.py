"""Sessions (出诊时段): teams publish clinic, home-visit and round sessions, and who may book each one now.

Sessions are open to everyone, to signed residents only (an active contract
with the session's team), or to signed residents first and to everyone N
hours after publication."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, false, select
from sqlalchemy.orm import joinedload

from services.access.scope import Scope, institution_subtree, team_for_staff
from services.core import clock
from services.core.db import db, one_or_404
from services.core.errors import Conflict, NotFound, ValidationFailed
from services.core.pagination import Page, paginate
from services.core.views import ModelView
from services.models import Contract, Resident, RoundPoint, Staff, Team
from services.models.appointment import Appointment, Slot
from services.models.contract import LIVE_CONTRACT_STATUSES

MAX_SESSION_HOURS = 12


MAX_DAYS_AHEAD = 366  # sessions are published at most a year ahead


@dataclass(frozen=True)
class AppointmentSettings:
    cancel_cutoff_hours: float = 2
    signed_first_default_hours: int = 24
    max_repeat_weeks: int = 26


def managed_slots(scope: Scope) -> ColumnElement[bool]:
    """Sessions a staff member manages: a doctor their team's, an admin those of teams in scope."""
    if not scope.is_staff:
        return false()
    if scope.role == "doctor":
        return Slot.team_id == scope.team_id if scope.team_id is not None else false()
    return Slot.team_id.in_(select(Team.id).where(Team.institution_id.in_(sorted(scope.institution_ids))))


def _team_for(scope: Scope, team_id: int | None) -> Team:
    return team_for_staff(scope, team_id, own_team_only="医生只能为本团队发布出诊安排", required="请指定家庭医生团队")


def get_managed_slot(slot_id: int, scope: Scope, *, for_update: bool = False) -> Slot:
    return one_or_404(select(Slot).where(Slot.id == slot_id, managed_slots(scope)),
                      NotFound("出诊安排不存在", code="SLOT_NOT_FOUND"), for_update=for_update)


def get_slot(slot_id: int) -> Slot:
    """Sessions are public (times and places only, no resident data)."""
    return one_or_404(select(Slot).where(Slot.id == slot_id), NotFound("出诊安排不存在", code="SLOT_NOT_FOUND"))


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


@dataclass
class PublishedSessions(ModelView):
    """The first session of what was published, with every occurrence of a weekly series."""

    model: Slot
    occurrences: list[Slot]


def create_slots(data: dict, scope: Scope, settings: AppointmentSettings) -> PublishedSessions:
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
    return PublishedSessions(created[0], created)


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
            .options(joinedload(Slot.team), joinedload(Slot.staff), joinedload(Slot.round_point))
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


@dataclass
class SlotView(ModelView):
    """A session as the caller sees it: whether they may book it now, and if not, why."""

    model: Slot
    can_book: bool
    cannot_book_reason: str | None


def slot_views(slots: list[Slot], resident_id: int | None, is_staff: bool) -> list[SlotView]:
    marks = booking_marks(slots, resident_id, is_staff)
    return [SlotView(s, marks[s.id].can_book, marks[s.id].reason) for s in slots]


def slots_page(f: SlotFilters, page: int, page_size: int, resident_id: int | None, is_staff: bool) -> Page:
    return paginate(slots_query(f), page, page_size).with_items(lambda rows: slot_views(rows, resident_id, is_staff))


def slot_view(slot_id: int, resident_id: int | None, is_staff: bool) -> SlotView:
    return slot_views([get_slot(slot_id)], resident_id, is_staff)[0]
