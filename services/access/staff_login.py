"""Staff sign-in with username and password, and the lockout rule.

5 failed logins within 15 minutes lock the account for 15 minutes (all
configurable). The failure is recorded even though the login is refused, so
the caller commits before raising.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from services.core import clock
from services.core.db import db
from services.core.errors import TooManyRequests, Unauthorized
from services.models import LoginFailure, Staff

# Compared against when the username does not exist, so timing does not tell.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    window_minutes: int = 15
    lock_minutes: int = 15


class InvalidCredentials(Unauthorized):
    code = "INVALID_CREDENTIALS"
    message = "用户名或密码错误"


class AccountLocked(TooManyRequests):
    code = "ACCOUNT_LOCKED"


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


@dataclass
class LoginOutcome:
    staff: Staff | None
    error: Exception | None


def authenticate_staff(username: str, password: str, ip: str | None,
                       policy: LockoutPolicy) -> LoginOutcome:
    """Check a password. Returns the staff member, or the error to raise after commit."""
    now = clock.now()
    staff = db.session.scalar(select(Staff).where(Staff.username == username.strip()))
    if staff is None or not staff.active:
        check_password_hash(_DUMMY_HASH, password)
        return LoginOutcome(None, InvalidCredentials())
    if staff.locked_until is not None and staff.locked_until > now:
        return LoginOutcome(None, _locked_error(staff.locked_until, now))
    if not check_password_hash(staff.password_hash, password):
        db.session.add(LoginFailure(staff_id=staff.id, at=now, ip=ip))
        db.session.flush()
        window_start = now - dt.timedelta(minutes=policy.window_minutes)
        recent = db.session.scalar(
            select(func.count()).select_from(LoginFailure).where(
                LoginFailure.staff_id == staff.id, LoginFailure.at > window_start
            )
        )
        if recent >= policy.max_failures:
            staff.locked_until = now + dt.timedelta(minutes=policy.lock_minutes)
            db.session.execute(delete(LoginFailure).where(LoginFailure.staff_id == staff.id))
            return LoginOutcome(None, _locked_error(staff.locked_until, now))
        return LoginOutcome(None, InvalidCredentials())
    staff.locked_until = None
    db.session.execute(delete(LoginFailure).where(LoginFailure.staff_id == staff.id))
    return LoginOutcome(staff, None)


def _locked_error(until: dt.datetime, now: dt.datetime) -> AccountLocked:
    seconds = max(1, int((until - now).total_seconds()))
    minutes = (seconds + 59) // 60
    return AccountLocked(
        f"登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试",
        headers={"Retry-After": str(seconds)},
        extra={"locked_until": clock.to_local(until).isoformat()},
    )
