"""Organisation: medical community (医共体) -> institutions -> family-doctor teams, round points."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.core.clock import now
from services.core.db import UTCDateTime, db

INSTITUTION_TYPES = (
    "county_hospital",
    "township_health_center",
    "community_health_center",
    "village_clinic",
)
INSTITUTION_TYPE_LABELS = {
    "county_hospital": "县级医院",
    "township_health_center": "乡镇卫生院",
    "community_health_center": "社区卫生服务中心",
    "village_clinic": "村卫生室",
}


class MedicalCommunity(db.Model):
    __tablename__ = "medical_communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class Institution(db.Model):
    __tablename__ = "institutions"
    __table_args__ = (
        CheckConstraint(
            "type IN ('county_hospital','township_health_center',"
            "'community_health_center','village_clinic')",
            name="type_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("medical_communities.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    community: Mapped[MedicalCommunity] = relationship()
    parent: Mapped["Institution | None"] = relationship(remote_side="Institution.id")


class Team(db.Model):
    """家庭医生团队. Capacity is per doctor on the team (default from settings)."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    lead_doctor_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", use_alter=True, name="fk_teams_lead_doctor_id_staff")
    )
    capacity_per_doctor: Mapped[int | None] = mapped_column(Integer)
    service_area: Mapped[str | None] = mapped_column(String(500))
    phone: Mapped[str | None] = mapped_column(String(30))
    introduction: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    institution: Mapped[Institution] = relationship()
    members: Mapped[list["Staff"]] = relationship(  # noqa: F821
        "Staff", foreign_keys="Staff.team_id", back_populates="team", order_by="Staff.id"
    )
    lead_doctor: Mapped["Staff | None"] = relationship(  # noqa: F821
        "Staff", foreign_keys=[lead_doctor_id], post_update=True
    )


class RoundPoint(db.Model):
    """巡诊点: a place in a village where a team sees residents near their homes."""

    __tablename__ = "round_points"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    village: Mapped[str] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(200))
    # Retired points stay (sessions and residents refer to them) but are hidden.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    institution: Mapped[Institution] = relationship()
