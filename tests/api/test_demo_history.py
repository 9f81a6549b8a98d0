"""`flask demo seed`'s history (services/demo/history.py): a year of the demo
county for the dashboard, added once, keeping what the rest of the app relies
on: each entitlement's `used` is its deliveries, no resident holds two
contracts in force on one day, and each patient's latest visit (so the
worklist) is the one the demo gave them."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from services.contracts.lifecycle import ContractSettings
from services.core import clock
from services.core.db import db
from services.demo import seed as demo
from services.demo.appointments import seed_demo_sessions
from services.demo.contracts import seed_demo_contracts
from services.demo.followups import seed_demo_followups
from services.demo.history import seed_demo_history
from services.models import (
    Contract,
    ContractEntitlement,
    FollowUp,
    OutboxMessage,
    ProgramEnrolment,
    Resident,
    ServiceDelivery,
)
from tests.factories import load_catalog, login


def _seed(app):
    demo.seed_demo(app.extensions["pii_cipher"])
    load_catalog()
    rules = app.extensions["followup_rules"]
    seed_demo_followups(rules)
    seed_demo_contracts(ContractSettings())
    seed_demo_sessions()
    db.session.commit()
    return rules


def test_history_is_added_once_and_keeps_the_invariants(app, client):
    rules = _seed(app)
    plans = dict(db.session.execute(select(ProgramEnrolment.id, ProgramEnrolment.next_due_date)).all())
    visits = db.session.scalar(select(func.count()).select_from(FollowUp))
    added = seed_demo_history(rules)
    db.session.commit()
    assert added["contracts_backdated"] > 40 and added["ended_contracts"] == 25
    assert added["deliveries"] > 100 and added["messages"] > 100 and added["followups"] > 20
    assert set(seed_demo_history(rules).values()) == {0}  # a second run adds nothing

    today = clock.today()
    # the residents registered 13-25 months ago, the signings spread over eleven months
    oldest = db.session.scalar(select(func.max(Resident.created_at)))
    assert clock.to_local(oldest).date() <= today - dt.timedelta(days=399)
    starts = set(db.session.scalars(select(Contract.starts_on).where(Contract.status == "active")))
    assert len(starts) > 20 and min(starts) >= today - dt.timedelta(days=330)
    # used == deliveries, entitlement by entitlement; nothing delivered after today or outside the term
    used = dict(db.session.execute(select(ContractEntitlement.id, ContractEntitlement.used)).all())
    delivered = dict(db.session.execute(select(ServiceDelivery.entitlement_id, func.count())
                                        .group_by(ServiceDelivery.entitlement_id)).all())
    assert {k: v for k, v in used.items() if v} == delivered
    outside = db.session.scalar(select(func.count()).select_from(ServiceDelivery)
                                .join(Contract, Contract.id == ServiceDelivery.contract_id)
                                .where((ServiceDelivery.delivered_on > today)
                                       | (ServiceDelivery.delivered_on < Contract.starts_on)
                                       | (ServiceDelivery.delivered_on > Contract.ends_on)))
    assert outside == 0
    # terms of one resident never overlap: each renewal starts the day after its predecessor ends
    renewals = db.session.execute(select(Contract, Contract.renewed_from_id)
                                  .where(Contract.renewed_from_id.is_not(None))).all()
    assert len(renewals) == 15
    for renewal, old_id in renewals:
        assert db.session.get(Contract, old_id).ends_on + dt.timedelta(days=1) == renewal.starts_on
    # the latest visit of every patient is unchanged, so the plan and the worklist are too
    assert dict(db.session.execute(select(ProgramEnrolment.id, ProgramEnrolment.next_due_date)).all()) == plans
    assert db.session.scalar(select(func.count()).select_from(FollowUp)) == visits + added["followups"]
    # reminders as the carriers reported them
    statuses = dict(db.session.execute(select(OutboxMessage.status, func.count())
                                       .where(OutboxMessage.dedupe_key.like("demo-history:%"))
                                       .group_by(OutboxMessage.status)).all())
    assert set(statuses) == {"delivered", "failed"} and statuses["delivered"] > 4 * statuses["failed"]

    # what the dashboard shows: a year with renewals, fulfilment, ratings and coverage that grew
    admin = login(client, "demo_admin", "demo-password")
    body = client.get("/api/v1/stats/overview", headers=admin,
                      query_string={"date_from": (today - dt.timedelta(days=364)).isoformat()}).get_json()
    assert body["renewal"]["denominator"] == 25 and body["renewal"]["numerator"] == 15
    assert body["fulfilment"]["numerator"] > 0 and body["satisfaction"]["denominator"] == added["ratings"]
    monthly = client.get("/api/v1/stats/monthly", headers=admin,
                         query_string={"metric": "coverage", "months": 12}).get_json()
    rates = [m["figures"]["coverage"]["rate"] for m in monthly["months"]]
    assert rates[0] < rates[-1]  # more residents signed now than a year ago
