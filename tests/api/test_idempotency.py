"""Idempotency-Key on POSTs: a retry returns the first result and creates nothing."""
from __future__ import annotations

from sqlalchemy import func, select

from services.core.db import db
from services.models import AuditLog, IdempotencyRecord, Resident
from tests.factories import login

BODY = {"name": "刘秀英", "id_number": "11010519491231002X", "phone": "13912345678"}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_retry_with_same_key_replays_first_response(client, world):
    headers = {**login(client, "doctor_a"), "Idempotency-Key": "a1b2c3"}
    first = client.post("/api/v1/residents", json=BODY, headers=headers)
    assert first.status_code == 201
    retry = client.post("/api/v1/residents", json=BODY, headers=headers)
    assert retry.status_code == 201
    assert retry.get_json() == first.get_json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert count(Resident) == 1
    assert count(IdempotencyRecord) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "create")) == 1
    # Without the key the same body is a duplicate registration.
    plain = client.post("/api/v1/residents", json=BODY, headers=login(client, "doctor_a"))
    assert plain.status_code == 409


def test_same_key_with_a_different_body_is_refused(client, world):
    headers = {**login(client, "doctor_a"), "Idempotency-Key": "k-1"}
    assert client.post("/api/v1/residents", json=BODY, headers=headers).status_code == 201
    other = client.post("/api/v1/residents", json={**BODY, "name": "别人", "id_number": "110105194912310038"},
                        headers=headers)
    assert other.status_code == 422
    assert other.get_json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert count(Resident) == 1


def test_keys_are_per_caller(client, world):
    a = {**login(client, "doctor_a"), "Idempotency-Key": "same"}
    b = {**login(client, "admin_all"), "Idempotency-Key": "same"}
    assert client.post("/api/v1/residents", json=BODY, headers=a).status_code == 201
    r = client.post("/api/v1/residents", json={**BODY, "id_number": "110105194912310038",
                                               "institution_id": world.thc_b.id}, headers=b)
    assert r.status_code == 201
    assert count(Resident) == 2


def test_failed_request_is_not_remembered(client, world):
    headers = {**login(client, "doctor_a"), "Idempotency-Key": "fix-and-retry"}
    bad = client.post("/api/v1/residents", json={**BODY, "id_number": "110105194912310021"}, headers=headers)
    assert bad.status_code == 422
    assert count(IdempotencyRecord) == 0
    # Only 2xx answers are remembered, so the corrected request with the same key goes through.
    ok = client.post("/api/v1/residents", json=BODY, headers=headers)
    assert ok.status_code == 201 and count(Resident) == 1


def test_key_too_long_is_422(client, world):
    headers = {**login(client, "doctor_a"), "Idempotency-Key": "x" * 101}
    r = client.post("/api/v1/residents", json=BODY, headers=headers)
    assert r.status_code == 422 and r.get_json()["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert count(Resident) == 0


def test_idempotency_header_is_documented(client):
    spec = client.get("/api/openapi.json").get_json()
    params = spec["paths"]["/api/v1/residents"]["post"].get("parameters", [])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in params)
