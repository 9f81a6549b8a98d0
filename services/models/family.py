"""Family links (家庭成员): a resident acting for a linked member, e.g. a daughter
booking for her father who has no smartphone, once the member consented."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from services.core.clock import now
from services.core.db import UTCDateTime, db

FAMILY_RELATIONS = {"parent": "父母", "child": "子女", "spouse": "配偶", "other": "其他"}
LINK_STATUSES = ("pending", "active", "removed")


class FamilyLink(db.Model):
    """`resident_id` (the proxy) may act for `member_id` while the link is active."""

    __tablename__ = "family_links"
    __table_args__ = (
        CheckConstraint("relation IN ('parent','child','spouse','other')", name="relation_known"),
        CheckConstraint("status IN ('pending','active','removed')", name="status_known"),
        CheckConstraint("resident_id <> member_id", name="not_self"),
        # one live link (pending or active) per pair, so a race of two requests adds one
        Index("uq_family_links_live_pair", "resident_id", "member_id", unique=True,
              sqlite_where=text("status IN ('pending','active')"),
              postgresql_where=text("status IN ('pending','active')")),
        Index("ix_family_links_member", "member_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    relation: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # The proxy also gets the member's reminders when the member has no mobile number.
    reminders_to_proxy: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    code_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    code_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    confirmed_via: Mapped[str | None] = mapped_column(String(20))  # sms | staff
    confirmed_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    removed_by: Mapped[str | None] = mapped_column(String(40))  # resident:<id> | staff:<id>
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
