"""Chronic-disease management: enrolment, follow-up visits judged by the rules
engine, the clinician's earlier date, and the team's worklist.

The enrolment carries the plan in force: `system_due_date` (set by the
rules), `clinician_due_date` (an earlier date a clinician chose, with a
reason) and `next_due_date` = the earlier of the two, which drives the
worklist through the (team_id, status, next_due_date) index.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, case, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from services import audit, clock
from services.crypto import PiiCipher
from services.db import db
from services.errors import Conflict, NotFound, ValidationFailed
from services.followup.engine import assess_visit
from services.followup.rules import RulesConfig
from services.followup.types import Assessment, Visit
from services.followup.validation import validate_visit_fields
from services.idcard import age_on
from services.masking import mask_id_number, mask_name
from services.models import FollowUp, ProgramEnrolment, Resident, ResidentTag, Team
from services.models.followup import MENTAL_DISEASES
from services.residents import get_visible_resident
from services.scope import Scope, resident_visible, team_for_staff

VISIT_COLUMNS = ("sbp", "dbp", "heart_rate", "temperature", "weight_kg", "fasting_glucose", "risk_level", "insight")
VISIT_FLAGS = ("pregnant_or_lactating", "adverse_reaction", "uncontrollable_adverse_reaction", "new_complication",
               "obvious_psychotic_symptoms", "social_function_poor", "serious_adverse_reaction",
               "serious_somatic_illness")


def _team_for(scope: Scope, team_id: int | None) -> Team:
    return team_for_staff(scope, team_id, own_team_only="医生只能将患者纳入本团队管理",
                          required="请指定负责管理的家庭医生团队")


# --- enrolment -------------------------------------------------------------------

def enrol(resident_id: int, data: dict, scope: Scope, rules: RulesConfig,
          ctx: audit.RequestContext | None = None) -> ProgramEnrolment:
    resident = get_visible_resident(resident_id, scope)
    program, today = data["program"], clock.today()
    enrolled_on = data.get("enrolled_on") or today
    diagnosed_on = data.get("diagnosed_on")
    errors: dict[str, list[str]] = {}
    if enrolled_on > today:
        errors["enrolled_on"] = ["纳入管理日期不能晚于今天"]
    if diagnosed_on is not None and diagnosed_on > enrolled_on:
        errors["diagnosed_on"] = ["确诊日期不能晚于纳入管理日期"]
    if diagnosed_on is not None and diagnosed_on < resident.birth_date:
        errors["diagnosed_on"] = ["确诊日期不能早于出生日期"]
    if program == "mental_disorder" and data.get("disease") not in MENTAL_DISEASES:
        errors["disease"] = ["严重精神障碍须注明病种：" + "、".join(MENTAL_DISEASES)]
    if program != "mental_disorder" and data.get("disease"):
        errors["disease"] = ["仅严重精神障碍需要填写病种"]
    if errors:
        raise ValidationFailed(errors=errors)
    team = _team_for(scope, data.get("team_id"))
    existing = db.session.scalar(select(ProgramEnrolment.id).where(
        ProgramEnrolment.resident_id == resident.id, ProgramEnrolment.program == program,
        ProgramEnrolment.status == "active"))
    if existing is not None:
        raise Conflict("该居民已在此项目管理中", code="ALREADY_ENROLLED", extra={"enrolment_id": existing})
    due = enrolled_on + dt.timedelta(days=rules.first_due_days)
    enrolment = ProgramEnrolment(resident_id=resident.id, team_id=team.id, program=program,
                                 disease=data.get("disease"), diagnosed_on=diagnosed_on, enrolled_on=enrolled_on,
                                 status="active", system_due_date=due, next_due_date=due,
                                 created_by_id=scope.actor_id, created_at=clock.now())
    db.session.add(enrolment)
    if program not in resident.recorded_tags:  # enrolment adds the key-population tag
        resident.tag_rows.append(ResidentTag(tag=program))
    try:
        db.session.flush()
    except IntegrityError as exc:  # the partial unique index under a race
        db.session.rollback()
        raise Conflict("该居民已在此项目管理中", code="ALREADY_ENROLLED") from exc
    audit.record(scope, "create", resident=resident, ctx=ctx,
                 detail={"record": "program_enrolment", "id": enrolment.id, "program": program})
    return enrolment


def get_visible_enrolment(enrolment_id: int, scope: Scope) -> ProgramEnrolment:
    enrolment = db.session.scalar(
        select(ProgramEnrolment).join(Resident, Resident.id == ProgramEnrolment.resident_id)
        .where(ProgramEnrolment.id == enrolment_id,
               (ProgramEnrolment.team_id == scope.team_id) | resident_visible(scope)))
    if enrolment is None:
        raise NotFound("管理记录不存在", code="ENROLMENT_NOT_FOUND")
    return enrolment


def change_status(enrolment_id: int, data: dict, scope: Scope) -> ProgramEnrolment:
    enrolment = get_visible_enrolment(enrolment_id, scope)
    on = data.get("status_changed_on") or clock.today()
    if on > clock.today() or on < enrolment.enrolled_on:
        raise ValidationFailed.field("status_changed_on", "状态变更日期须在纳入管理日期与今天之间")
    if data["status"] != "active" and not data.get("reason"):
        raise ValidationFailed.field("reason", "请填写状态变更原因")
    enrolment.status, enrolment.status_changed_on = data["status"], on
    enrolment.status_reason = data.get("reason")
    db.session.flush()
    return enrolment


def enrolments_of(resident_id: int, scope: Scope) -> list[ProgramEnrolment]:
    get_visible_resident(resident_id, scope)
    return list(db.session.scalars(select(ProgramEnrolment).where(ProgramEnrolment.resident_id == resident_id)
                                   .order_by(ProgramEnrolment.id)))


# --- follow-ups -----------------------------------------------------------------------

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


def record_followup(data: dict, scope: Scope, rules: RulesConfig,
                    ctx: audit.RequestContext | None = None) -> FollowUp:
    resident = get_visible_resident(data["resident_id"], scope)
    enrolment = db.session.scalar(select(ProgramEnrolment).where(
        ProgramEnrolment.resident_id == resident.id, ProgramEnrolment.program == data["program"],
        ProgramEnrolment.status == "active").with_for_update(of=ProgramEnrolment))
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
    earlier = db.session.scalars(
        select(FollowUp).where(FollowUp.enrolment_id == enrolment.id, FollowUp.visit_date <= visit.visit_date)
        .order_by(FollowUp.visit_date.desc(), FollowUp.id.desc())).all()
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


def followups_of(resident_id: int, scope: Scope, program: str | None = None) -> Select:
    get_visible_resident(resident_id, scope)
    stmt = select(FollowUp).where(FollowUp.resident_id == resident_id)
    if program:
        stmt = stmt.where(FollowUp.program == program)
    return stmt.order_by(FollowUp.visit_date.desc(), FollowUp.id.desc())


# --- worklist -------------------------------------------------------------------------

@dataclass
class WorklistFilters:
    team_id: int
    today: dt.date
    within_days: int = 7
    due_before: dt.date | None = None
    status: str | None = None          # due | overdue
    program: str | None = None
    village: str | None = None
    round_point_id: int | None = None

    @property
    def horizon(self) -> dt.date:
        """The last due date that counts as "due" (inclusive)."""
        return self.due_before or (self.today + dt.timedelta(days=self.within_days))


def worklist_row(enrolment: ProgramEnrolment, f: WorklistFilters, cipher: PiiCipher) -> dict:
    """One worklist row: the section it falls in, days overdue, the resident masked,
    the phone in full (the team calls from this list)."""
    r = enrolment.resident
    due = enrolment.next_due_date
    section = "overdue" if due < f.today else ("due" if due <= f.horizon else "urgent_referral")
    return {
        "enrolment_id": enrolment.id, "program": enrolment.program, "next_due_date": due,
        "days_overdue": max(0, (f.today - due).days), "section": section,
        "resident": {"id": r.id, "name": mask_name(r.name),
                     "id_number": mask_id_number(cipher.decrypt(r.id_number_encrypted)), "sex": r.sex,
                     "age": age_on(r.birth_date, f.today), "village": r.village, "round_point_id": r.round_point_id},
        "phone": r.phone, "last_visit_date": enrolment.last_visit_date, "last_assessment": enrolment.last_assessment,
    }


def worklist_team(scope: Scope, team_id: int | None) -> int:
    if scope.role == "doctor":
        if team_id not in (None, scope.team_id):
            raise NotFound("家庭医生团队不存在", code="TEAM_NOT_FOUND")
        return scope.team_id
    if team_id is None:
        raise ValidationFailed.field("team_id", "管理员查看工作清单须指定团队")
    team = db.session.get(Team, team_id)
    if team is None or team.institution_id not in scope.institution_ids:
        raise NotFound("家庭医生团队不存在", code="TEAM_NOT_FOUND")
    return team_id


def worklist_query(f: WorklistFilters) -> Select:
    """Due within the window or overdue (most overdue first), then patients with a
    pending urgent referral whose follow-up is later. Reads the team's active
    enrolments through the (team_id, status, next_due_date) index and filters
    them by date there (the OR with the urgent section keeps the date out of
    the index condition); residents are fetched by primary key."""
    horizon = f.horizon
    due_window = ProgramEnrolment.next_due_date <= horizon
    if f.status == "overdue":
        due_window = ProgramEnrolment.next_due_date < f.today
    elif f.status == "due":
        due_window = (ProgramEnrolment.next_due_date >= f.today) & (ProgramEnrolment.next_due_date <= horizon)
    urgent_pending = (ProgramEnrolment.last_referral == "urgent") & (ProgramEnrolment.next_due_date > horizon)
    section = case((due_window, 0), else_=1)
    stmt = (select(ProgramEnrolment).join(Resident, Resident.id == ProgramEnrolment.resident_id)
            .where(ProgramEnrolment.team_id == f.team_id, ProgramEnrolment.status == "active",
                   due_window | (urgent_pending if f.status is None else false()))
            .options(contains_eager(ProgramEnrolment.resident))
            .order_by(section, ProgramEnrolment.next_due_date, ProgramEnrolment.id))
    if f.program:
        stmt = stmt.where(ProgramEnrolment.program == f.program)
    if f.village:
        stmt = stmt.where(Resident.village == f.village)
    if f.round_point_id is not None:
        stmt = stmt.where(Resident.round_point_id == f.round_point_id)
    return stmt
