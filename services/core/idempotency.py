"""Idempotency keys: find a remembered response, or remember one in the
same transaction as the write it answers."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from services.core import clock
from services.core.db import db
from services.models import IdempotencyRecord

RETENTION = dt.timedelta(days=7)


def find(actor: str, key: str) -> IdempotencyRecord | None:
    return db.session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.actor == actor, IdempotencyRecord.key == key,
                                        IdempotencyRecord.created_at > clock.now() - RETENTION)
    )


def remember(actor: str, key: str, method: str, path: str, fingerprint: str,
             status_code: int, body: str) -> None:
    # An expired record with the same key gives way to the new one.
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.actor == actor,
                                                       IdempotencyRecord.key == key))
    db.session.add(IdempotencyRecord(actor=actor, key=key, method=method, path=path,
                                     fingerprint=fingerprint, status_code=status_code,
                                     response_body=body, created_at=clock.now()))


def purge_expired() -> int:
    result = db.session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at <= clock.now() - RETENTION))
    return result.rowcount or 0
