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
import math
from dataclasses import asdict, dataclass

from sqlalchemy import Date, and_, case, func, literal, or_, select

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


def followup_indicators(team_ids: list[int], date_from: dt.date, date_to: dt.date,
                        visits_per_year: int = 4) -> list[ProgramIndicators]:
    if date_from > date_to:
        raise ValidationFailed.field("date_from", "开始日期不能晚于结束日期")
    enrolments = db.session.execute(
        select(ProgramEnrolment.id, ProgramEnrolment.program, ProgramEnrolment.enrolled_on,
               ProgramEnrolment.status, ProgramEnrolment.status_changed_on)
        .where(ProgramEnrolment.team_id.in_(team_ids), ProgramEnrolment.enrolled_on <= date_to,
               or_(ProgramEnrolment.status == "active", ProgramEnrolment.status_changed_on >= date_from))
    ).all()
    # Per enrolment, in SQL: face-to-face visits inside the days it was managed in
    # the period, and its latest reached visit in the period.
    managed_from = case((ProgramEnrolment.enrolled_on > date_from, ProgramEnrolment.enrolled_on),
                        else_=literal(date_from, Date))
    managed_to = case((and_(ProgramEnrolment.status != "active", ProgramEnrolment.status_changed_on < date_to),
                       ProgramEnrolment.status_changed_on), else_=literal(date_to, Date))
    in_period = and_(ProgramEnrolment.team_id.in_(team_ids), FollowUp.not_reached.is_(False),
                     FollowUp.visit_date >= date_from, FollowUp.visit_date <= date_to)
    f2f_counts = dict(db.session.execute(
        select(FollowUp.enrolment_id, func.count())
        .join(ProgramEnrolment, ProgramEnrolment.id == FollowUp.enrolment_id)
        .where(in_period, FollowUp.visit_mode.in_(("clinic", "home")),
               FollowUp.visit_date >= managed_from, FollowUp.visit_date <= managed_to)
        .group_by(FollowUp.enrolment_id)).all())
    ranked = (select(FollowUp.enrolment_id, FollowUp.at_target, FollowUp.classification,
                     func.row_number().over(partition_by=FollowUp.enrolment_id,
                                            order_by=(FollowUp.visit_date.desc(), FollowUp.id.desc())).label("rn"))
              .join(ProgramEnrolment, ProgramEnrolment.id == FollowUp.enrolment_id).where(in_period).subquery())
    latest = {row.enrolment_id: row for row in db.session.execute(
        select(ranked.c.enrolment_id, ranked.c.at_target, ranked.c.classification).where(ranked.c.rn == 1))}
    out = []
    for program in PROGRAMS:
        rows = [e for e in enrolments if e.program == program]
        f2f_total = standard = at_target = 0
        register = 0
        for e in rows:
            left_on = e.status_changed_on if e.status != "active" else None
            in_register = left_on is None or left_on > date_to
            register += in_register
            start = max(date_from, e.enrolled_on)
            end = min(date_to, left_on) if left_on else date_to
            days = (end - start).days + 1
            required = math.ceil(visits_per_year * days / 365) if days > 0 else 0
            f2f = f2f_counts.get(e.id, 0)
            f2f_total += f2f
            standard += f2f >= required
            last = latest.get(e.id)
            if last is not None:
                good = last.classification == "stable" if program == "mental_disorder" else last.at_target
                at_target += bool(good) and (in_register if program == "mental_disorder" else True)
        denominator = register if program == "mental_disorder" else len(rows)
        out.append(ProgramIndicators(
            program=program, under_management=len(rows), register=register, face_to_face_visits=f2f_total,
            visits_per_patient=round(f2f_total / len(rows), 2) if rows else None, standard_managed=standard,
            standard_management_rate=_rate(standard, len(rows)), at_target=at_target,
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
