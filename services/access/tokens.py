"""Revoked JWT ids and token families, kept in the database so logout and
refresh-token rotation hold across processes.

Every sign-in starts a *family*: a random id carried as the `fam` claim by its
access and refresh tokens and kept through every rotation. A refresh token is
single-use: exchanging it writes its jti to `revoked_tokens` (the primary key
makes that insert the one decision when two requests race), and presenting a
used one again is taken as theft (OWASP refresh-token reuse detection): the
whole family is revoked, so every token of that sign-in is refused.

Plain values in and out; the HTTP layer reads the claims and commits.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from services.core import clock
from services.core.db import db
from services.models import RevokedToken, RevokedTokenFamily

log = logging.getLogger("fdoc.access.tokens")

FAMILY_CLAIM = "fam"


def new_family_id() -> str:
    return secrets.token_hex(16)


def family_of(claims: dict) -> str:
    """The family of a decoded token. Tokens minted before families existed
    have no `fam` claim: each such refresh token is a family of its own (its
    jti), and the tokens its rotation mints carry that id on."""
    return claims.get(FAMILY_CLAIM) or claims["jti"]


def expiry_of(claims: dict) -> dt.datetime:
    return dt.datetime.fromtimestamp(claims["exp"], dt.timezone.utc)


def revoke_token(jti: str, token_type: str, subject: str, expires_at: dt.datetime) -> None:
    """Idempotent, also when two logouts revoke the same token at once."""
    if db.session.get(RevokedToken, jti) is not None:
        return
    try:
        with db.session.begin_nested():
            db.session.add(RevokedToken(jti=jti, token_type=token_type, subject=subject,
                                        expires_at=expires_at, revoked_at=clock.now()))
    except IntegrityError:
        pass  # revoked by a concurrent request: the same outcome


def revoke_claims(claims: dict) -> None:
    """Revoke a decoded JWT (its jti, type, subject and expiry)."""
    revoke_token(claims["jti"], claims.get("type", "access"), claims["sub"], expiry_of(claims))


def revoke_family(family_id: str, subject: str, reason: str, lifetime: dt.timedelta) -> None:
    """Refuse every token of `family_id` from now on. `lifetime` is the longest
    a token lives: every token of the family was minted before now, so the row
    may go after now + lifetime. Idempotent, also when two requests revoke the
    same family at once."""
    if db.session.get(RevokedTokenFamily, family_id) is not None:
        return
    now = clock.now()
    try:
        with db.session.begin_nested():
            db.session.add(RevokedTokenFamily(family_id=family_id, subject=subject, reason=reason,
                                              revoked_at=now, expires_at=now + lifetime))
    except IntegrityError:
        pass  # a concurrent request revoked it first: the same outcome


def retire_refresh_token(jti: str, subject: str, expires_at: dt.datetime) -> bool:
    """Mark a refresh token used. False when it had been used (or revoked)
    already: only one of two concurrent exchanges of one token gets True."""
    try:
        with db.session.begin_nested():
            db.session.add(RevokedToken(jti=jti, token_type="refresh", subject=subject,
                                        expires_at=expires_at, revoked_at=clock.now()))
    except IntegrityError:
        return False
    return True


def rotate_refresh_token(jti: str, subject: str, family_id: str, expires_at: dt.datetime,
                         lifetime: dt.timedelta) -> bool:
    """Exchange the refresh token `jti` once. True: the caller may mint its
    successors in `family_id`. False: the token had been used before, which
    means someone else holds a copy; the whole family is revoked (the caller
    commits that and answers 401)."""
    if retire_refresh_token(jti, subject, expires_at):
        return True
    log.warning("refresh token reused: subject=%s family=%s jti=%s; family revoked", subject, family_id, jti)
    revoke_family(family_id, subject, "reuse", lifetime)
    return False


def is_family_revoked(family_id: str) -> bool:
    return db.session.scalar(
        select(RevokedTokenFamily.family_id).where(RevokedTokenFamily.family_id == family_id)) is not None


def purge_expired_revocations() -> int:
    """Rows for tokens that have expired anyway can go (idempotent housekeeping)."""
    result = db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < clock.now()))
    return result.rowcount or 0


def purge_expired_families() -> int:
    """Families whose every token has expired anyway can go (idempotent housekeeping)."""
    result = db.session.execute(delete(RevokedTokenFamily).where(RevokedTokenFamily.expires_at < clock.now()))
    return result.rowcount or 0
