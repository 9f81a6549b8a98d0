"""Follow-up visits (随访): recorded, judged by the rules engine, and the
enrolment's plan moved on.

The enrolment carries the plan in force: `system_due_date` (set by the
rules), `clinician_due_date` (an earlier date a clinician chose, with a
reason) and `next_due_date` = the earlier of the two, which drives the
worklist through the (team_id, status, next_due_date) index.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import lazyload

from services.access.scope import Scope
from services.core import audit, clock
from services.core.db import db
from services.core.errors import ValidationFailed
from services.core.idcard import age_on
from services.core.pagination import Page, paginate
from services.followup.judgement.engine import assess_visit
from services.followup.judgement.rules import RulesConfig
from services.followup.judgement.types import Assessment, Visit
from services.followup.judgement.validation import validate_visit_fields
from services.models import FollowUp, ProgramEnrolment
from services.residents.register import get_visible_resident

VISIT_COLUMNS = ("sbp", "dbp", "heart_rate", "temperature", "weight_kg", "fasting_glucose", "risk_level", "insight")
VISIT_FLAGS = ("pregnant_or_lactating", "adverse_reaction", "uncontrollable_adverse_reaction", "new_complication",
               "obvious_psychotic_symptoms", "social_function_poor", "serious_adverse_reaction",
               "serious_somatic_illness")



def _visit_from_row(row: FollowUp) -> Visit:
    d = row.details or {}
    return Visit(program=row.program, visit_date=row.visit_date, visit_mode=row.visit_mode,
                 not_reached=row.not_reached, sbp=row.sbp, dbp=row.dbp, heart_rate=row.heart_rate,
                 temperature=row.temperature, weight_kg=row.weight_kg, fasting_glucose=row.fasting_glucose,
                 symptoms=frozenset(d.get("symptoms") or ()), risk_level=row.risk_level, insight=row.insight,
                 **{flag: bool(d.get(flag)) for flag in VISIT_FLAGS})


def _assessment_of(row: FollowUp) -> Assessment:
    return Assessment(classification=row.classification, at_target=row.at_target, next_due_date=row.next_due_date,
                      referral=row.referral, reasons=tuple(row.reasons or ()), rules_version=row.rules_version)


def _history_needed(enrolment_id: int, visit_date) -> list[FollowUp]:
    """What the rules read of the history, newest first, in one statement: the latest
    earlier visit (whose plan is in force) and the latest earlier valid one (reached
    and classified: the rules compare with it), one row when they are the same. Two
    LIMIT 1 probes of the (enrolment_id, visit_date) index: the cost does not grow
    with the number of earlier visits."""
    def latest(*conditions):
        return (select(FollowUp.id).where(FollowUp.enrolment_id == enrolment_id, FollowUp.visit_date <= visit_date,
                                          *conditions)
                .order_by(FollowUp.visit_date.desc(), FollowUp.id.desc()).limit(1).scalar_subquery())

    valid = latest(FollowUp.not_reached.is_(False), FollowUp.classification.is_not(None))
    return list(db.session.scalars(
        select(FollowUp).where(FollowUp.id.in_([latest(), valid]))
        .order_by(FollowUp.visit_date.desc(), FollowUp.id.desc())))


def record_followup(data: dict, scope: Scope, rules: RulesConfig,
                    ctx: audit.RequestContext | None = None) -> FollowUp:
    resident = get_visible_resident(data["resident_id"], scope)
    enrolment = db.session.scalar(select(ProgramEnrolment).where(
        ProgramEnrolment.resident_id == resident.id, ProgramEnrolment.program == data["program"],
        ProgramEnrolment.status == "active").with_for_update(of=ProgramEnrolment)
        .options(lazyload(ProgramEnrolment.resident)))  # the resident is loaded already
    if enrolment is None:
        raise ValidationFailed.field("program", "该居民未纳入此项目管理，请先登记纳入管理", code="NOT_ENROLLED")
    today = clock.today()
    errors = validate_visit_fields(data, enrolment.enrolled_on, today)
    override, override_reason = data.get("next_due_date"), data.get("next_due_reason")
    if errors:
        raise ValidationFailed(errors=errors)
    visit = Visit(program=data["program"], visit_date=data["visit_date"], visit_mode=data["visit_mode"],
                  not_reached=bool(data.get("not_reached")),
                  symptoms=frozenset(data.get("symptoms") or ()),
                  **{k: data.get(k) for k in VISIT_COLUMNS},
                  **{flag: bool(data.get(flag)) for flag in VISIT_FLAGS})
    earlier = _history_needed(enrolment.id, visit.visit_date)
    previous = [(_visit_from_row(r), _assessment_of(r)) for r in earlier]
    current_due = earlier[0].next_due_date if earlier else enrolment.system_due_date
    assessment = assess_visit(visit, previous, age_on(resident.birth_date, visit.visit_date), rules, current_due)
    if override is not None:
        if not override_reason:
            raise ValidationFailed.field("next_due_reason", "提前随访日期须填写原因")
        if override >= assessment.next_due_date or override < visit.visit_date:
            raise ValidationFailed.field(
                "next_due_date", f"只能提前：须早于规则给出的 {assessment.next_due_date.isoformat()}，且不早于随访日期")
    details = {flag: bool(data.get(flag)) for flag in VISIT_FLAGS}
    details["symptoms"] = sorted(visit.symptoms)
    details.update({k: v for k, v in (data.get("extra") or {}).items() if v is not None})
    row = FollowUp(enrolment_id=enrolment.id, resident_id=resident.id, team_id=enrolment.team_id,
                   program=visit.program, visit_date=visit.visit_date, visit_mode=visit.visit_mode,
                   not_reached=visit.not_reached, not_reached_reason=data.get("not_reached_reason"),
                   details=details, classification=assessment.classification, at_target=assessment.at_target,
                   referral=assessment.referral, reasons=list(assessment.reasons),
                   next_due_date=assessment.next_due_date, clinician_next_due_date=override,
                   clinician_next_due_reason=override_reason if override else None,
                   rules_version=assessment.rules_version, recorded_by_id=scope.actor_id, created_at=clock.now(),
                   **{k: data.get(k) for k in VISIT_COLUMNS})
    db.session.add(row)
    if enrolment.last_visit_date is None or visit.visit_date >= enrolment.last_visit_date:
        enrolment.system_due_date = assessment.next_due_date
        enrolment.clinician_due_date = override
        enrolment.clinician_due_reason = override_reason if override else None
        enrolment.next_due_date = min(d for d in (assessment.next_due_date, override) if d is not None)
        enrolment.last_visit_date = visit.visit_date
        if not visit.not_reached:
            enrolment.last_assessment = assessment.to_dict()
            enrolment.last_referral = assessment.referral
    db.session.flush()
    audit.record(scope, "create", resident=resident, ctx=ctx, detail={"record": "followup", "id": row.id})
    return row


def followups_page(resident_id: int, scope: Scope, program: str | None, page: int, page_size: int,
                   ctx: audit.RequestContext | None = None) -> Page:
    """A resident's follow-ups, newest first; reading them is audited."""
    resident = get_visible_resident(resident_id, scope)
    stmt = select(FollowUp).where(FollowUp.resident_id == resident_id)
    if program:
        stmt = stmt.where(FollowUp.program == program)
    result = paginate(stmt.order_by(FollowUp.visit_date.desc(), FollowUp.id.desc()), page, page_size)
    audit.record_read(scope, ctx, "followups", resident=resident, detail={"count": len(result.items)})
    return result
