"""Follow-up indicators for a team, an institution (and those below it) or the
whole medical community over a period.

Rules (the national standard asks for 4 face-to-face visits a year):
- under management: enrolled on or before the period end and not moved out,
  deceased or lost before the period start;
- face-to-face: reached visits in clinic or at home (phone visits do not count);
- 规范管理率: patients whose face-to-face visits in the period reach the
  required number, pro rata for part of the period: required =
  ceil(visits_per_year x days managed in the period / 365);
- 控制率: patients whose latest reached visit in the period was at target,
  over patients under management (no visit counts as not at target). For
  severe mental disorders the rate is of 'stable' patients and the
  denominator is the register (在册) at the period end.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from sqlalchemy import BigInteger, Date, Integer, and_, case, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from services.access.scope import Scope, institution_subtree, visible_team
from services.core.db import db
from services.core.errors import NotFound, ValidationFailed
from services.models import FollowUp, ProgramEnrolment, Team
from services.models.followup import PROGRAMS


@dataclass
class ProgramIndicators:
    program: str
    under_management: int
    register: int
    face_to_face_visits: int
    visits_per_patient: float | None
    standard_managed: int
    standard_management_rate: float | None
    at_target: int
    control_rate: float | None


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def unit_team_ids(scope: Scope, team_id: int | None, institution_id: int | None) -> list[int]:
    if team_id is not None:
        return [visible_team(team_id, scope).id]
    if institution_id is not None:
        if scope.role != "admin" or institution_id not in scope.institution_ids:
            raise NotFound("机构不存在", code="INSTITUTION_NOT_FOUND")
        ids = institution_subtree(institution_id)
    elif scope.role == "doctor":
        return [scope.team_id]
    else:
        ids = scope.institution_ids
    return list(db.session.scalars(select(Team.id).where(Team.institution_id.in_(sorted(ids)))))


class _days_between(FunctionElement):
    """Whole days from the first SQL date to the second."""

    type = Integer()
    inherit_cache = True


@compiles(_days_between)
def _days_between_default(element, compiler, **kw):  # PostgreSQL: date - date is an integer
    first, second = (compiler.process(c, **kw) for c in element.clauses)
    return f"({second} - {first})"


@compiles(_days_between, "sqlite")
def _days_between_sqlite(element, compiler, **kw):  # ISO date text; julianday() differences are whole
    first, second = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(julianday({second}) - julianday({first}) AS INTEGER)"


def _indicator_counts(team_ids: list[int], date_from: dt.date, date_to: dt.date, visits_per_year: int):
    """Per programme, the counts the indicators are made of, in one statement.

    The inner query has one row per enrolment under management (grouped by its
    key, its reached visits in the period outer-joined): the days it was
    managed in the period, its face-to-face visits inside them, and whether
    its latest visit was good. The outer query counts those rows per
    programme with FILTER aggregates.
    """
    e, f = ProgramEnrolment, FollowUp
    managed_from = case((e.enrolled_on > date_from, e.enrolled_on), else_=literal(date_from, Date))
    managed_to = case((and_(e.status != "active", e.status_changed_on < date_to), e.status_changed_on),
                      else_=literal(date_to, Date))
    in_register = or_(e.status == "active", e.status_changed_on > date_to)
    # A visit is good for 控制率 when 'stable' (severe mental disorders) or at target (the others).
    verdict = case((e.program == "mental_disorder", f.classification == "stable"), else_=f.at_target)
    good = case((verdict, 1), else_=0)
    # The latest visit (by date, then id) and its verdict in one max(): days into the period, id and
    # verdict packed into one integer (ids below 2^40), whose lowest bit is then the latest verdict.
    latest_first = (_days_between(literal(date_from, Date), f.visit_date) * literal(2 ** 40, BigInteger)
                    + f.id) * 2 + good
    per_patient = (
        select(e.program, in_register.label("in_register"),
               (_days_between(managed_from, managed_to) + 1).label("days"),
               func.count(f.id).filter(f.visit_mode.in_(("clinic", "home")), f.visit_date >= managed_from,
                                       f.visit_date <= managed_to).label("face_to_face"),
               (func.max(latest_first) % 2).label("latest_good"))
        .outerjoin(f, and_(f.enrolment_id == e.id, f.not_reached.is_(False), f.visit_date >= date_from,
                           f.visit_date <= date_to))
        .where(e.team_id.in_(team_ids), e.enrolled_on <= date_to,
               or_(e.status == "active", e.status_changed_on >= date_from))
        .group_by(e.id)
        .subquery("per_patient"))
    p = per_patient.c
    # face_to_face >= ceil(visits_per_year x days / 365), in integers; nothing is required of <= 0 days.
    standard = or_(p.days <= 0, p.face_to_face * 365 >= p.days * visits_per_year)
    counted_good = and_(p.latest_good == 1, or_(p.program != "mental_disorder", p.in_register))
    return db.session.execute(
        select(p.program, func.count().label("under_management"),
               func.count().filter(p.in_register).label("register"),
               func.coalesce(func.sum(p.face_to_face), 0).label("face_to_face_visits"),
               func.count().filter(standard).label("standard_managed"),
               func.count().filter(counted_good).label("at_target"))
        .group_by(p.program)).all()


def followup_indicators(team_ids: list[int], date_from: dt.date, date_to: dt.date,
                        visits_per_year: int = 4) -> list[ProgramIndicators]:
    if date_from > date_to:
        raise ValidationFailed.field("date_from", "开始日期不能晚于结束日期")
    counts = {row.program: row for row in _indicator_counts(team_ids, date_from, date_to, visits_per_year)}
    out = []
    for program in PROGRAMS:
        row = counts.get(program)
        managed, register, f2f, standard, at_target = (
            (row.under_management, row.register, int(row.face_to_face_visits), row.standard_managed, row.at_target)
            if row else (0, 0, 0, 0, 0))
        denominator = register if program == "mental_disorder" else managed
        out.append(ProgramIndicators(
            program=program, under_management=managed, register=register, face_to_face_visits=f2f,
            visits_per_patient=round(f2f / managed, 2) if managed else None, standard_managed=standard,
            standard_management_rate=_rate(standard, managed), at_target=at_target,
            control_rate=_rate(at_target, denominator)))
    return out


def as_dicts(items: list[ProgramIndicators]) -> list[dict]:
    return [asdict(i) for i in items]


def followup_stats(scope: Scope, team_id: int | None, institution_id: int | None, date_from: dt.date,
                   date_to: dt.date, visits_per_year: int) -> dict:
    """The indicators of the unit the caller asked for (a team, an institution and below, or all)."""
    team_ids = unit_team_ids(scope, team_id, institution_id)
    items = followup_indicators(team_ids, date_from, date_to, visits_per_year)
    return {"date_from": date_from.isoformat(), "date_to": date_to.isoformat(), "team_ids": team_ids,
            "programs": as_dicts(items)}
