"""Round points (巡诊点): admin maintenance and the public list with upcoming round sessions.

A round point belongs to an institution; admins manage those in their scope.
Retiring a point hides it (sessions and residents keep referring to it); a
point with upcoming open round sessions cannot be retired until they are
cancelled or moved.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, select

from services.access.scope import Scope
from services.core import clock
from services.core.db import db
from services.core.errors import Conflict, NotFound, ValidationFailed
from services.core.pagination import Page, paginate
from services.core.views import ModelView
from services.models import Institution, RoundPoint
from services.models.appointment import Slot


def round_points_query(institution_id: int | None = None, village: str | None = None,
                       include_retired: bool = False) -> Select:
    stmt = select(RoundPoint).order_by(RoundPoint.id)
    if not include_retired:
        stmt = stmt.where(RoundPoint.active.is_(True))
    if institution_id is not None:
        stmt = stmt.where(RoundPoint.institution_id == institution_id)
    if village:
        stmt = stmt.where(RoundPoint.village == village)
    return stmt


def get_round_point(point_id: int) -> RoundPoint:
    point = db.session.get(RoundPoint, point_id)
    if point is None or not point.active:
        raise NotFound("巡诊点不存在", code="ROUND_POINT_NOT_FOUND")
    return point


def upcoming_sessions(point_ids: list[int], days: int, per_point: int = 10) -> dict[int, list[Slot]]:
    """Open round sessions at each point from now until `days` days ahead, soonest first."""
    out: dict[int, list[Slot]] = {pid: [] for pid in point_ids}
    if not point_ids:
        return out
    now = clock.now()
    rows = db.session.scalars(select(Slot).where(
        Slot.round_point_id.in_(point_ids), Slot.kind == "round", Slot.status == "open",
        Slot.ends_at > now, Slot.starts_at < now + dt.timedelta(days=days))
        .order_by(Slot.starts_at, Slot.id))
    for slot in rows:
        if len(out[slot.round_point_id]) < per_point:
            out[slot.round_point_id].append(slot)
    return out


@dataclass
class RoundPointView(ModelView):
    """A round point with its upcoming round sessions."""

    model: RoundPoint
    schedule: list[Slot]


def with_schedule(points: list[RoundPoint], days: int) -> list[RoundPointView]:
    sessions = upcoming_sessions([p.id for p in points], days)
    return [RoundPointView(p, sessions[p.id]) for p in points]


def round_points_page(institution_id: int | None, village: str | None, page: int, page_size: int,
                      schedule_days: int) -> Page:
    return paginate(round_points_query(institution_id, village), page, page_size).with_items(
        lambda points: with_schedule(points, schedule_days))


def round_point_view(point_id: int, schedule_days: int) -> RoundPointView:
    return with_schedule([get_round_point(point_id)], schedule_days)[0]


def _managed_point(point_id: int, scope: Scope) -> RoundPoint:
    point = db.session.get(RoundPoint, point_id)
    if point is None or point.institution_id not in scope.institution_ids:
        raise NotFound("巡诊点不存在", code="ROUND_POINT_NOT_FOUND")
    return point


def _check_institution(institution_id: int, scope: Scope) -> None:
    inst = db.session.get(Institution, institution_id)
    if inst is None or inst.id not in scope.institution_ids:
        raise ValidationFailed.field("institution_id", "机构不存在或不在您的管辖范围内")


def _check_unique_name(institution_id: int, name: str, exclude_id: int | None = None) -> None:
    stmt = select(RoundPoint.id).where(RoundPoint.institution_id == institution_id, RoundPoint.name == name,
                                       RoundPoint.active.is_(True))
    if exclude_id is not None:
        stmt = stmt.where(RoundPoint.id != exclude_id)
    if db.session.scalar(stmt) is not None:
        raise Conflict("该机构已有同名巡诊点", code="ROUND_POINT_EXISTS")


def create_round_point(data: dict, scope: Scope, schedule_days: int) -> RoundPointView:
    institution_id = data.get("institution_id") or scope.home_institution_id
    if institution_id is None:
        raise ValidationFailed.field("institution_id", "请指定巡诊点所属机构")
    _check_institution(institution_id, scope)
    _check_unique_name(institution_id, data["name"])
    point = RoundPoint(institution_id=institution_id, name=data["name"], village=data["village"],
                       address=data.get("address"), active=True)
    db.session.add(point)
    db.session.flush()
    return with_schedule([point], schedule_days)[0]


def update_round_point(point_id: int, data: dict, scope: Scope, schedule_days: int) -> RoundPointView:
    point = _managed_point(point_id, scope)
    if not point.active:
        raise NotFound("巡诊点不存在", code="ROUND_POINT_NOT_FOUND")
    if "institution_id" in data:
        _check_institution(data["institution_id"], scope)
    target_inst = data.get("institution_id", point.institution_id)
    if "name" in data or "institution_id" in data:
        _check_unique_name(target_inst, data.get("name", point.name), exclude_id=point.id)
    for key in ("institution_id", "name", "village", "address"):
        if key in data:
            setattr(point, key, data[key])
    return with_schedule([point], schedule_days)[0]


def retire_round_point(point_id: int, scope: Scope) -> RoundPoint:
    point = _managed_point(point_id, scope)
    if not point.active:
        raise NotFound("巡诊点不存在", code="ROUND_POINT_NOT_FOUND")
    upcoming = db.session.scalar(select(Slot.id).where(
        Slot.round_point_id == point.id, Slot.status == "open", Slot.ends_at > clock.now()).limit(1))
    if upcoming is not None:
        raise Conflict("该巡诊点还有未结束的巡诊安排，请先取消或改到其他巡诊点", code="ROUND_POINT_IN_USE",
                       extra={"slot_id": upcoming})
    point.active = False
    return point
