"""Enrolment in chronic-disease management (纳入管理): who is managed, by which team, and the status changes that end it."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from services.access.scope import Scope, resident_visible, team_for_staff
from services.core import audit, clock
from services.core.db import db, flush_or_conflict, one_or_404
from services.core.errors import Conflict, NotFound, ValidationFailed
from services.followup.judgement.rules import RulesConfig
from services.models import ProgramEnrolment, Resident, ResidentTag, Team
from services.models.followup import MENTAL_DISEASES
from services.residents.register import get_visible_resident


def _team_for(scope: Scope, team_id: int | None) -> Team:
    return team_for_staff(scope, team_id, own_team_only="医生只能将患者纳入本团队管理",
                          required="请指定负责管理的家庭医生团队")


def enrol(resident_id: int, data: dict, scope: Scope, rules: RulesConfig,
          ctx: audit.RequestContext | None = None) -> ProgramEnrolment:
    resident = get_visible_resident(resident_id, scope)
    program, today = data["program"], clock.today()
    enrolled_on = data.get("enrolled_on") or today
    diagnosed_on = data.get("diagnosed_on")
    errors: dict[str, list[str]] = {}
    if enrolled_on > today:
        errors["enrolled_on"] = ["纳入管理日期不能晚于今天"]
    elif enrolled_on < resident.birth_date:
        errors["enrolled_on"] = ["纳入管理日期不能早于出生日期"]
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
    flush_or_conflict(Conflict("该居民已在此项目管理中", code="ALREADY_ENROLLED"))  # the partial unique index
    audit.record(scope, "create", resident=resident, ctx=ctx,
                 detail={"record": "program_enrolment", "id": enrolment.id, "program": program})
    return enrolment


def get_visible_enrolment(enrolment_id: int, scope: Scope) -> ProgramEnrolment:
    return one_or_404(select(ProgramEnrolment).join(Resident, Resident.id == ProgramEnrolment.resident_id)
                      .where(ProgramEnrolment.id == enrolment_id,
                             (ProgramEnrolment.team_id == scope.team_id) | resident_visible(scope)),
                      NotFound("管理记录不存在", code="ENROLMENT_NOT_FOUND"))


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
