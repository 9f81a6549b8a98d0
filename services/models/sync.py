"""Offline sync: the per-team change feed and the receipts of pushed records.

`sync_feed` holds one row per (team, kind, record) a team's phones hold or
held: the row's `(xid, version)` moves forward every time the record changes
or joins or leaves the team's panel (then `deleted` says which). A pull reads
a team's rows past its cursor in `(xid, version)` order; `xid` is the writing
transaction's id on PostgreSQL (0 on SQLite, whose writers are serialised),
so a page can stop below any transaction still in flight.

Pushed records are made exactly-once by the idempotency records of
`services.core.idempotency` (one per caller and client UUID).
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.core.db import db

# team_id of rows every team reads (round points are filtered by institution at pull time).
SHARED_TEAM = 0


class SyncFeedEntry(db.Model):
    __tablename__ = "sync_feed"
    __table_args__ = (
        UniqueConstraint("team_id", "kind", "entity_id", name="uq_sync_feed_team_kind_entity"),
        Index("ix_sync_feed_team_position", "team_id", "xid", "version"),
        Index("ix_sync_feed_kind_entity", "kind", "entity_id"),
        Index("ix_sync_feed_version", "version", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    team_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int] = mapped_column(Integer)
    resident_id: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(BigInteger)
    xid: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
