"""Refresh-token rotation (OWASP reuse detection): every refresh returns a new
refresh token and retires the one presented; a sign-in is a token family (the
`fam` claim) kept through every rotation; presenting a used refresh token again
revokes the whole family, so every token of that sign-in is refused."""
from __future__ import annotations

import datetime as dt

from flask_jwt_extended import create_refresh_token, decode_token
from sqlalchemy import func, select

from app.auth import issue_tokens
from services.core import clock
from services.core.db import db
from services.core.housekeeping import purge_expired_records
from services.models import RevokedToken, RevokedTokenFamily
from tests.concurrency import race
from tests.factories import PASSWORD, make_resident

STAFF_LOGIN = "/api/v1/auth/staff/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def staff_sign_in(client, username: str = "doctor_a") -> dict:
    resp = client.post(STAFF_LOGIN, json={"username": username, "password": PASSWORD})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def refresh(client, refresh_token: str):
    return client.post(REFRESH, headers=bearer(refresh_token))


def claims(token: str) -> dict:
    return decode_token(token, allow_expired=True)


def families() -> list[tuple[str, str, str]]:
    return db.session.execute(select(RevokedTokenFamily.family_id, RevokedTokenFamily.subject,
                                     RevokedTokenFamily.reason)).all()


def assert_reused(resp) -> None:
    assert resp.status_code == 401
    body = resp.get_json()
    assert set(body) == {"code", "message"} and body["code"] == "TOKEN_REUSED"
    assert "重新登录" in body["message"]


def assert_revoked(resp) -> None:
    assert resp.status_code == 401
    assert resp.get_json()["code"] == "TOKEN_REVOKED"


def test_refresh_returns_a_new_refresh_token_and_retires_the_old(client, world):
    signed_in = staff_sign_in(client)
    resp = refresh(client, signed_in["refresh_token"])
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert list(body) == ["access_token", "refresh_token", "token_type", "expires_in"]
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["refresh_token"] != signed_in["refresh_token"]
    assert body["access_token"] != signed_in["access_token"]
    # One family from sign-in through the rotation, for access and refresh tokens alike.
    old, new = claims(signed_in["refresh_token"]), claims(body["refresh_token"])
    fam = claims(signed_in["access_token"])["fam"]
    assert fam and old["fam"] == new["fam"] == claims(body["access_token"])["fam"] == fam
    assert new["type"] == "refresh" and new["sub"] == f"staff:{world.doctor_a.id}" and new["role"] == "doctor"
    # The presented token is retired in the database; nothing else is revoked.
    rows = db.session.execute(select(RevokedToken.jti, RevokedToken.token_type, RevokedToken.subject)).all()
    assert rows == [(old["jti"], "refresh", f"staff:{world.doctor_a.id}")]
    assert families() == []
    assert client.get("/api/v1/residents", headers=bearer(body["access_token"])).status_code == 200
    # The access token of the sign-in stays valid until it expires.
    assert client.get("/api/v1/residents", headers=bearer(signed_in["access_token"])).status_code == 200


def test_reusing_a_refresh_token_revokes_the_whole_family(client, world):
    signed_in = staff_sign_in(client)
    rotated = refresh(client, signed_in["refresh_token"]).get_json()

    assert_reused(refresh(client, signed_in["refresh_token"]))

    fam = claims(signed_in["refresh_token"])["fam"]
    assert families() == [(fam, f"staff:{world.doctor_a.id}", "reuse")]
    row = db.session.get(RevokedTokenFamily, fam)
    assert row.expires_at >= clock.now() + dt.timedelta(days=29)  # outlives every token of the family
    # Every token of the family is refused now: the successor the thief or the
    # owner got, its access token, the sign-in's access token, and the used one.
    assert_revoked(refresh(client, rotated["refresh_token"]))
    assert_revoked(client.get("/api/v1/residents", headers=bearer(rotated["access_token"])))
    assert_revoked(client.get("/api/v1/residents", headers=bearer(signed_in["access_token"])))
    assert_revoked(refresh(client, signed_in["refresh_token"]))
    assert db.session.scalar(select(func.count()).select_from(RevokedTokenFamily)) == 1


