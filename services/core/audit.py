"""The audit trail of personal-data access (PIPL): reads, changes, reveals."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, insert, or_, select

from services.access.scope import Scope
from services.core import clock
from services.core.db import db
from services.core.pagination import Page, paginate
from services.models import AuditLog, Resident


@dataclass(frozen=True)
class RequestContext:
    """Where a call came from, for the audit trail (plain values, no HTTP objects)."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


def _row(scope: Scope | None, action: str, resident: Resident | None, ctx: RequestContext | None,
         actor_name: str | None, detail: dict | None) -> dict:
    ctx = ctx or RequestContext()
    return dict(
        at=clock.now(),
        actor_type=scope.kind if scope else "system",
        actor_id=scope.actor_id if scope else None,
        actor_name=actor_name or (scope.actor_name if scope else None),
        action=action,
        resident_id=resident.id if resident is not None else None,
        institution_id=resident.institution_id if resident is not None else (
            scope.home_institution_id if scope else None),
        ip=ctx.ip,
        user_agent=(ctx.user_agent or "")[:200] or None,
        request_id=ctx.request_id,
        detail=detail,
    )


def record(scope: Scope | None, action: str, *, resident: Resident | None = None,
           ctx: RequestContext | None = None, actor_name: str | None = None,
           detail: dict | None = None) -> AuditLog:
    row = AuditLog(**_row(scope, action, resident, ctx, actor_name, detail))
    db.session.add(row)
    return row


_INSERT = insert(AuditLog.__table__)  # Core: no ORM bulk path for one row


def _insert(values: dict) -> None:
    """A read's audit row: one INSERT in the request's own transaction, sent now
    (no unit of work, no RETURNING), committed or rolled back with the request."""
    db.session.connection().execute(_INSERT, values)


def record_read(scope: Scope, ctx: RequestContext | None, what: str | None = None, *,
                resident: Resident | None = None, listed: Iterable[int] | None = None,
                detail: dict | None = None) -> None:
    """The one audit call for reads, lists and single records alike.

    One resident's record is a `read` row about that resident (`what` names the
    record, e.g. "followups"). A list that shows residents is a `search` row
    naming every resident shown (`listed`), written for staff only: a resident
    listing their own bookings reads nothing of anyone else.
    """
    if listed is None:
        extra = {"record": what, **(detail or {})} if what else detail
        _insert(_row(scope, "read", resident, ctx, None, extra))
        return
    if not scope.is_staff:
        return
    ids = list(listed)
    head = {"list": what} if what else {}
    _insert(_row(scope, "search", None, ctx, None, {**head, **(detail or {}), "resident_ids": ids}))


def audit_query(scope: Scope, *, resident_id: int | None = None, action: str | None = None,
                actor_type: str | None = None, actor_id: int | None = None) -> Select:
    """Audit rows an admin may list: those about institutions in their scope."""
    stmt = select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc())
    visible = AuditLog.institution_id.in_(sorted(scope.institution_ids))
    if scope.home_institution_id is None:  # the medical-community admin also sees community-level rows
        visible = or_(visible, AuditLog.institution_id.is_(None))
    stmt = stmt.where(visible)
    if resident_id is not None:
        stmt = stmt.where(AuditLog.resident_id == resident_id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if actor_type:
        stmt = stmt.where(AuditLog.actor_type == actor_type)
    if actor_id is not None:
        stmt = stmt.where(AuditLog.actor_id == actor_id)
    return stmt


def audit_page(scope: Scope, filters: dict, page: int, page_size: int) -> Page:
    return paginate(audit_query(scope, **filters), page, page_size)
