"""Sign-in: staff passwords and lockout, tokens, logout revocation, resident OTP, WeChat."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from app.config import reconfigure
from services.core import clock
from services.core.db import db
from services.models import LoginFailure, OtpCode, Resident, RevokedToken, Staff
from tests.factories import PASSWORD, login, make_resident
from tests.fakes.wechat import FakeWechat

STAFF_LOGIN = "/api/v1/auth/staff/login"


def test_staff_login_returns_tokens_and_user(client, world):
    resp = client.post(STAFF_LOGIN, json={"username": "doctor_a", "password": PASSWORD})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["access_token"] and body["refresh_token"] and body["expires_in"] == 900
    assert body["user"] == {"id": world.doctor_a.id, "username": "doctor_a", "name": "李医生",
                            "role": "doctor", "institution_id": world.thc_a.id, "team_id": world.team_a.id,
                            "team_role": "doctor", "community_id": world.community.id}
    admin = client.post(STAFF_LOGIN, json={"username": "admin_all", "password": PASSWORD}).get_json()["user"]
    assert admin["role"] == "admin" and admin["team_id"] is None and admin["institution_id"] is None


def test_password_is_scrypt_hashed(world):
    assert db.session.get(Staff, world.doctor_a.id).password_hash.startswith("scrypt:")


@pytest.mark.parametrize("username,password", [("doctor_a", "wrong"), ("nobody", PASSWORD)])
def test_bad_credentials_are_401_without_saying_which(client, world, username, password):
    resp = client.post(STAFF_LOGIN, json={"username": username, "password": password})
    assert resp.status_code == 401
    assert resp.get_json() == {"code": "INVALID_CREDENTIALS", "message": "用户名或密码错误"}


def test_five_failures_in_15_minutes_lock_for_15_minutes(client, world, frozen_clock):
    for i in range(4):
        r = client.post(STAFF_LOGIN, json={"username": "doctor_a", "password": f"bad{i}"})
        assert r.status_code == 401
        clock.advance(dt.timedelta(minutes=3))
    assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == 4
    fifth = client.post(STAFF_LOGIN, json={"username": "doctor_a", "password": "bad"})
    assert fifth.status_code == 429
    assert fifth.get_json()["code"] == "ACCOUNT_LOCKED"
    assert fifth.headers["Retry-After"] == "900"
    # Even the right password is refused while locked.
    clock.advance(dt.timedelta(minutes=14))
    locked = client.post(STAFF_LOGIN, json={"username": "doctor_a", "password": PASSWORD})
    assert locked.status_code == 429 and "1 分钟" in locked.get_json()["message"]
    clock.advance(dt.timedelta(minutes=1, seconds=1))
    assert client.post(STAFF_LOGIN, json={"username": "doctor_a", "password": PASSWORD}).status_code == 200
    db.session.expire_all()
    assert db.session.get(Staff, world.doctor_a.id).locked_until is None


def test_failures_spread_over_more_than_15_minutes_do_not_lock(client, world, frozen_clock):
    for _i in range(6):
        assert client.post(STAFF_LOGIN, json={"username": "doctor_a", "password": "x"}).status_code == 401
        clock.advance(dt.timedelta(minutes=4))
    assert client.post(STAFF_LOGIN, json={"username": "doctor_a", "password": PASSWORD}).status_code == 200


def test_staff_login_rate_limited_per_ip(app, world):
    reconfigure(app, STAFF_LOGIN_RATE_LIMIT_PER_IP="3 per minute")
    client = app.test_client()
    codes = [client.post(STAFF_LOGIN, json={"username": f"user{i}", "password": "x"}).status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    r = client.post(STAFF_LOGIN, json={"username": "doctor_a", "password": PASSWORD})
    assert r.status_code == 429 and r.get_json()["code"] == "RATE_LIMITED"
    other_ip = client.post(STAFF_LOGIN, json={"username": "doctor_a", "password": PASSWORD},
                           environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other_ip.status_code == 200


def test_missing_expired_and_wrong_type_tokens(client, world, frozen_clock):
    resp = client.get("/api/v1/residents")
    assert resp.status_code == 401 and resp.get_json()["code"] == "UNAUTHORIZED"
    tokens = client.post(STAFF_LOGIN, json={"username": "doctor_a", "password": PASSWORD}).get_json()
    garbage = client.get("/api/v1/residents", headers={"Authorization": "Bearer not.a.jwt"})
    assert garbage.status_code == 401 and garbage.get_json()["code"] == "TOKEN_INVALID"
    refresh_as_access = client.get("/api/v1/residents",
                                   headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert refresh_as_access.status_code == 401


def test_refresh_gives_a_new_access_token(client, world):
    tokens = client.post(STAFF_LOGIN, json={"username": "doctor_a", "password": PASSWORD}).get_json()
    resp = client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert resp.status_code == 200
    new = resp.get_json()["access_token"]
    assert client.get("/api/v1/residents", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    # An access token cannot be used to refresh.
    bad = client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert bad.status_code == 401


def test_logout_revokes_access_and_refresh_tokens(client, world):
    tokens = client.post(STAFF_LOGIN, json={"username": "doctor_a", "password": PASSWORD}).get_json()
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    resp = client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=access)
    assert resp.status_code == 204
    assert db.session.scalar(select(func.count()).select_from(RevokedToken)) == 2
    after = client.get("/api/v1/residents", headers=access)
    assert after.status_code == 401 and after.get_json()["code"] == "TOKEN_REVOKED"
    refresh = client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert refresh.status_code == 401 and refresh.get_json()["code"] == "TOKEN_REVOKED"


def test_logout_refuses_someone_elses_or_non_refresh_token(client, world):
    mine = client.post(STAFF_LOGIN, json={"username": "doctor_a", "password": PASSWORD}).get_json()
    theirs = client.post(STAFF_LOGIN, json={"username": "doctor_b", "password": PASSWORD}).get_json()
    access = {"Authorization": f"Bearer {mine['access_token']}"}
    for token in (theirs["refresh_token"], mine["access_token"], "garbage"):
        r = client.post("/api/v1/auth/logout", json={"refresh_token": token}, headers=access)
        assert r.status_code == 401 and r.get_json()["code"] == "TOKEN_INVALID"
    assert db.session.scalar(select(func.count()).select_from(RevokedToken)) == 0  # nothing half-done
    other = {"Authorization": f"Bearer {theirs['access_token']}"}
    assert client.get("/api/v1/residents", headers=other).status_code == 200


def test_deactivated_staff_loses_access_at_once(client, world):
    headers = login(client, "doctor_a")
    db.session.get(Staff, world.doctor_a.id).active = False
    db.session.commit()
    assert client.get("/api/v1/residents", headers=headers).status_code == 401


# --- residents: OTP over the console SMS channel --------------------------------

def _otp_from_console(capsys, phone_e164: str) -> str:
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("[SMS]") and f"to={phone_e164}" in line]
    assert lines, out
    assert "【家庭医生签约服务】" in lines[-1]
    return re.search(r"验证码为(\d{6})", lines[-1]).group(1)


def test_resident_otp_login_and_me(client, world, capsys):
    me_resident = make_resident(world.thc_a, name="孙桂兰", birth=dt.date(1958, 2, 3), sex="female",
                                phone="13700001234")
    other = make_resident(world.thc_a, name="周强", birth=dt.date(1980, 4, 5), phone="13700005678")
    resp = client.post("/api/v1/auth/otp", json={"phone": "137 0000 1234"})
    assert resp.status_code == 202
    code = _otp_from_console(capsys, "+8613700001234")
    row = db.session.scalars(select(OtpCode)).one()
    assert code not in row.code_hash  # only a keyed hash is stored
    login_resp = client.post("/api/v1/auth/resident/login", json={"phone": "13700001234", "code": code})
    assert login_resp.status_code == 200, login_resp.get_json()
    body = login_resp.get_json()
    assert body["resident"] == {"id": me_resident.id, "name": "孙桂兰", "role": "resident", "wechat_linked": False}
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    profile = me.get_json()["profile"]
    assert profile["id"] == me_resident.id and profile["phone"] == "137****1234"
    assert profile["id_number"].startswith("131122********")
    assert me.get_json()["contract"] is None
    # Their own record through /residents/{id} works; anyone else's is 404.
    assert client.get(f"/api/v1/residents/{me_resident.id}", headers=headers).status_code == 200
    resp = client.get(f"/api/v1/residents/{other.id}", headers=headers)
    assert resp.status_code == 404 and resp.get_json()["code"] == "RESIDENT_NOT_FOUND"
    # Residents cannot list or change records.
    assert client.get("/api/v1/residents", headers=headers).status_code == 403
    assert client.patch(f"/api/v1/residents/{me_resident.id}", json={"name": "x"}, headers=headers).status_code == 403
    # The code is single-use.
    again = client.post("/api/v1/auth/resident/login", json={"phone": "13700001234", "code": code})
    assert again.status_code == 401 and again.get_json()["code"] == "OTP_INVALID"


def test_otp_for_unknown_phone_is_202_but_sends_nothing(client, world, capsys):
    resp = client.post("/api/v1/auth/otp", json={"phone": "13700009999"})
    assert resp.status_code == 202
    assert "[SMS]" not in capsys.readouterr().out
    assert db.session.scalar(select(func.count()).select_from(OtpCode)) == 0


def test_otp_wrong_code_five_attempts_then_dead(client, world, capsys):
    make_resident(world.thc_a, phone="13700001234", birth=dt.date(1970, 1, 1))
    client.post("/api/v1/auth/otp", json={"phone": "13700001234"})
    code = _otp_from_console(capsys, "+8613700001234")
    wrong = "000000" if code != "000000" else "111111"
    messages = []
    for _ in range(5):
        r = client.post("/api/v1/auth/resident/login", json={"phone": "13700001234", "code": wrong})
        assert r.status_code == 401
        messages.append(r.get_json()["message"])
    assert messages[0] == "验证码错误，还可尝试 4 次"
    assert messages[-1] == "验证码尝试次数过多，请重新获取"
    right = client.post("/api/v1/auth/resident/login", json={"phone": "13700001234", "code": code})
    assert right.status_code == 401


def test_otp_expires_after_5_minutes(client, world, capsys, frozen_clock):
    make_resident(world.thc_a, phone="13700001234", birth=dt.date(1970, 1, 1))
    client.post("/api/v1/auth/otp", json={"phone": "13700001234"})
    code = _otp_from_console(capsys, "+8613700001234")
    clock.advance(dt.timedelta(minutes=5, seconds=1))
    r = client.post("/api/v1/auth/resident/login", json={"phone": "13700001234", "code": code})
    assert r.status_code == 401 and r.get_json()["code"] == "OTP_INVALID"


def test_otp_rate_limited_per_phone(client, world, capsys):
    make_resident(world.thc_a, phone="13700001234", birth=dt.date(1970, 1, 1))
    assert client.post("/api/v1/auth/otp", json={"phone": "13700001234"}).status_code == 202
    second = client.post("/api/v1/auth/otp", json={"phone": "+86 137-0000-1234"})
    assert second.status_code == 429
    assert second.get_json()["code"] == "RATE_LIMITED"
    assert 1 <= int(second.headers["Retry-After"]) <= 61
    # Another phone from the same address is still allowed (until the per-IP limit).
    assert client.post("/api/v1/auth/otp", json={"phone": "13700005555"}).status_code == 202


def test_otp_rate_limited_per_ip(app, world):
    reconfigure(app, OTP_RATE_LIMIT_PER_IP="3 per hour")
    client = app.test_client()
    codes = [client.post("/api/v1/auth/otp", json={"phone": f"1370000{i:04d}"}).status_code for i in range(4)]
    assert codes == [202, 202, 202, 429]


def test_shared_phone_asks_which_resident(client, world, capsys):
    grandma = make_resident(world.thc_a, name="赵奶奶", phone="13700001234", birth=dt.date(1945, 1, 1), sex="female")
    make_resident(world.thc_a, name="赵小宝", phone="13700001234", birth=dt.date(2021, 1, 1))
    client.post("/api/v1/auth/otp", json={"phone": "13700001234"})
    code = _otp_from_console(capsys, "+8613700001234")
    r = client.post("/api/v1/auth/resident/login", json={"phone": "13700001234", "code": code})
    assert r.status_code == 409
    body = r.get_json()
    assert body["code"] == "RESIDENT_CHOICE_REQUIRED"
    assert sorted(c["name"] for c in body["details"]["candidates"]) == ["赵*奶", "赵*宝"]
    assert grandma.id in [c["resident_id"] for c in body["details"]["candidates"]]
    ok = client.post("/api/v1/auth/resident/login",
                     json={"phone": "13700001234", "code": code, "resident_id": grandma.id})
    assert ok.status_code == 200 and ok.get_json()["resident"]["id"] == grandma.id


# --- WeChat -------------------------------------------------------------------------

def test_wechat_login_links_after_phone_login(app, world, capsys):
    resident = make_resident(world.thc_a, phone="13700001234", birth=dt.date(1970, 1, 1))
    with FakeWechat() as fake:
        reconfigure(app, WECHAT_API_BASE=fake.base_url, WECHAT_APP_ID="wx123", WECHAT_APP_SECRET="s3cret")
        client = app.test_client()
        # Not linked yet and not signed in: refused, nothing linked.
        fake.issue_code("code-1", "openid-abc")
        r = client.post("/api/v1/auth/wechat/login", json={"code": "code-1"})
        assert r.status_code == 401 and r.get_json()["code"] == "WECHAT_NOT_LINKED"
        assert fake.requests[-1] == {"path": "/sns/jscode2session", "params": {
            "appid": "wx123", "secret": "s3cret", "js_code": "code-1", "grant_type": "authorization_code"}}
        # Phone login, then WeChat login with the resident's token links the openid.
        client.post("/api/v1/auth/otp", json={"phone": "13700001234"})
        code = _otp_from_console(capsys, "+8613700001234")
        tokens = client.post("/api/v1/auth/resident/login", json={"phone": "13700001234", "code": code}).get_json()
        fake.issue_code("code-2", "openid-abc")
        r = client.post("/api/v1/auth/wechat/login", json={"code": "code-2"},
                        headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert r.status_code == 200 and r.get_json()["resident"]["wechat_linked"] is True
        db.session.expire_all()
        assert db.session.get(Resident, resident.id).wechat_openid == "openid-abc"
        # From now on WeChat alone signs the resident in.
        fake.issue_code("code-3", "openid-abc")
        r = client.post("/api/v1/auth/wechat/login", json={"code": "code-3"})
        assert r.status_code == 200 and r.get_json()["resident"]["id"] == resident.id
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.get_json()['access_token']}"})
        assert me.get_json()["profile"]["id"] == resident.id
        # A used or unknown code is refused by WeChat: 401, not 500.
        r = client.post("/api/v1/auth/wechat/login", json={"code": "code-3"})
        assert r.status_code == 401 and r.get_json()["code"] == "WECHAT_CODE_INVALID"


def test_wechat_code_with_resident_login_links_in_one_step(app, world, capsys):
    resident = make_resident(world.thc_a, phone="13700001234", birth=dt.date(1970, 1, 1))
    with FakeWechat() as fake:
        reconfigure(app, WECHAT_API_BASE=fake.base_url)
        client = app.test_client()
        client.post("/api/v1/auth/otp", json={"phone": "13700001234"})
        code = _otp_from_console(capsys, "+8613700001234")
        fake.issue_code("wx-code", "openid-xyz")
        r = client.post("/api/v1/auth/resident/login",
                        json={"phone": "13700001234", "code": code, "wechat_code": "wx-code"})
        assert r.status_code == 200 and r.get_json()["resident"]["wechat_linked"] is True
    db.session.expire_all()
    assert db.session.get(Resident, resident.id).wechat_openid == "openid-xyz"


def test_sms_login_succeeds_when_wechat_link_fails(client, world, capsys):
    resident = make_resident(world.thc_a, phone="13700001234", birth=dt.date(1970, 1, 1))
    client.post("/api/v1/auth/otp", json={"phone": "13700001234"})
    code = _otp_from_console(capsys, "+8613700001234")
    r = client.post("/api/v1/auth/resident/login",
                    json={"phone": "13700001234", "code": code, "wechat_code": "any"})  # WeChat unreachable
    assert r.status_code == 200
    body = r.get_json()
    assert body["resident"]["id"] == resident.id and body["resident"]["wechat_linked"] is False
    assert body["wechat_link_error"] == "WECHAT_UNAVAILABLE"


def test_wechat_unreachable_is_502_not_500(client, world):
    r = client.post("/api/v1/auth/wechat/login", json={"code": "whatever"})
    assert r.status_code == 502
    assert r.get_json()["code"] == "WECHAT_UNAVAILABLE"
