"""Push: records a phone made offline, each stored exactly once, each in its
own transaction, each judged by the code path its online endpoint uses.

Exactly once: a record's client UUID is an idempotency key of its caller
(an `idempotency_records` row, kept `receipt_days`), inserted in the same
transaction as the record and its answer. A second push of the UUID (a
retry, or the same batch racing from another connection) finds the answer,
or waits on the unique key until the first commits, and gets the first
answer again as `duplicate`. A rejected record rolls back with its claim, so
nothing of it stays and a corrected retry under the same UUID is judged again.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from services.access.scope import Scope, resident_visible
from services.core import audit, clock, idempotency
from services.core.crypto import PiiCipher
from services.core.db import db
from services.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from services.models import IdempotencyRecord, Resident

# type -> handler(record) -> (status, result); a handler raises DomainError to reject.
Handler = Callable[[dict], tuple[str, dict]]


class StaleRecord(Conflict):
    """An update made from an older version of the record: nothing is overwritten."""

    code = "CONFLICT"

    def __init__(self, current: dict):
        super().__init__("该记录已被他人修改，请按当前记录重新核对后再提交", code="CONFLICT")
        self.current = current


@dataclass(frozen=True)
class PushContext:
    scope: Scope
    receipt_days: int = 90


def _fingerprint(record: dict) -> str:
    canonical = json.dumps({"type": record["type"], "base_version": record.get("base_version"),
                            "data": record["data"]}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _rejected(uuid: str, error: DomainError) -> dict:
    code = error.code
    if isinstance(error, NotFound):
        code = "OUT_OF_SCOPE"
    elif code == ValidationFailed.code:
        code = "VALIDATION_FAILED"
    out = {"uuid": uuid, "status": "rejected", "code": code, "message": error.message}
    if getattr(error, "errors", None):
        out["errors"] = error.errors
    if isinstance(error, StaleRecord):
        out["current"] = error.current
    return out


def push_records(records: list[dict], handlers: dict[str, Handler], ctx: PushContext) -> list[dict]:
    return [_push_one(record, handlers[record["type"]], ctx) for record in records]


def _replay(uuid: str, existing) -> dict:
    first = json.loads(existing.response_body)
    return {"uuid": uuid, "status": "duplicate", "result": first.get("result"), "first_status": first["status"]}


def _claim(actor: str, key: str, record: dict, fingerprint: str, retention: dt.timedelta):
    """Our claim on the UUID, inserted in the record's own transaction; or the
    earlier answer. A push of the same UUID racing ours waits on the unique
    key until ours commits (then finds our answer) or rolls back (then claims
    it itself)."""
    dialect = db.session.get_bind().dialect.name
    table = IdempotencyRecord.__table__
    for _ in range(3):
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(table).values(
            actor=actor, key=key, method=idempotency.SYNC_METHOD, path=f"/sync/push#{record['type']}",
            fingerprint=fingerprint, status_code=200, response_body="", created_at=clock.now())
        claim_id = db.session.scalar(insert.on_conflict_do_nothing(index_elements=["actor", "key"])
                                     .returning(table.c.id))
        if claim_id is not None:
            return claim_id, None
        existing = idempotency.find(actor, key, retention)
        db.session.rollback()
        if existing is not None:
            return None, existing
        db.session.execute(delete(IdempotencyRecord).where(  # an expired receipt gives way
            IdempotencyRecord.actor == actor, IdempotencyRecord.key == key,
            IdempotencyRecord.created_at <= clock.now() - retention))
        db.session.commit()
    raise Conflict("相同 UUID 的记录正在处理，请稍后重试", code="IN_PROGRESS")


def _push_one(record: dict, handler: Handler, ctx: PushContext) -> dict:
    uuid = record["uuid"]
    actor, key = f"staff:{ctx.scope.actor_id}", f"sync:{uuid}"
    fingerprint = _fingerprint(record)
    try:
        claim, existing = _claim(actor, key, record, fingerprint, dt.timedelta(days=ctx.receipt_days))
    except DomainError as error:
        return _rejected(uuid, error)
    if existing is not None:
        if existing.fingerprint != fingerprint:
            return _rejected(uuid, ValidationFailed.field("uuid", "该 UUID 已用于另一条不同的记录", code="UUID_REUSED"))
        return _replay(uuid, existing)
    try:
        status, result = handler(record)
        db.session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == claim).values(
            response_body=json.dumps({"status": status, "result": result}, ensure_ascii=False, default=str)))
        db.session.commit()
        return {"uuid": uuid, "status": status, "result": result}
    except DomainError as error:
        db.session.rollback()
        return _rejected(uuid, error)
    except IntegrityError:
        db.session.rollback()
        return _rejected(uuid, Conflict("与服务器上的记录冲突，请同步后重试", code="CONFLICT"))
    except BaseException:
        db.session.rollback()
        raise


def update_resident_checked(resident_id: int, base_version: int | None, changes: dict, scope: Scope,
                            cipher: PiiCipher, shown: Callable[[Resident], dict],
                            update: Callable[..., object], ctx: audit.RequestContext | None = None) -> dict:
    """A correction made offline from `base_version`: applied only if the resident
    is still at that version (the row is locked while checking), else StaleRecord
    carrying the current record."""
    if base_version is None:
        raise ValidationFailed.field("base_version", "修改居民信息须提供所依据的版本 base_version")
    resident = db.session.scalar(select(Resident).where(Resident.id == resident_id, resident_visible(scope))
                                 .with_for_update(of=Resident).execution_options(populate_existing=True))
    if resident is None:
        raise NotFound("居民不存在", code="RESIDENT_NOT_FOUND")
    if resident.version != base_version:
        raise StaleRecord(shown(resident))
    update(resident_id, changes, scope, cipher, ctx)
    db.session.flush()
    db.session.refresh(resident)
    return shown(resident)
