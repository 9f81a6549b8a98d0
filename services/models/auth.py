"""Sign-in state: revoked JWTs, revoked token families and one-time SMS codes."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.core.clock import now
from services.core.db import UTCDateTime, db


class RevokedToken(db.Model):
    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_type: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class RevokedTokenFamily(db.Model):
    """A sign-in whose tokens are all refused: every access and refresh token
    carrying this `fam` claim, whichever rotation minted it. Written on logout
    and when a used refresh token is presented again (reuse). The row can go
    once every token of the family has expired (`expires_at`)."""

    __tablename__ = "revoked_token_families"

    family_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(10))
    revoked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (CheckConstraint("reason IN ('logout','reuse')", name="reason_known"),)


class OtpCode(db.Model):
    """A login code sent by SMS. Only a keyed hash of the code is kept."""

    __tablename__ = "otp_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    requested_ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
