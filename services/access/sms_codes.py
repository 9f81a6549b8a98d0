"""One-time SMS login codes for residents.

A 6-digit code from `secrets`, valid 5 minutes, 5 wrong attempts and it is
dead; only a keyed hash of it is stored. A code is sent only to a number that
belongs to a registered resident, but the caller is told 202 either way so the
endpoint does not reveal who is registered.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update

from services.core import clock
from services.core.crypto import PiiCipher
from services.core.db import db
from services.core.errors import Conflict, Unauthorized, ValidationFailed
from services.core.masking import mask_name
from services.core.phones import PhoneError, normalize_mobile, to_e164
from services.models import OtpCode, Resident
from services.reminders.channels import SmsChannel
from services.reminders.templates import login_code_text
from services.residents.register import residents_with_phone


@dataclass(frozen=True)
class OtpPolicy:
    ttl_seconds: int = 300
    max_attempts: int = 5


class OtpInvalid(Unauthorized):
    code = "OTP_INVALID"
    message = "验证码错误或已过期"


def parse_phone(raw: str) -> str:
    try:
        return normalize_mobile(raw)
    except PhoneError as exc:
        raise ValidationFailed.field("phone", str(exc), code="INVALID_PHONE") from exc


def _code_hash(cipher: PiiCipher, phone: str, code: str) -> str:
    return cipher.lookup_hash(f"otp:{phone}:{code}")


def request_login_code(phone: str, ip: str | None, policy: OtpPolicy, cipher: PiiCipher,
                       channel: SmsChannel, signature: str) -> bool:
    """Issue and send a code if the number belongs to a resident; True when sent."""
    phone = parse_phone(phone)
    residents = residents_with_phone(phone)
    if not residents:
        return False
    now = clock.now()
    # A new code replaces any earlier one still open for this number.
    db.session.execute(
        update(OtpCode).where(OtpCode.phone == phone, OtpCode.consumed_at.is_(None))
        .values(consumed_at=now)
    )
    code = f"{secrets.randbelow(1_000_000):06d}"
    db.session.add(OtpCode(
        phone=phone, code_hash=_code_hash(cipher, phone, code),
        expires_at=now + dt.timedelta(seconds=policy.ttl_seconds),
        attempts=0, requested_ip=ip, created_at=now,
    ))
    db.session.flush()
    channel.send_sms(to_e164(phone), login_code_text(signature, code, max(1, policy.ttl_seconds // 60)))
    return True


@dataclass
class OtpOutcome:
    resident: Resident | None
    error: Exception | None


def verify_login_code(phone: str, code: str, policy: OtpPolicy, cipher: PiiCipher,
                      resident_id: int | None = None) -> OtpOutcome:
    """Check a code. A wrong code still counts an attempt, so the caller commits before raising."""
    phone = parse_phone(phone)
    now = clock.now()
    otp = db.session.scalar(
        select(OtpCode).where(OtpCode.phone == phone, OtpCode.consumed_at.is_(None))
        .order_by(OtpCode.id.desc()).limit(1)
    )
    if otp is None or otp.expires_at <= now:
        return OtpOutcome(None, OtpInvalid("验证码错误或已过期，请重新获取"))
    if otp.attempts >= policy.max_attempts:
        return OtpOutcome(None, OtpInvalid("验证码尝试次数过多，请重新获取"))
    if not secrets.compare_digest(otp.code_hash, _code_hash(cipher, phone, code.strip())):
        otp.attempts += 1
        left = policy.max_attempts - otp.attempts
        if left <= 0:
            otp.consumed_at = now
            return OtpOutcome(None, OtpInvalid("验证码尝试次数过多，请重新获取"))
        return OtpOutcome(None, OtpInvalid(f"验证码错误，还可尝试 {left} 次"))
    residents = residents_with_phone(phone)
    if resident_id is not None:
        residents = [r for r in residents if r.id == resident_id]
    if not residents:
        return OtpOutcome(None, OtpInvalid("该手机号未关联居民档案"))
    if len(residents) > 1:
        # Family members often share one phone: let the person choose who signs in.
        return OtpOutcome(None, Conflict(
            "该手机号关联多位居民，请选择要登录的居民后重新提交（附 resident_id）",
            code="RESIDENT_CHOICE_REQUIRED",
            extra={"candidates": [{"resident_id": r.id, "name": mask_name(r.name)} for r in residents]},
        ))
    otp.consumed_at = now
    return OtpOutcome(residents[0], None)
