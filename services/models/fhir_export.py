"""FHIR Bulk Data exports (信息共享): each kick-off is a row, so an export survives
a restart of the web process (the scheduler picks up what is queued or was left
running) and its files expire with it."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from services.core.clock import now
from services.core.db import UTCDateTime, db

EXPORT_STATUSES = ("queued", "running", "done", "failed", "cancelled", "expired")


class FhirExport(db.Model):
    __tablename__ = "fhir_exports"
    __table_args__ = (
        CheckConstraint("status IN ('queued','running','done','failed','cancelled','expired')", name="status_known"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("medical_communities.id"))
    # The institutions whose records it holds (the admin's subtree), or one team (Group export).
    institution_ids: Mapped[list] = mapped_column(JSON, default=list)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    types: Mapped[list] = mapped_column(JSON, default=list)
    since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    request_url: Mapped[str] = mapped_column(String(1000))
    transaction_time: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    progress: Mapped[str | None] = mapped_column(String(200))
    output: Mapped[list] = mapped_column(JSON, default=list)  # [{type, count, file}]
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