def test_reuse_leaves_other_sign_ins_alone(client, world):
    phone = staff_sign_in(client)
    laptop = staff_sign_in(client)
    refresh(client, phone["refresh_token"])
    assert_reused(refresh(client, phone["refresh_token"]))
    assert client.get("/api/v1/residents", headers=bearer(laptop["access_token"])).status_code == 200
    resp = refresh(client, laptop["refresh_token"])
    assert resp.status_code == 200
    assert claims(resp.get_json()["refresh_token"])["fam"] == claims(laptop["refresh_token"])["fam"]


def test_a_chain_of_three_rotations(client, world):
    signed_in = staff_sign_in(client)
    fam = claims(signed_in["refresh_token"])["fam"]
    chain = [signed_in]
    for _ in range(3):
        resp = refresh(client, chain[-1]["refresh_token"])
        assert resp.status_code == 200, resp.get_json()
        chain.append(resp.get_json())
        assert client.get("/api/v1/residents", headers=bearer(chain[-1]["access_token"])).status_code == 200
    assert len({t["refresh_token"] for t in chain}) == 4
    assert {claims(t["refresh_token"])["fam"] for t in chain} == {fam}
    retired = set(db.session.scalars(select(RevokedToken.jti)).all())
    assert retired == {claims(t["refresh_token"])["jti"] for t in chain[:3]}
    # A token from the middle of the chain, presented again, ends the sign-in.
    assert_reused(refresh(client, chain[1]["refresh_token"]))
    assert_revoked(refresh(client, chain[3]["refresh_token"]))
    assert_revoked(client.get("/api/v1/residents", headers=bearer(chain[3]["access_token"])))


def test_resident_tokens_rotate_too(client, world):
    resident = make_resident(world.thc_a, name="孙桂兰", phone="13700001234")
    signed_in = issue_tokens("resident", resident.id, "resident")
    resp = refresh(client, signed_in["refresh_token"])
    assert resp.status_code == 200, resp.get_json()
    rotated = resp.get_json()
    assert rotated["refresh_token"] != signed_in["refresh_token"]
    assert claims(rotated["access_token"])["role"] == "resident"
    me = client.get("/api/v1/me", headers=bearer(rotated["access_token"]))
    assert me.status_code == 200 and me.get_json()["profile"]["id"] == resident.id

    assert_reused(refresh(client, signed_in["refresh_token"]))
    assert families() == [(claims(signed_in["refresh_token"])["fam"], f"resident:{resident.id}", "reuse")]
    assert_revoked(refresh(client, rotated["refresh_token"]))
    assert_revoked(client.get("/api/v1/me", headers=bearer(rotated["access_token"])))


def test_concurrent_refreshes_with_one_token_one_wins(app, world):
    """Two refreshes with the same token at once: the insert of its jti decides;
    the loser is a reuse, so the winner's new tokens die with the family."""
    with app.app_context():
        signed_in = issue_tokens("staff", world.doctor_a.id, "doctor")
    results = race(app, 2, lambda c, i: c.post(REFRESH, headers=bearer(signed_in["refresh_token"])))
    codes = sorted(code for code, _ in results)
    assert codes == [200, 401], results
    winner = next(body for code, body in results if code == 200)
    loser = next(body for code, body in results if code == 401)
    assert loser["code"] == "TOKEN_REUSED"
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(RevokedToken)) == 1
    assert [r[2] for r in families()] == ["reuse"]
    client = app.test_client()
    assert_revoked(refresh(client, winner["refresh_token"]))
    assert_revoked(client.get("/api/v1/residents", headers=bearer(winner["access_token"])))


