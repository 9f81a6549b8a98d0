"""Staff accounts: team members (API role `doctor`) and administrators (`admin`)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.core.clock import now
from services.core.db import UTCDateTime, db

STAFF_ROLES = ("doctor", "admin")
TEAM_ROLES = ("doctor", "nurse", "public_health", "village_doctor")
TEAM_ROLE_LABELS = {
    "doctor": "医生",
    "nurse": "护士",
    "public_health": "公卫医生",
    "village_doctor": "乡村医生",
}


class Staff(db.Model):
    """A person who signs in with a username and password.

    A `doctor` belongs to one team (any team role); an `admin` administers
    either one institution (and those below it) or, with no institution, the
    whole medical community.
    """

    __tablename__ = "staff"
    __table_args__ = (
        CheckConstraint("role IN ('doctor','admin')", name="role_known"),
        CheckConstraint(
            "team_role IS NULL OR team_role IN ('doctor','nurse','public_health','village_doctor')",
            name="team_role_known",
        ),
        CheckConstraint(
            "(role = 'doctor' AND team_id IS NOT NULL AND team_role IS NOT NULL) OR role = 'admin'",
            name="doctor_has_team",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    community_id: Mapped[int] = mapped_column(ForeignKey("medical_communities.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    team_role: Mapped[str | None] = mapped_column(String(30))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    team: Mapped["Team | None"] = relationship(  # noqa: F821
        "Team", foreign_keys=[team_id], back_populates="members"
    )


class LoginFailure(db.Model):
    """One failed password attempt; 5 within the window lock the account."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    ip: Mapped[str | None] = mapped_column(String(64))
