"""The headline figures of a unit for a period, each numerator ÷ denominator.

Definitions (the OpenAPI description of each field says the same):
- 签约率 (coverage): residents of the unit's population (registered at its
  institutions, a team's being its institution and those below it, on or
  before the day) holding a contract in force on the day with one of the
  unit's teams ÷ that population. The day is `date_to`, or today when
  `date_to` is later. Per key population the same, among residents with the
  tag on that day (age tags judged on that day).
- 续约率 (renewal): contracts of the unit's teams that end in the period
  (their term's last day falls in it, not terminated early) and were renewed
  (a renewal paid or in force, not merely applied for) ÷ those contracts.
- 履约率 (fulfilment): services delivered up to `date_to` under the contracts
  of the unit's teams in force on any day of the period ÷ everything those
  contracts promise for their whole term (not pro-rated).
- 规范管理率, 控制率 and patients under management per programme: exactly the
  figures of `/stats/followup` (services/followup/indicators.py).
- reminder delivery: messages handed to the SMS provider or WeChat in the
  period (by send time) to the unit's residents that were reported delivered
  ÷ those sent. A team's residents are those it looked after in the period
  (a contract in force on any day of it, or a programme enrolment).
- satisfaction: the sum of the scores of the ratings (满意度评价) given in the
  period to the unit's teams ÷ the number of ratings: `rate` is the average
  score (1-5).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, union
from sqlalchemy.orm import aliased

from services.core import clock
from services.core.db import db
from services.core.errors import ValidationFailed
from services.followup.indicators import followup_indicators
from services.models import (
    Contract,
    ContractEntitlement,
    Evaluation,
    OutboxMessage,
    ProgramEnrolment,
    Resident,
    ResidentTag,
    ServiceDelivery,
)
from services.models.resident import RECORDED_TAGS, TAG_LABELS
from services.residents.register import CHILD_MAX_AGE, ELDERLY_AGE, years_before
from services.stats.units import Unit

# A contract once signed: it was, is or will be in force (not an application,
# a refusal, or a renewal terminated before it started).
SIGNED_STATUSES = ("active", "expired", "scheduled", "terminated")


@dataclass(frozen=True)
class OverviewSettings:
    visits_per_year: int = 4


def fraction(numerator: int | float, denominator: int, digits: int = 4) -> dict:
    numerator = int(numerator or 0)
    return {"numerator": numerator, "denominator": int(denominator or 0),
            "rate": round(numerator / denominator, digits) if denominator else None}


def _in_force_on(c, day: dt.date):
    """The contract (alias `c`) is in force on `day`."""
    return and_(c.ends_on.is_not(None), c.starts_on <= day, c.ends_on >= day, c.status.in_(SIGNED_STATUSES),
                or_(c.status != "terminated", c.terminated_on > day))


def _in_force_between(c, first: dt.date, last: dt.date):
    """The contract (alias `c`) is in force on at least one day of [first, last]."""
    return and_(c.ends_on.is_not(None), c.starts_on <= last, c.ends_on >= first, c.status.in_(SIGNED_STATUSES),
                or_(c.status != "terminated", and_(c.terminated_on > first, c.terminated_on > c.starts_on)))


def _was_signed(c):
    """A renewal counts once it is paid or in force (scheduled, active, expired, or terminated after it began)."""
    return and_(c.ends_on.is_not(None), c.status.in_(SIGNED_STATUSES),
                or_(c.status != "terminated", c.terminated_on > c.starts_on))


def coverage_day(date_to: dt.date, today: dt.date | None = None) -> dt.date:
    return min(date_to, today or clock.today())


def coverage(unit: Unit, day: dt.date) -> tuple[dict, list[dict]]:
    """签约率 on `day`, overall and per key-population tag."""
    _start, registered_before = clock.day_bounds(day)
    # The residents signed that day, as one hashed set joined once per statement (an IN per FILTER
    # would build it three times). No DISTINCT: a resident's terms never overlap (a renewal starts
    # the day after its predecessor ends, a new signing from today, a termination ends a term today),
    # so no resident has two contracts in force on one day; bench.overview checks it against EXISTS.
    signed_set = (select(Contract.resident_id.label("id"))
                  .where(Contract.team_id.in_(unit.team_ids), _in_force_on(Contract, day)).subquery())
    signed = signed_set.c.id.is_not(None)
    population = and_(Resident.institution_id.in_(unit.institution_ids), Resident.created_at < registered_before)
    elderly = Resident.birth_date <= years_before(day, ELDERLY_AGE)
    child = and_(Resident.birth_date > years_before(day, CHILD_MAX_AGE + 1), Resident.birth_date <= day)
    totals = db.session.execute(
        select(func.count(), func.count().filter(signed), func.count().filter(elderly),
               func.count().filter(and_(elderly, signed)), func.count().filter(child),
               func.count().filter(and_(child, signed)))
        .select_from(Resident).outerjoin(signed_set, signed_set.c.id == Resident.id).where(population)).one()
    by_tag = {"elderly": (totals[2], totals[3]), "child": (totals[4], totals[5])}
    for tag, with_tag, signed_with_tag in db.session.execute(
            select(ResidentTag.tag, func.count(), func.count().filter(signed))
            .join(Resident, Resident.id == ResidentTag.resident_id)
            .outerjoin(signed_set, signed_set.c.id == Resident.id).where(population)
            .group_by(ResidentTag.tag)):
        by_tag[tag] = (with_tag, signed_with_tag)
    tags = [{"tag": tag, "label": TAG_LABELS[tag], **fraction(*reversed(by_tag.get(tag, (0, 0))))}
            for tag in ("elderly", "child", *RECORDED_TAGS)]
    return fraction(totals[1], totals[0]), tags


def renewal(unit: Unit, date_from: dt.date, date_to: dt.date) -> dict:
    """续约率 of the contracts ending in the period."""
    successor = aliased(Contract)
    # one hash join against the set of renewed contracts, not a sub-plan per ending contract
    renewed = (select(successor.renewed_from_id.label("id"))
               .where(successor.renewed_from_id.is_not(None), _was_signed(successor)).distinct().subquery())
    ending, renewed_count = db.session.execute(
        select(func.count(), func.count(renewed.c.id))
        .select_from(Contract).outerjoin(renewed, renewed.c.id == Contract.id)
        .where(Contract.team_id.in_(unit.team_ids), Contract.status.in_(("active", "expired")),
               Contract.ends_on >= date_from, Contract.ends_on <= date_to)).one()
    return fraction(renewed_count, ending)


def fulfilment(unit: Unit, date_from: dt.date, date_to: dt.date) -> dict:
    """履约率: delivered so far ÷ promised in full, over the contracts in force in the period."""
    in_period = (select(Contract.id)
                 .where(Contract.team_id.in_(unit.team_ids), _in_force_between(Contract, date_from, date_to)))
    # Each delivery adds one to its entitlement's `used` (services.contracts.deliveries, never undone),
    # so what was delivered up to date_to is the counters less the deliveries dated after it: one scan
    # of the entitlements, and for a period ending today (no delivery is dated in the future) an index
    # probe that finds nothing, instead of counting every delivery.
    promised, used = (select(func.coalesce(func.sum(ContractEntitlement.promised), 0),
                             func.coalesce(func.sum(ContractEntitlement.used), 0))
                      .where(ContractEntitlement.contract_id.in_(in_period)).subquery()).c
    later = (select(func.count()).select_from(ServiceDelivery)
             .where(ServiceDelivery.delivered_on > date_to, ServiceDelivery.contract_id.in_(in_period))
             .scalar_subquery())
    got_used, got_later, got_promised = db.session.execute(select(used, later, promised)).one()
    got_delivered = got_used - got_later
    return fraction(got_delivered, got_promised)


def looked_after(unit: Unit, date_from: dt.date, date_to: dt.date):
    """The residents a team looked after in the period: a contract in force on a day of it, or an enrolment."""
    return union(
        select(Contract.resident_id).where(Contract.team_id.in_(unit.team_ids),
                                           _in_force_between(Contract, date_from, date_to)),
        select(ProgramEnrolment.resident_id).where(ProgramEnrolment.team_id.in_(unit.team_ids),
                                                   ProgramEnrolment.enrolled_on <= date_to))


def reminder_delivery(unit: Unit, date_from: dt.date, date_to: dt.date) -> dict:
    start, end = clock.day_bounds(date_from, date_to)
    m = OutboxMessage
    stmt = select(func.count(), func.count().filter(m.status == "delivered")).where(
        m.sent_at >= start, m.sent_at < end)
    if unit.kind == "team":
        stmt = stmt.where(m.resident_id.in_(looked_after(unit, date_from, date_to)))
    else:
        stmt = stmt.join(Resident, Resident.id == m.resident_id).where(
            Resident.institution_id.in_(unit.institution_ids))
    sent, delivered = db.session.execute(stmt).one()
    return fraction(delivered, sent)


def satisfaction(unit: Unit, date_from: dt.date, date_to: dt.date) -> dict:
    start, end = clock.day_bounds(date_from, date_to)
    total, ratings = db.session.execute(
        select(func.coalesce(func.sum(Evaluation.score), 0), func.count())
        .where(Evaluation.team_id.in_(unit.team_ids), Evaluation.created_at >= start,
               Evaluation.created_at < end)).one()
    return fraction(total, ratings, digits=2)


def programs(unit: Unit, date_from: dt.date, date_to: dt.date, visits_per_year: int) -> list[dict]:
    out = []
    for p in followup_indicators(list(unit.team_ids), date_from, date_to, visits_per_year):
        control_denominator = p.register if p.program == "mental_disorder" else p.under_management
        out.append({"program": p.program, "under_management": p.under_management, "register": p.register,
                    "face_to_face_visits": p.face_to_face_visits,
                    "standard_management": fraction(p.standard_managed, p.under_management),
                    "control": fraction(p.at_target, control_denominator)})
    return out


def check_period(date_from: dt.date, date_to: dt.date) -> None:
    if date_from > date_to:
        raise ValidationFailed.field("date_from", "开始日期不能晚于结束日期")


def overview(unit: Unit, date_from: dt.date, date_to: dt.date, settings: OverviewSettings) -> dict:
    check_period(date_from, date_to)
    day = coverage_day(date_to)
    overall, by_tag = coverage(unit, day)
    return {
        "unit": {"kind": unit.kind, "id": unit.id, "name": unit.name},
        "date_from": date_from, "date_to": date_to, "coverage_on": day, "team_count": len(unit.team_ids),
        "coverage": overall, "coverage_by_tag": by_tag,
        "renewal": renewal(unit, date_from, date_to),
        "fulfilment": fulfilment(unit, date_from, date_to),
        "programs": programs(unit, date_from, date_to, settings.visits_per_year),
        "reminder_delivery": reminder_delivery(unit, date_from, date_to),
        "satisfaction": satisfaction(unit, date_from, date_to),
    }


PROGRAM_LABELS = {"hypertension": "高血压", "diabetes": "2型糖尿病", "mental_disorder": "严重精神障碍"}


def overview_rows(data: dict) -> list[tuple[str, int, int, float | None]]:
    """The overview as (指标, 分子, 分母, 比率) rows, in the order the JSON shows them (for the spreadsheet)."""
    rows = [("签约率", data["coverage"])]
    rows += [(f"签约率：{t['label']}", t) for t in data["coverage_by_tag"]]
    rows += [("续约率", data["renewal"]), ("履约率", data["fulfilment"])]
    for p in data["programs"]:
        label = PROGRAM_LABELS[p["program"]]
        rows += [(f"{label}：管理人数", {"numerator": p["under_management"], "denominator": None, "rate": None}),
                 (f"{label}：规范管理率", p["standard_management"]), (f"{label}：控制率", p["control"])]
    rows += [("提醒送达率", data["reminder_delivery"]), ("满意度（平均分）", data["satisfaction"])]
    return [(name, f["numerator"], f["denominator"], f["rate"]) for name, f in rows]
