"""Revoked JWT ids, kept in the database so logout holds across processes."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from services.core import clock
from services.core.db import db
from services.models import RevokedToken


def revoke_token(jti: str, token_type: str, subject: str, expires_at: dt.datetime) -> None:
    if db.session.get(RevokedToken, jti) is None:
        db.session.add(RevokedToken(jti=jti, token_type=token_type, subject=subject,
                                    expires_at=expires_at, revoked_at=clock.now()))


def revoke_claims(claims: dict) -> None:
    """Revoke a decoded JWT (its jti, type, subject and expiry)."""
    revoke_token(claims["jti"], claims.get("type", "access"), claims["sub"],
                 dt.datetime.fromtimestamp(claims["exp"], dt.timezone.utc))


def is_revoked(jti: str) -> bool:
    return db.session.scalar(select(RevokedToken.jti).where(RevokedToken.jti == jti)) is not None


def purge_expired_revocations() -> int:
    """Rows for tokens that have expired anyway can go (idempotent housekeeping)."""
    result = db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < clock.now()))
    return result.rowcount or 0