def test_logout_revokes_the_family(client, world):
    signed_in = staff_sign_in(client)
    rotated = refresh(client, signed_in["refresh_token"]).get_json()
    # Logging out with only the access token ends the whole sign-in.
    resp = client.post(LOGOUT, headers=bearer(rotated["access_token"]))
    assert resp.status_code == 204
    fam = claims(rotated["access_token"])["fam"]
    assert families() == [(fam, f"staff:{world.doctor_a.id}", "logout")]
    assert_revoked(refresh(client, rotated["refresh_token"]))
    assert_revoked(client.get("/api/v1/residents", headers=bearer(rotated["access_token"])))
    assert_revoked(client.get("/api/v1/residents", headers=bearer(signed_in["access_token"])))


def test_logout_with_a_refresh_token_of_another_sign_in_revokes_both(client, world):
    one, two = staff_sign_in(client), staff_sign_in(client)
    resp = client.post(LOGOUT, json={"refresh_token": two["refresh_token"]}, headers=bearer(one["access_token"]))
    assert resp.status_code == 204
    assert sorted(r[0] for r in families()) == sorted(claims(t["refresh_token"])["fam"] for t in (one, two))
    assert_revoked(refresh(client, one["refresh_token"]))
    assert_revoked(refresh(client, two["refresh_token"]))
    assert_revoked(client.get("/api/v1/residents", headers=bearer(two["access_token"])))


def test_refused_logout_revokes_nothing(client, world):
    mine, theirs = staff_sign_in(client), staff_sign_in(client, "doctor_b")
    r = client.post(LOGOUT, json={"refresh_token": theirs["refresh_token"]}, headers=bearer(mine["access_token"]))
    assert r.status_code == 401 and r.get_json()["code"] == "TOKEN_INVALID"
    assert families() == [] and db.session.scalar(select(func.count()).select_from(RevokedToken)) == 0
    assert refresh(client, mine["refresh_token"]).status_code == 200


def test_token_minted_before_families_rotates_into_a_family_of_its_own(client, world):
    legacy = create_refresh_token(identity=f"staff:{world.doctor_a.id}", additional_claims={"role": "doctor"})
    assert "fam" not in claims(legacy)
    resp = refresh(client, legacy)
    assert resp.status_code == 200
    rotated = resp.get_json()
    assert claims(rotated["refresh_token"])["fam"] == claims(legacy)["jti"]
    assert_reused(refresh(client, legacy))
    assert_revoked(refresh(client, rotated["refresh_token"]))
    assert_revoked(client.get("/api/v1/residents", headers=bearer(rotated["access_token"])))


def test_access_token_cannot_refresh(client, world):
    signed_in = staff_sign_in(client)
    resp = refresh(client, signed_in["access_token"])
    assert resp.status_code == 401 and resp.get_json()["code"] == "TOKEN_INVALID"
    assert db.session.scalar(select(func.count()).select_from(RevokedToken)) == 0


def test_housekeeping_purges_expired_families(app, frozen_clock):
    now = clock.now()
    db.session.add_all([
        RevokedTokenFamily(family_id="old", subject="staff:1", reason="reuse", revoked_at=now - dt.timedelta(days=31),
                           expires_at=now - dt.timedelta(minutes=1)),
        RevokedTokenFamily(family_id="live", subject="staff:1", reason="logout", revoked_at=now,
                           expires_at=now + dt.timedelta(days=30)),
    ])
    db.session.commit()
    result = purge_expired_records()
    db.session.commit()
    assert result.revoked_token_families == 1
    assert db.session.scalars(select(RevokedTokenFamily.family_id)).all() == ["live"]
    assert purge_expired_records().revoked_token_families == 0  # idempotent


def test_openapi_documents_rotation_and_reuse(client):
    spec = client.get("/api/openapi.json").get_json()
    op = spec["paths"]["/api/v1/auth/refresh"]["post"]
    assert op["security"] == [{"bearerAuth": []}]
    assert "TOKEN_REUSED" in op["responses"]["401"]["description"]
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"access_token", "refresh_token", "token_type", "expires_in"} <= set(
        spec["components"]["schemas"][ref]["properties"])
