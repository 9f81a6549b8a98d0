"""Contracts (签约). The foundation needs who is signed with which team for
scope and team capacity; packages, money and entitlements come with the
contracts issue."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.clock import now
from services.db import UTCDateTime, db

CONTRACT_STATUSES = ("pending", "awaiting_payment", "active", "expired", "terminated", "rejected")
# Statuses under which the team looks after the resident (and may see them).
LIVE_CONTRACT_STATUSES = ("pending", "awaiting_payment", "active")


class Contract(db.Model):
    __tablename__ = "contracts"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending','awaiting_payment','active','expired','terminated','rejected')",
            name="status_known",
        ),
        # One active contract per resident, enforced by the database on both engines.
        Index(
            "uq_contracts_one_active_per_resident",
            "resident_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_contracts_team_status", "team_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    status: Mapped[str] = mapped_column(String(20))
    starts_on: Mapped[dt.date | None] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    team: Mapped["Team"] = relationship()  # noqa: F821
