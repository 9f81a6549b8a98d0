"""Idempotency keys: exactly one request per (caller, key) does the work.

A request first *claims* its key in a short transaction of its own (a row with
`status_code = 0`, "in progress"); the unique (actor, key) constraint lets one
claim win under any concurrency. The winner runs, and its 2xx answer is written
into the claim in the same transaction as the change it answers; a failure
releases the claim so the client can retry. Everyone else finds the claim: the
finished answer is replayed, an unfinished one is 409 IDEMPOTENCY_IN_PROGRESS,
another body under the same key is 422 IDEMPOTENCY_KEY_REUSED.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from services.core import clock
from services.core.db import db
from services.models import IdempotencyRecord

RETENTION = dt.timedelta(days=7)
IN_PROGRESS = 0
# A claim still in progress after this was left by a crashed process: it may be taken over.
STALE_CLAIM = dt.timedelta(seconds=120)


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key: `record_id` is ours to fill (we won), or
    `existing` is someone else's record (finished or still in progress)."""

    record_id: int | None = None
    existing: IdempotencyRecord | None = None


def find(actor: str, key: str, retention: dt.timedelta = RETENTION) -> IdempotencyRecord | None:
    return db.session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.actor == actor, IdempotencyRecord.key == key,
                                        IdempotencyRecord.created_at > clock.now() - retention)
    )


def claim(actor: str, key: str, method: str, path: str, fingerprint: str,
          retention: dt.timedelta = RETENTION) -> Claim:
    """Claim (actor, key) and commit the claim, or return the record that holds it.

    Commits: the claim must be visible to every concurrent request before the work starts."""
    now = clock.now()
    # An expired record, or an in-progress claim a crash left behind, gives way.
    db.session.execute(delete(IdempotencyRecord).where(
        IdempotencyRecord.actor == actor, IdempotencyRecord.key == key,
        (IdempotencyRecord.created_at <= now - retention)
        | ((IdempotencyRecord.status_code == IN_PROGRESS) & (IdempotencyRecord.created_at <= now - STALE_CLAIM))))
    record = IdempotencyRecord(actor=actor, key=key, method=method, path=path, fingerprint=fingerprint,
                               status_code=IN_PROGRESS, response_body="", created_at=now)
    db.session.add(record)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = find(actor, key, retention)
        if existing is None:  # the holder released it between our insert and this read
            return claim(actor, key, method, path, fingerprint, retention)
        return Claim(existing=existing)
    return Claim(record_id=record.id)


def complete(record_id: int, status_code: int, body: str) -> None:
    """Write the answer into our claim, in the transaction of the change it answers."""
    db.session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == record_id)
                       .values(status_code=status_code, response_body=body))


def release(record_id: int) -> None:
    """Give the key back after a failure (in a transaction of its own), so a retry runs again."""
    db.session.rollback()
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id,
                                                       IdempotencyRecord.status_code == IN_PROGRESS))
    db.session.commit()


# Pushed offline records (`method = SYNC_METHOD`) are remembered longer: a phone
# may come back to signal days after a push whose answer it never got.
SYNC_METHOD = "SYNC"
SYNC_RETENTION = dt.timedelta(days=90)


def purge_expired(sync_retention: dt.timedelta = SYNC_RETENTION) -> int:
    now = clock.now()
    result = db.session.execute(delete(IdempotencyRecord).where(
        ((IdempotencyRecord.method != SYNC_METHOD) & (IdempotencyRecord.created_at <= now - RETENTION))
        | (IdempotencyRecord.created_at <= now - max(sync_retention, RETENTION))))
    return result.rowcount or 0
