"""Residents (居民) and their recorded key-population tags."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.core.clock import now
from services.core.db import UTCDateTime, db

# Codes the API speaks; the age tags are derived from the birth date, never stored.
TAG_LABELS = {
    "elderly": "65岁及以上老年人",
    "child": "0-6岁儿童",
    "pregnant_postpartum": "孕产妇",
    "disabled": "残疾人",
    "hypertension": "高血压患者",
    "diabetes": "2型糖尿病患者",
    "mental_disorder": "严重精神障碍患者",
    "tuberculosis": "肺结核患者",
    "poverty_alleviation": "脱贫人口",
    "minimum_living_allowance": "低保",
    "extreme_poverty": "特困",
    "special_family_planning": "计划生育特殊家庭",
}
DERIVED_TAGS = ("elderly", "child")
RECORDED_TAGS = tuple(t for t in TAG_LABELS if t not in DERIVED_TAGS)

CONSENT_SCOPES = {
    "health_management": "健康管理与随访",
    "family_doctor_contract": "家庭医生签约服务",
    "sms_notification": "短信提醒",
    "data_sharing_medical_community": "医共体内共享健康信息",
}


class Resident(db.Model):
    __tablename__ = "residents"
    __table_args__ = (
        CheckConstraint("sex IN ('male','female')", name="sex_known"),
        Index("ix_residents_institution_name", "institution_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    # Encrypted (Fernet) and a keyed hash for exact lookup; never plaintext.
    id_number_encrypted: Mapped[str] = mapped_column(Text)
    id_number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    birth_date: Mapped[dt.date] = mapped_column(Date, index=True)
    sex: Mapped[str] = mapped_column(String(10))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    address: Mapped[str | None] = mapped_column(String(200))
    village: Mapped[str | None] = mapped_column(String(100), index=True)
    floating: Mapped[bool] = mapped_column(Boolean, default=False)
    residence_since: Mapped[dt.date | None] = mapped_column(Date)
    consent_given_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    consent_witness_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    consent_scope: Mapped[list | None] = mapped_column(JSON)
    # The round point (巡诊点) where the team usually sees this resident.
    round_point_id: Mapped[int | None] = mapped_column(ForeignKey("round_points.id"), index=True)
    wechat_openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    sms_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
    # Moves on (in SQL, `version + 1`) with every change of the record: the
    # `base_version` an offline edit is checked against.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    tag_rows: Mapped[list["ResidentTag"]] = relationship(
        cascade="all, delete-orphan", order_by="ResidentTag.tag", lazy="selectin"
    )

    @property
    def recorded_tags(self) -> list[str]:
        return [t.tag for t in self.tag_rows]


class ResidentTag(db.Model):
    __tablename__ = "resident_tags"

    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)
