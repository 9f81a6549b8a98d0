"""What a signed-in resident sees about themself."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, select

from services.db import db
from services.models import Contract, ProgramEnrolment, Resident
from services.models.contract import LIVE_CONTRACT_STATUSES


@dataclass
class MeSummary:
    contract: Contract | None
    upcoming: list[dict] = field(default_factory=list)


def current_contract(resident_id: int) -> Contract | None:
    """The active contract, else the newest one still being processed."""
    order = case((Contract.status == "active", 0), else_=1)
    return db.session.scalar(
        select(Contract).where(Contract.resident_id == resident_id,
                               Contract.status.in_(LIVE_CONTRACT_STATUSES))
        .order_by(order, Contract.id.desc()).limit(1)
    )


def upcoming_items(resident_id: int) -> list[dict]:
    """The resident's next follow-ups (soonest first); appointments join later."""
    rows = db.session.scalars(select(ProgramEnrolment).where(
        ProgramEnrolment.resident_id == resident_id, ProgramEnrolment.status == "active")
        .order_by(ProgramEnrolment.next_due_date)).all()
    return [{"kind": "followup", "program": e.program, "due_date": e.next_due_date.isoformat(),
             "team_id": e.team_id} for e in rows]


def summary(resident: Resident) -> MeSummary:
    return MeSummary(contract=current_contract(resident.id), upcoming=upcoming_items(resident.id))
