"""Concurrent refreshes on PostgreSQL. One refresh token presented by 20 requests
at the same moment: the primary key of `revoked_tokens` decides, exactly one
gets new tokens, the other 19 are refused as reuse (401 TOKEN_REUSED, or
TOKEN_REVOKED once a first reuse has revoked the family; never a 500, even
when several revoke the same family at once), and then the winner's new
tokens are refused with the rest of the family. Different sign-ins rotating at
the same moment do not disturb each other."""
from __future__ import annotations

from sqlalchemy import func, select

from app.auth import issue_tokens
from services.core.db import db
from services.models import RevokedToken, RevokedTokenFamily
from tests.concurrency import race

REFRESH = "/api/v1/auth/refresh"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_twenty_concurrent_refreshes_with_one_token(app, world):
    signed_in = issue_tokens("staff", world.doctor_a.id, "doctor")
    results = race(app, 20, lambda c, i: c.post(REFRESH, headers=bearer(signed_in["refresh_token"])))
    codes = sorted(code for code, _ in results)
    assert codes == [200] + [401] * 19, results
    # A loser that gets past the token check before any family revocation is
    # committed is the reuse that revokes it; one arriving after that finds the
    # family revoked already.
    losers = [body["code"] for code, body in results if code == 401]
    assert "TOKEN_REUSED" in losers and set(losers) <= {"TOKEN_REUSED", "TOKEN_REVOKED"}, losers
    winner = next(body for code, body in results if code == 200)
    assert winner["refresh_token"] != signed_in["refresh_token"]
    db.session.expire_all()
    assert count(RevokedToken) == 1
    assert db.session.execute(select(RevokedTokenFamily.subject, RevokedTokenFamily.reason)).all() == [
        (f"staff:{world.doctor_a.id}", "reuse")]
    client = app.test_client()
    refused = client.post(REFRESH, headers=bearer(winner["refresh_token"]))
    assert refused.status_code == 401 and refused.get_json()["code"] == "TOKEN_REVOKED"
    assert client.get("/api/v1/residents", headers=bearer(winner["access_token"])).status_code == 401


def test_concurrent_rotations_of_different_sign_ins_all_succeed(app, world):
    sign_ins = [issue_tokens("staff", world.doctor_a.id, "doctor") for _ in range(10)]
    results = race(app, 10, lambda c, i: c.post(REFRESH, headers=bearer(sign_ins[i]["refresh_token"])))
    assert [code for code, _ in results] == [200] * 10, results
    db.session.expire_all()
    assert count(RevokedToken) == 10 and count(RevokedTokenFamily) == 0
    client = app.test_client()
    for _, body in results:
        assert client.get("/api/v1/residents", headers=bearer(body["access_token"])).status_code == 200
