"""Chronic-disease management: enrolments (纳入管理), follow-up visits and referrals."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, Float, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.core.clock import now
from services.core.db import UTCDateTime, db

PROGRAMS = ("hypertension", "diabetes", "mental_disorder")
PROGRAM_LABELS = {"hypertension": "高血压", "diabetes": "2型糖尿病", "mental_disorder": "严重精神障碍"}
MENTAL_DISEASES = ("schizophrenia", "schizoaffective_disorder", "paranoid_psychosis", "bipolar_disorder",
                   "epilepsy_mental_disorder", "intellectual_disability_mental_disorder")
ENROLMENT_STATUSES = ("active", "moved_out", "deceased", "lost")
VISIT_MODES = ("clinic", "home", "phone")
REFERRAL_STATUSES = ("created", "received", "completed", "cancelled")


class ProgramEnrolment(db.Model):
    """A patient under management in one program, looked after by one team.

    `next_due_date` drives the worklist: the earlier of the date the rules
    set and the date a clinician chose; it is indexed with team and status so
    the worklist reads a range, not every resident.
    """

    __tablename__ = "program_enrolments"
    __table_args__ = (
        CheckConstraint("program IN ('hypertension','diabetes','mental_disorder')", name="program_known"),
        CheckConstraint("status IN ('active','moved_out','deceased','lost')", name="status_known"),
        Index("uq_program_enrolments_one_active", "resident_id", "program", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
        Index("ix_program_enrolments_worklist", "team_id", "status", "next_due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    program: Mapped[str] = mapped_column(String(20))
    disease: Mapped[str | None] = mapped_column(String(60))
    diagnosed_on: Mapped[dt.date | None] = mapped_column(Date)
    enrolled_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="active")
    status_changed_on: Mapped[dt.date | None] = mapped_column(Date)
    status_reason: Mapped[str | None] = mapped_column(String(500))
    system_due_date: Mapped[dt.date] = mapped_column(Date)
    clinician_due_date: Mapped[dt.date | None] = mapped_column(Date)
    clinician_due_reason: Mapped[str | None] = mapped_column(String(500))
    next_due_date: Mapped[dt.date] = mapped_column(Date)
    last_visit_date: Mapped[dt.date | None] = mapped_column(Date)
    last_assessment: Mapped[dict | None] = mapped_column(JSON)
    last_referral: Mapped[str | None] = mapped_column(String(20))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    resident: Mapped["Resident"] = relationship(lazy="joined", innerjoin=True)  # noqa: F821


class FollowUp(db.Model):
    """One follow-up visit (or a "not reached" attempt) and its assessment."""

    __tablename__ = "followups"
    __table_args__ = (
        CheckConstraint("visit_mode IN ('clinic','home','phone')", name="visit_mode_known"),
        Index("ix_followups_enrolment_date", "enrolment_id", "visit_date"),
        Index("ix_followups_resident_date", "resident_id", "visit_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("program_enrolments.id", ondelete="CASCADE"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    program: Mapped[str] = mapped_column(String(20))
    visit_date: Mapped[dt.date] = mapped_column(Date)
    visit_mode: Mapped[str] = mapped_column(String(10))
    not_reached: Mapped[bool] = mapped_column(Boolean, default=False)
    not_reached_reason: Mapped[str | None] = mapped_column(String(200))
    sbp: Mapped[int | None] = mapped_column(Integer)
    dbp: Mapped[int | None] = mapped_column(Integer)
    heart_rate: Mapped[int | None] = mapped_column(Integer)
    temperature: Mapped[float | None] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    fasting_glucose: Mapped[float | None] = mapped_column(Float)
    risk_level: Mapped[int | None] = mapped_column(Integer)
    insight: Mapped[str | None] = mapped_column(String(20))
    details: Mapped[dict] = mapped_column(JSON, default=dict)  # symptoms, flags, lifestyle, medication...
    classification: Mapped[str | None] = mapped_column(String(30))
    at_target: Mapped[bool | None] = mapped_column(Boolean)
    referral: Mapped[str] = mapped_column(String(10), default="none")
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    next_due_date: Mapped[dt.date] = mapped_column(Date)
    clinician_next_due_date: Mapped[dt.date | None] = mapped_column(Date)
    clinician_next_due_reason: Mapped[str | None] = mapped_column(String(500))
    rules_version: Mapped[str] = mapped_column(String(60))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class Referral(db.Model):
    """转诊: up to a higher institution or down, from a follow-up or standalone."""

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint("status IN ('created','received','completed','cancelled')", name="status_known"),
        CheckConstraint("direction IN ('up','down')", name="direction_known"),
        Index("ix_referrals_to_status", "to_institution_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    followup_id: Mapped[int | None] = mapped_column(ForeignKey("followups.id"))
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("program_enrolments.id"))
    from_institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    to_institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    direction: Mapped[str] = mapped_column(String(10))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="created")
    status_note: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
    history: Mapped[list] = mapped_column(JSON, default=list)
