"""Opt-out by number: a phone that replied 退订/TD/STOP (or that Twilio reports as
unsubscribed, 21610) gets no reminders until it replies 订阅/START."""
from __future__ import annotations

from sqlalchemy import select

from services.core import clock
from services.core.db import db
from services.core.phones import PhoneError, normalize_mobile
from services.models import SmsOptOut


def _national(phone: str) -> str | None:
    try:
        return normalize_mobile(phone)
    except PhoneError:
        return None


def is_opted_out(phone: str) -> bool:
    national = _national(phone)
    return national is not None and db.session.scalar(
        select(SmsOptOut.id).where(SmsOptOut.phone == national)) is not None


def opt_out(phone: str, *, source: str, keyword: str | None = None) -> bool:
    national = _national(phone)
    if national is None or is_opted_out(national):
        return False
    db.session.add(SmsOptOut(phone=national, source=source, keyword=keyword, created_at=clock.now()))
    db.session.flush()
    return True


def opt_in(phone: str) -> bool:
    national = _national(phone)
    row = db.session.scalar(select(SmsOptOut).where(SmsOptOut.phone == national)) if national else None
    if row is None:
        return False
    db.session.delete(row)
    db.session.flush()
    return True
