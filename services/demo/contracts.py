"""Demo contracts: about a third of the demo residents signed on site by
their township's teams, with the packages they are eligible for, so team
cards, /me and the contract lists have something to show. Idempotent:
residents who already have any contract are left alone."""
from __future__ import annotations

from sqlalchemy import select

from services import catalog, contracts
from services.access.scope import resident_visible, scope_for_staff
from services.core import clock
from services.core.db import db
from services.core.errors import DomainError
from services.models import Contract, Resident, Staff, Team
from services.models.org import Institution

OPTIONAL = ("elderly", "hypertension", "diabetes", "mental_health", "maternal", "child", "disabled")


def seed_demo_contracts(settings: contracts.ContractSettings, community_code: str = "demo") -> int:
    current = {v.code: v for v in catalog.current_versions()}
    if "basic" not in current:
        return 0
    today = clock.today()
    teams = db.session.scalars(
        select(Team).join(Institution, Team.institution_id == Institution.id)
        .where(Team.code.like(f"{community_code}-%")).order_by(Team.id)).all()
    scopes = []
    for team in teams:
        lead = db.session.get(Staff, team.lead_doctor_id) if team.lead_doctor_id else None
        if lead is not None:
            scopes.append((team, scope_for_staff(lead)))
    has_contract = select(Contract.id).where(Contract.resident_id == Resident.id).exists()
    # A fixed third of the residents (by id), so a second run picks the same people.
    chosen = db.session.scalars(select(Resident).where(~has_contract, Resident.id % 3 == 0)
                                .order_by(Resident.id)).all()
    signed = 0
    for resident in chosen:
        seeing = [(t, sc) for t, sc in scopes if db.session.scalar(
            select(Resident.id).where(Resident.id == resident.id, resident_visible(sc))) is not None]
        if not seeing:
            continue
        # Teams at one township share its villages: spread residents between them.
        team, scope = seeing[(resident.id // 3) % len(seeing)]
        optional = [current[c] for c in OPTIONAL if c in current]
        codes = ["basic"] + [v.code for v, r in contracts.eligibility_marks(resident, optional, today)
                             if r.eligible][:2]
        try:
            quote = contracts.prepare_quote(resident, codes, today).quote
            payment = {"amount_fen": quote.self_pay_fen, "method": "cash", "receipt_no": f"DEMO-{resident.id:05d}"}
            with db.session.begin_nested():
                contracts.create_contract({"resident_id": resident.id, "team_id": team.id,
                                           "package_codes": codes, "payment": payment}, scope, settings)
            signed += 1
        except DomainError:
            continue  # e.g. a floating resident not yet six months here
    return signed
