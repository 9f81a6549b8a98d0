"""`flask demo seed` signs a fixed third of the demo residents, once."""
from __future__ import annotations

from sqlalchemy import func, select

from services.contracts.lifecycle import ContractSettings
from services.core.db import db
from services.demo import seed as demo
from services.demo.contracts import seed_demo_contracts
from services.models import Contract, Team
from tests.factories import load_catalog


def test_demo_contracts_are_signed_once_and_spread_over_teams(app):
    demo.seed_demo(app.extensions["pii_cipher"])
    db.session.commit()
    assert seed_demo_contracts(ContractSettings()) == 0  # no catalog loaded yet: nothing to sign
    load_catalog()
    first = seed_demo_contracts(ContractSettings())
    db.session.commit()
    assert first > 40
    assert seed_demo_contracts(ContractSettings()) == 0
    per_team = dict(db.session.execute(select(Contract.team_id, func.count()).group_by(Contract.team_id)).all())
    assert len(per_team) == db.session.scalar(select(func.count()).select_from(Team)) == 4
    assert sum(per_team.values()) == first
    statuses = set(db.session.scalars(select(Contract.status)))
    assert statuses == {"active"}


def test_demo_patients_are_enrolled_once_with_a_judged_visit(app):
    from services.demo.followups import seed_demo_followups
    from services.models import FollowUp, ProgramEnrolment

    demo.seed_demo(app.extensions["pii_cipher"])
    db.session.commit()
    rules = app.extensions["followup_rules"]
    first = seed_demo_followups(rules)
    db.session.commit()
    assert first > 20
    assert seed_demo_followups(rules) == 0
    assert db.session.scalar(select(func.count()).select_from(ProgramEnrolment)) == first
    assert db.session.scalar(select(func.count()).select_from(FollowUp)) == first
    assert set(db.session.scalars(select(FollowUp.rules_version))) == {rules.version}
