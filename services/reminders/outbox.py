"""The outbox seen from outside: provider status callbacks, replies that opt a
number out or back in, residents' preferences and subscriptions, and the
admin's list with delivery statistics."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Select, select, true

from services.access.scope import Scope, resident_visible
from services.core import audit, clock
from services.core.db import db
from services.core.errors import Conflict, ValidationFailed
from services.core.pagination import Page, paginate
from services.models import OutboxMessage, Resident, WechatSubscription
from services.reminders.optouts import is_opted_out, opt_in, opt_out

# Provider statuses -> ours, and how far along each is. A callback only ever
# moves a message forward: a late `sent` after `delivered` changes nothing.
PROVIDER_STATUS = {"queued": "sending", "accepted": "sending", "sending": "sending", "sent": "sent",
                   "delivered": "delivered", "undelivered": "failed", "failed": "failed"}
RANK = {"planned": 0, "sending": 1, "sent": 2, "delivered": 3, "failed": 3, "cancelled": 3, "suppressed": 3}

OPT_OUT_WORDS = {"退订", "TD", "T", "STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "STOPALL"}
OPT_IN_WORDS = {"订阅", "START", "UNSTOP", "YES"}


def apply_status_callback(provider_message_id: str, provider_status: str, error_code: str | None) -> bool:
    """Apply a Twilio status callback idempotently; True if the message changed."""
    ours = PROVIDER_STATUS.get((provider_status or "").lower())
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.provider_message_id == provider_message_id)
                            .with_for_update())
    if row is None or ours is None or RANK[ours] <= RANK.get(row.status, 0):
        return False
    now = clock.now()
    row.status, row.provider_status = ours, provider_status
    if ours == "delivered":
        row.delivered_at = now
    if ours == "failed":
        row.error_code = error_code or row.error_code or "UNDELIVERED"
        if error_code == "21610" and row.recipient:
            opt_out(row.recipient, source="provider", keyword="21610")
    if row.sent_at is None and ours in ("sent", "delivered", "failed"):
        row.sent_at = now
    return True


def handle_inbound(from_number: str, body: str) -> str | None:
    """A reply: 退订/TD/T/STOP opt the number out, 订阅/START back in. Returns what happened."""
    word = (body or "").strip().upper().rstrip("。.!！")
    if word in OPT_OUT_WORDS:
        opt_out(from_number, source="reply", keyword=word)
        return "opted_out"
    if word in OPT_IN_WORDS:
        opt_in(from_number)
        return "opted_in"
    return None


@dataclass
class Preferences:
    sms: bool
    number_opted_out: bool
    wechat_linked: bool
    wechat_subscriptions: int


def preferences(resident_id: int) -> Preferences:
    resident = db.session.get(Resident, resident_id)
    unused = db.session.scalars(select(WechatSubscription.id).where(
        WechatSubscription.resident_id == resident.id, WechatSubscription.used_at.is_(None))).all()
    return Preferences(sms=not resident.sms_opt_out,
                       number_opted_out=bool(resident.phone) and is_opted_out(resident.phone),
                       wechat_linked=resident.wechat_openid is not None, wechat_subscriptions=len(unused))


def set_sms_preference(resident_id: int, enabled: bool) -> Preferences:
    resident = db.session.get(Resident, resident_id)
    """Turning SMS back on in the app also lifts a reply opt-out of the resident's own number."""
    resident.sms_opt_out = not enabled
    if enabled and resident.phone:
        opt_in(resident.phone)
    db.session.flush()
    return preferences(resident.id)


def add_wechat_subscription(resident_id: int, template_id: str, known_templates: set[str]) -> WechatSubscription:
    resident = db.session.get(Resident, resident_id)
    if resident.wechat_openid is None:
        raise Conflict("尚未绑定微信，无法接收订阅消息", code="WECHAT_NOT_LINKED")
    if known_templates and template_id not in known_templates:
        raise ValidationFailed.field("template_id", "未知的订阅消息模板")
    sub = WechatSubscription(resident_id=resident.id, template_id=template_id, created_at=clock.now())
    db.session.add(sub)
    db.session.flush()
    return sub


# --- admin views -----------------------------------------------------------------------

@dataclass
class MessageFilters:
    status: str | None = None
    kind: str | None = None
    resident_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def messages_query(scope: Scope, f: MessageFilters) -> Select:
    """Messages about residents in the admin's scope, newest first (by creation, local dates)."""
    stmt = (select(OutboxMessage).join(Resident, OutboxMessage.resident_id == Resident.id)
            .where(resident_visible(scope)).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()))
    if f.status:
        stmt = stmt.where(OutboxMessage.status == f.status)
    if f.kind:
        stmt = stmt.where(OutboxMessage.kind == f.kind)
    if f.resident_id is not None:
        stmt = stmt.where(OutboxMessage.resident_id == f.resident_id)
    if f.date_from or f.date_to:
        start, end = clock.day_bounds(f.date_from or dt.date(1900, 1, 1), f.date_to or dt.date(2999, 12, 30))
        stmt = stmt.where(OutboxMessage.created_at >= start, OutboxMessage.created_at < end)
    return stmt


def messages_page(scope: Scope, f: MessageFilters, page: int, page_size: int,
                  ctx: audit.RequestContext | None = None) -> Page:
    """One page of sent messages (recipients masked by the schema); reading it is audited."""
    result = paginate(messages_query(scope, f), page, page_size)
    audit.record_read(scope, ctx, "messages", listed=sorted({m.resident_id for m in result.items}),
                      detail={"count": len(result.items)})
    return result


def delivery_stats(scope: Scope, first: dt.date, last: dt.date, residents=None) -> list[dict]:
    """Per local day of the attempt: sent, delivered, failed (by error code), and the delivery rate.
    `residents` (a condition on Resident) narrows it to a unit's residents (the county's picture)."""
    start, end = clock.day_bounds(first, last)
    attempted = OutboxMessage.sent_at.is_not(None) | (OutboxMessage.status == "failed")
    rows = db.session.execute(
        select(OutboxMessage.status, OutboxMessage.error_code, OutboxMessage.sent_at, OutboxMessage.last_attempt_at,
               OutboxMessage.channel)
        .join(Resident, OutboxMessage.resident_id == Resident.id)
        .where(resident_visible(scope), true() if residents is None else residents, attempted,
               ((OutboxMessage.sent_at >= start) & (OutboxMessage.sent_at < end))
               | (OutboxMessage.sent_at.is_(None) & (OutboxMessage.last_attempt_at >= start)
                  & (OutboxMessage.last_attempt_at < end)))).all()
    days: dict[dt.date, dict] = {}
    for status, error_code, sent_at, last_attempt_at, channel in rows:
        day = clock.to_local(sent_at or last_attempt_at).date()
        d = days.setdefault(day, {"date": day, "sent": 0, "delivered": 0, "failed": 0,
                                  "failed_by_error_code": defaultdict(int), "wechat": 0})
        if sent_at is not None:
            d["sent"] += 1
        if channel == "wechat":
            d["wechat"] += 1
        if status == "delivered":
            d["delivered"] += 1
        elif status == "failed":
            d["failed"] += 1
            d["failed_by_error_code"][error_code or "UNKNOWN"] += 1
    out = []
    for day in sorted(days):
        d = days[day]
        d["failed_by_error_code"] = dict(sorted(d["failed_by_error_code"].items()))
        d["delivery_rate"] = round(d["delivered"] / d["sent"], 4) if d["sent"] else None
        out.append(d)
    return out
