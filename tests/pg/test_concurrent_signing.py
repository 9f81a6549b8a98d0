"""20 concurrent on-site signings for one resident on PostgreSQL: exactly one
active contract, 19 x 409, nothing else written, no 500. And the last place
of a team cannot be taken twice, nor the last use of an entitlement."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from services.core.db import db
from services.models import Contract, ContractEntitlement, ContractEvent, ContractPackage, ServiceDelivery
from tests.concurrency import race
from tests.factories import load_catalog, login, make_resident

PAY = {"amount_fen": 800, "method": "cash", "receipt_no": "R1"}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_twenty_concurrent_signings_for_one_resident(app, world):
    load_catalog()
    resident = make_resident(world.thc_a, birth=dt.date(1970, 1, 1))
    headers = login(app.test_client(), "doctor_a")
    results = race(app, 20, lambda c, i: c.post("/api/v1/contracts", headers=headers, json={
        "resident_id": resident.id, "package_codes": ["basic"], "payment": PAY}))
    codes = sorted(code for code, _ in results)
    assert codes == [201] + [409] * 19, results
    assert {body["code"] for code, body in results if code == 409} == {"CONTRACT_ALREADY_ACTIVE"}
    assert count(Contract) == 1 and count(ContractEvent) == 1 and count(ContractPackage) == 1
    assert db.session.scalar(select(Contract.status)) == "active"
    n_items = db.session.scalar(select(func.count()).select_from(ContractEntitlement))
    assert n_items == len(db.session.scalar(select(ContractPackage.definition))["items"])


def test_last_team_place_is_taken_once(app, world):
    load_catalog()
    world.team_a.capacity_per_doctor = 3
    db.session.commit()
    residents = [make_resident(world.thc_a, name=f"居民{i}", birth=dt.date(1960, 1, 1) + dt.timedelta(days=i))
                 for i in range(10)]
    headers = login(app.test_client(), "doctor_a")
    results = race(app, 10, lambda c, i: c.post("/api/v1/contracts", headers=headers, json={
        "resident_id": residents[i].id, "package_codes": ["basic"], "payment": PAY}))
    codes = sorted(code for code, _ in results)
    assert codes == [201] * 3 + [409] * 7, results
    assert {body["code"] for code, body in results if code == 409} == {"TEAM_FULL"}
    assert count(Contract) == 3


def test_last_use_of_an_entitlement_is_taken_once(app, world, frozen_clock):
    load_catalog()
    resident = make_resident(world.thc_a, birth=dt.date(1970, 1, 1))
    client = app.test_client()
    headers = login(client, "doctor_a")
    contract = client.post("/api/v1/contracts", headers=headers, json={
        "resident_id": resident.id, "package_codes": ["basic"], "payment": PAY}).get_json()
    ent = min(contract["entitlements"], key=lambda e: e["promised"])
    results = race(app, 12, lambda c, i: c.post(f"/api/v1/contracts/{contract['id']}/services", headers=headers,
                                                json={"item_code": ent["item_code"], "delivered_on": "2026-03-02",
                                                      "place": "clinic"}))
    codes = sorted(code for code, _ in results)
    assert codes == [201] * ent["promised"] + [409] * (12 - ent["promised"]), results
    assert count(ServiceDelivery) == ent["promised"]
