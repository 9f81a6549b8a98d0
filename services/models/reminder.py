"""The reminder outbox, opt-outs, WeChat one-time subscriptions and the
scheduler's leader lock.

Every message is one outbox row whose `dedupe_key` (kind + subject +
occurrence) is unique in the database, so planning twice, or two planners at
once, can never create a second message for the same event.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from services.core.clock import now
from services.core.db import UTCDateTime, db

MESSAGE_STATUSES = ("planned", "sending", "sent", "delivered", "failed", "cancelled", "suppressed")
MESSAGE_KINDS = ("followup_due", "followup_overdue", "appointment_reminder", "contract_ending",
                 "session_cancelled")
CHANNELS = ("sms", "wechat")


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(
            "status IN ('planned','sending','sent','delivered','failed','cancelled','suppressed')",
            name="status_known"),
        CheckConstraint("channel IN ('sms','wechat')", name="channel_known"),
        # What the dispatcher scans: due planned rows, oldest first.
        Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_messages_resident_sent_at", "resident_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    # The subject the message is about, for the staleness check before sending.
    subject_type: Mapped[str | None] = mapped_column(String(30))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    occurrence: Mapped[str | None] = mapped_column(String(40))
    recipient: Mapped[str | None] = mapped_column(String(30))  # E.164 mobile number
    channel: Mapped[str] = mapped_column(String(20), default="sms")
    template_code: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(String(500))
    # Values for the WeChat subscribe-message template.
    data: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="planned")
    status_reason: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # After this instant the message is pointless (e.g. the appointment started).
    not_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    provider_message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    provider_status: Mapped[str | None] = mapped_column(String(30))
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class SmsOptOut(db.Model):
    """A mobile number that replied 退订/TD/STOP (or that Twilio reports as unsubscribed)."""

    __tablename__ = "sms_opt_outs"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(30), unique=True)
    source: Mapped[str] = mapped_column(String(20))  # reply | provider
    keyword: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class WechatSubscription(db.Model):
    """One accepted one-time subscription (一次性订阅) allows one subscribe message."""

    __tablename__ = "wechat_subscriptions"
    __table_args__ = (
        Index("ix_wechat_subscriptions_resident_template_unused", "resident_id", "template_id", "used_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    template_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    used_by_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id"))


class LeaderLock(db.Model):
    """Which process may run the scheduler (SQLite; PostgreSQL uses an advisory lock).

    The holder renews `heartbeat_at`; a lock whose heartbeat is older than the
    lease can be taken over by a standby.
    """

    __tablename__ = "leader_locks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(100))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
