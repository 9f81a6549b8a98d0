"""N requests with one Idempotency-Key at the same moment: exactly one record,
every other answer a replay of the first or 409 IDEMPOTENCY_IN_PROGRESS (runs
on SQLite and, under TEST_DB=postgres, on PostgreSQL)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from services.core.db import db
from services.models import IdempotencyRecord, Referral
from tests.concurrency import race
from tests.factories import login, make_resident

N = 50


def _referral_body(world):
    resident = make_resident(world.thc_a, birth=dt.date(1950, 5, 1))
    return {"resident_id": resident.id, "to_institution_id": world.county.id, "reason": "血压控制不佳，上转"}


def test_fifty_concurrent_posts_with_one_key_create_one_referral(app, world):
    headers = {**login(app.test_client(), "doctor_a"), "Idempotency-Key": "round-7-referral-1"}
    body = _referral_body(world)
    results = race(app, N, lambda client, i: client.post("/api/v1/referrals", json=body, headers=headers))
    created = [b for status, b in results if status == 201]
    in_progress = [b for status, b in results if status == 409]
    assert len(created) + len(in_progress) == N, sorted(status for status, _ in results)
    assert all(b["code"] == "IDEMPOTENCY_IN_PROGRESS" for b in in_progress)
    assert {b["id"] for b in created} and len({b["id"] for b in created}) == 1  # replays name the same referral
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Referral)) == 1
    only = db.session.scalar(select(Referral.id))
    assert created[0]["id"] == only
    # A later retry replays the first answer.
    again = app.test_client().post("/api/v1/referrals", json=body, headers=headers)
    assert again.status_code == 201 and again.get_json()["id"] == only
    assert again.headers["Idempotent-Replayed"] == "true"
    assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1


def test_in_progress_answer_carries_retry_after_and_another_body_is_422(app, world):
    headers = {**login(app.test_client(), "doctor_a"), "Idempotency-Key": "k-2"}
    body = _referral_body(world)
    results = race(app, 8, lambda client, i: client.post("/api/v1/referrals", json=body, headers=headers))
    assert sorted({s for s, _ in results}) in ([201], [201, 409])
    other = app.test_client().post("/api/v1/referrals", json={**body, "reason": "另一个原因"}, headers=headers)
    assert other.status_code == 422 and other.get_json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Referral)) == 1


def test_a_failed_request_releases_its_key(app, world):
    client = app.test_client()
    headers = {**login(client, "doctor_a"), "Idempotency-Key": "k-3"}
    body = _referral_body(world)
    bad = client.post("/api/v1/referrals", json={**body, "to_institution_id": 999999}, headers=headers)
    assert bad.status_code in (404, 422)
    assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0
    fixed = client.post("/api/v1/referrals", json={**body, "to_institution_id": 999999}, headers=headers)
    assert fixed.status_code == bad.status_code  # the same body runs again, it is not "in progress"
