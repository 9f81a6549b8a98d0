"""Audit log: who read or changed which resident, when, from where."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from services.core.clock import now
from services.core.db import UTCDateTime, db

AUDIT_ACTIONS = ("read", "search", "create", "update", "reveal", "login")


class AuditLog(db.Model):
    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("ix_audit_logs_resident_at", "resident_id", "at"),
        Index("ix_audit_logs_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    actor_type: Mapped[str] = mapped_column(String(20))  # staff | resident | system
    actor_id: Mapped[int | None] = mapped_column()
    actor_name: Mapped[str | None] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(20))
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="SET NULL"), index=False
    )
    # Institution of the resident at the time, so admins' scope covers the row.
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSON)
