"""The audit trail of personal-data access (PIPL): reads, changes, reveals."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, or_, select

from services import clock
from services.db import db
from services.models import AuditLog, Resident
from services.scope import Scope


@dataclass(frozen=True)
class RequestContext:
    """Where a call came from, for the audit trail (plain values, no HTTP objects)."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


def record(scope: Scope | None, action: str, *, resident: Resident | None = None,
           ctx: RequestContext | None = None, actor_name: str | None = None,
           detail: dict | None = None) -> AuditLog:
    ctx = ctx or RequestContext()
    row = AuditLog(
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
    db.session.add(row)
    return row


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
