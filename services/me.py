"""What a signed-in resident sees about themself."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, select

from services.db import db
from services.models import Contract, Resident
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


def summary(resident: Resident) -> MeSummary:
    return MeSummary(contract=current_contract(resident.id), upcoming=[])
