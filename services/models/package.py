"""Loaded catalog versions. Old versions stay: signed contracts refer to them."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.core.clock import now
from services.core.db import UTCDateTime, db


class PackageVersion(db.Model):
    __tablename__ = "package_versions"
    __table_args__ = (UniqueConstraint("code", "version", name="uq_package_versions_code_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    effective_from: Mapped[dt.date] = mapped_column(Date)
    list_value_fen: Mapped[int] = mapped_column(Integer)
    self_pay_fen: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict] = mapped_column(JSON)
    source_file: Mapped[str | None] = mapped_column(String(200))
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
