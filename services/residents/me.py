"""What a signed-in resident sees about themself."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, select
from sqlalchemy.orm import joinedload, lazyload

from services.access.scope import Scope
from services.appointments.views import upcoming_for_resident
from services.core import clock
from services.core.audit import RequestContext
from services.core.crypto import PiiCipher
from services.core.db import db
from services.models import Contract, ProgramEnrolment
from services.models.contract import LIVE_CONTRACT_STATUSES
from services.residents.register import ResidentView, read_resident


def current_contract(resident_id: int) -> Contract | None:
    """The active contract, else the newest one still being processed, with its team
    (one statement: the summary shows neither its packages nor its entitlements)."""
    order = case((Contract.status == "active", 0), else_=1)
    return db.session.scalar(
        select(Contract).where(Contract.resident_id == resident_id,
                               Contract.status.in_(LIVE_CONTRACT_STATUSES))
        .options(joinedload(Contract.team), lazyload(Contract.packages), lazyload(Contract.entitlements))
        .order_by(order, Contract.id.desc()).limit(1)
    )


def upcoming_items(resident_id: int) -> list[dict]:
    """The resident's next follow-ups and appointments, soonest first."""
    rows = db.session.scalars(select(ProgramEnrolment).where(
        ProgramEnrolment.resident_id == resident_id, ProgramEnrolment.status == "active")
        .order_by(ProgramEnrolment.next_due_date)).all()
    items = [(e.next_due_date, {"kind": "followup", "program": e.program, "due_date": e.next_due_date.isoformat(),
                                "team_id": e.team_id}) for e in rows]
    for appt in upcoming_for_resident(resident_id):
        slot = appt.slot
        items.append((clock.to_local(slot.starts_at).date(), {
            "kind": "appointment", "appointment_id": appt.id, "status": appt.status, "slot_id": slot.id,
            "slot_kind": slot.kind, "starts_at": clock.to_local(slot.starts_at).isoformat(),
            "ends_at": clock.to_local(slot.ends_at).isoformat(), "team_id": slot.team_id,
            "round_point_id": slot.round_point_id}))
    items.sort(key=lambda pair: pair[0])
    return [item for _, item in items]


@dataclass
class MeView:
    profile: ResidentView
    contract: Contract | None
    upcoming: list[dict]


def me_view(scope: Scope, cipher: PiiCipher, ctx: RequestContext | None = None) -> MeView:
    """The signed-in resident's own record (an audited read), current contract and what is coming up."""
    profile = read_resident(scope.resident_id, scope, cipher, ctx)
    resident = profile.resident
    return MeView(profile, current_contract(resident.id), upcoming_items(resident.id))
