"""Demo chronic-disease patients: residents tagged hypertension, diabetes or
severe mental disorder are enrolled with a team that covers them and have
one follow-up judged by the real rules, so the worklist shows overdue, due
and urgent patients. Idempotent: existing enrolments are left alone."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from services import followup
from services.access.scope import resident_visible, scope_for_staff
from services.core import clock
from services.core.db import db
from services.core.errors import DomainError
from services.followup.judgement.rules import RulesConfig
from services.models import ProgramEnrolment, Resident, ResidentTag, Staff, Team

PROGRAM_TAGS = ("hypertension", "diabetes", "mental_disorder")


def seed_demo_followups(rules: RulesConfig, community_code: str = "demo") -> int:
    today = clock.today()
    scopes = []
    for team in db.session.scalars(select(Team).where(Team.code.like(f"{community_code}-%")).order_by(Team.id)):
        lead = db.session.get(Staff, team.lead_doctor_id) if team.lead_doctor_id else None
        if lead is not None:
            scopes.append((team, scope_for_staff(lead)))
    patients = db.session.execute(
        select(Resident, ResidentTag.tag).join(ResidentTag, ResidentTag.resident_id == Resident.id)
        .where(ResidentTag.tag.in_(PROGRAM_TAGS)).order_by(Resident.id, ResidentTag.tag)).all()
    enrolled = 0
    for resident, program in patients:
        exists = db.session.scalar(select(ProgramEnrolment.id).where(
            ProgramEnrolment.resident_id == resident.id, ProgramEnrolment.program == program))
        if exists is not None:
            continue
        seeing = [(t, sc) for t, sc in scopes if db.session.scalar(
            select(Resident.id).where(Resident.id == resident.id, resident_visible(sc))) is not None]
        if not seeing:
            continue
        team, scope = seeing[resident.id % len(seeing)]
        n = resident.id
        enrolled_on = max(today - dt.timedelta(days=120 + n % 400), resident.birth_date + dt.timedelta(days=365 * 18))
        if enrolled_on > today - dt.timedelta(days=30):
            continue
        visit_date = today - dt.timedelta(days=3 + n % 100)
        data = {"program": program, "enrolled_on": enrolled_on, "diagnosed_on": enrolled_on - dt.timedelta(days=60),
                "team_id": team.id}
        if program == "mental_disorder":
            data["disease"] = "schizophrenia"
        reading = {"resident_id": resident.id, "program": program, "visit_date": visit_date,
                   "visit_mode": ("clinic", "home", "clinic", "phone")[n % 4]}
        if program == "mental_disorder":
            reading.update(risk_level=(0, 0, 1, 3)[n % 4], insight=("complete", "complete", "partial", "absent")[n % 4])
        else:
            reading.update(sbp=118 + n * 7 % 70, dbp=72 + n * 3 % 40)
            if program == "diabetes":
                reading["fasting_glucose"] = round(5.2 + (n * 13 % 60) / 10, 1)
        try:
            with db.session.begin_nested():
                followup.enrol(resident.id, data, scope, rules)
                followup.record_followup(reading, scope, rules)
            enrolled += 1
        except DomainError:
            continue
    return enrolled
