"""Daily clean-up of short-lived security records. Idempotent: a second run
the same day deletes nothing more."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete

from services.access import tokens
from services.core import clock, idempotency
from services.core.db import db
from services.models import OtpCode

OTP_RETENTION = dt.timedelta(days=1)


@dataclass
class HousekeepingResult:
    revoked_tokens: int
    idempotency_records: int
    otp_codes: int
    revoked_token_families: int = 0


def purge_expired_records(sync_receipt_days: int = 90) -> HousekeepingResult:
    otp = db.session.execute(delete(OtpCode).where(OtpCode.created_at < clock.now() - OTP_RETENTION))
    return HousekeepingResult(
        revoked_tokens=tokens.purge_expired_revocations(),
        idempotency_records=idempotency.purge_expired(dt.timedelta(days=sync_receipt_days)),
        otp_codes=otp.rowcount or 0,
        revoked_token_families=tokens.purge_expired_families(),
    )
