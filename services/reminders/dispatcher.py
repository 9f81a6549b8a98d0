"""Sends due outbox messages: exactly once, at a bounded rate, never at night.

The rules, in order, for each due `planned` row:
- nothing is sent in quiet hours (a message due at night waits for the morning);
- a stale message (visit already recorded, appointment cancelled or started,
  contract renewed) is cancelled, not sent (the planner's `cancel_stale`, run
  just before claiming);
- at most `daily_cap` messages per resident per local day, and one of a kind;
  the rest wait for the next morning (login codes never pass through here);
- WeChat subscribe message when the resident has a linked openid and an
  unused one-time subscription for the template, else SMS; refusal (43101)
  or another permanent WeChat error falls back to SMS for that message;
- opted-out residents and numbers are `suppressed`.

Exactly once: rows are claimed with SELECT ... FOR UPDATE SKIP LOCKED on
PostgreSQL (a lock row keeps a single dispatcher on SQLite), marked `sending`
and committed *before* the provider is called. A row found still `sending`
after `sending_timeout_seconds` was left by a crashed process: it is
reconciled against the provider (messages to that number since the attempt,
matched on the text) before any retry, so a message is never sent twice.
Transient errors (HTTP 5xx, 429, timeouts) retry with exponential backoff;
permanent ones fail at once (21610 also opts the number out).

This is the one service that commits on its own (everywhere else the route,
command or job commits once): `sending` must be durable before the provider
is called, and each outcome right after it, or a crash in between could not
be told apart from a message never sent.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select

from services.core import clock
from services.core.db import db
from services.core.leader import LeaderElection
from services.models import OutboxMessage, Resident, WechatSubscription
from services.reminders.optouts import is_opted_out, opt_out
from services.reminders.planner import cancel_stale
from services.reminders.settings import ReminderSettings

log = logging.getLogger("fdoc.dispatcher")
DISPATCH_LOCK = "sms_dispatcher"


@dataclass
class Channels:
    sms: Any  # send_sms(to, text) -> SendResult; optionally find_sent(to, since)
    wechat: Any | None = None  # send_subscribe(openid, template_id, data) -> msgid


@dataclass
class DispatchResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    suppressed: int = 0
    deferred: int = 0
    reconciled: int = 0
    quiet: bool = False
    busy: bool = False


# --- time rules ------------------------------------------------------------------------

def in_quiet_hours(at: dt.datetime, quiet: tuple[dt.time, dt.time] | None) -> bool:
    if quiet is None:
        return False
    t = clock.to_local(at).time()
    start, end = quiet
    return (t >= start or t < end) if start > end else (start <= t < end)


def next_morning(at: dt.datetime, quiet: tuple[dt.time, dt.time] | None) -> dt.datetime:
    """The first moment of the next local day on which sending is allowed."""
    day = clock.to_local(at).date() + dt.timedelta(days=1)
    opens = quiet[1] if quiet and quiet[0] > quiet[1] else dt.time(0)
    return dt.datetime.combine(day, opens, tzinfo=clock.zone()).astimezone(dt.timezone.utc)


def quiet_end(at: dt.datetime, quiet: tuple[dt.time, dt.time]) -> dt.datetime:
    local = clock.to_local(at)
    end = dt.datetime.combine(local.date(), quiet[1], tzinfo=clock.zone())
    if end <= local:
        end += dt.timedelta(days=1)
    return end.astimezone(dt.timezone.utc)


def backoff(attempts: int, s: ReminderSettings) -> dt.timedelta:
    return dt.timedelta(seconds=min(s.retry_max_seconds, s.retry_base_seconds * 2 ** max(0, attempts - 1)))


# --- the dispatcher ----------------------------------------------------------------------

class Dispatcher:
    def __init__(self, channels: Channels, settings: ReminderSettings, *,
                 now: Callable[[], dt.datetime] = clock.now, sleep: Callable[[float], None] = time.sleep,
                 holder: str | None = None):
        self.channels, self.s, self._now, self._sleep = channels, settings, now, sleep
        self.holder = holder or f"dispatcher-{uuid.uuid4().hex[:8]}"
        self._last_send: float | None = None
        self._postgres = db.session.get_bind().dialect.name == "postgresql"

    # -- entry point
    def run_once(self) -> DispatchResult:
        result = DispatchResult()
        lock = None
        if not self._postgres:  # SQLite: one dispatcher at a time, the scheduler's lock-row mechanism
            lock = LeaderElection(db.engine, DISPATCH_LOCK, self.holder, advisory=False, now=self._now,
                                  lease_seconds=max(60, self.s.sending_timeout_seconds))
            if not lock.try_acquire():
                result.busy = True
                return result
        try:
            self._reconcile(result)
            result.cancelled += cancel_stale(self._now())
            db.session.commit()
            if in_quiet_hours(self._now(), self.s.quiet_hours):
                result.quiet = True
                return result
            while True:
                due, claimed = self._claim(result)
                for row in claimed:
                    self._deliver(row, result)
                # A batch of only deferred or cancelled rows still means more may be due.
                if due < self.s.batch_size or in_quiet_hours(self._now(), self.s.quiet_hours):
                    break
        finally:
            if lock is not None:
                lock.release()
        return result

    # -- reconciliation of rows a crashed process left in `sending`
    def _reconcile(self, result: DispatchResult) -> None:
        now = self._now()
        cutoff = now - dt.timedelta(seconds=self.s.sending_timeout_seconds)
        stmt = (select(OutboxMessage).where(OutboxMessage.status == "sending", OutboxMessage.last_attempt_at < cutoff)
                .order_by(OutboxMessage.id).limit(self.s.batch_size))
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        rows = db.session.scalars(stmt.execution_options(populate_existing=True)).all()
        for row in rows:
            result.reconciled += 1
            if row.channel == "sms" and hasattr(self.channels.sms, "find_sent") and row.recipient:
                since = row.last_attempt_at - dt.timedelta(minutes=1)
                try:
                    found = [m for m in self.channels.sms.find_sent(row.recipient, since) if m.body == row.text]
                except Exception as exc:  # noqa: BLE001 - provider unreachable: try again next run
                    log.warning("reconcile of message %s postponed: %s", row.id, exc)
                    continue
                if found:
                    self._mark_sent(row, found[-1].sid, found[-1].status, now)
                else:
                    row.status, row.next_attempt_at, row.status_reason = "planned", now, "reconciled_not_sent"
            else:
                # No way to ask (WeChat, console): assume it went out rather than risk a second copy.
                self._mark_sent(row, row.provider_message_id, None, now)
                row.error_code = "UNCONFIRMED"
        db.session.commit()

    # -- claiming
    def _claim(self, result: DispatchResult) -> tuple[int, list[OutboxMessage]]:
        """(how many due rows were looked at, the ones now `sending`)."""
        now = self._now()
        stmt = (select(OutboxMessage).where(OutboxMessage.status == "planned", OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(self.s.batch_size))
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        rows = db.session.scalars(stmt.execution_options(populate_existing=True)).all()
        if not rows:
            db.session.commit()
            return 0, []
        counts, kinds = self._sent_today([r.resident_id for r in rows if r.resident_id], now)
        claimed = []
        for row in rows:
            result.claimed += 1
            rid = row.resident_id
            if rid is not None and (counts.get(rid, 0) >= self.s.daily_cap or (rid, row.kind) in kinds):
                row.next_attempt_at = next_morning(now, self.s.quiet_hours)
                row.status_reason = "daily_cap" if counts.get(rid, 0) >= self.s.daily_cap else "one_per_kind_per_day"
                result.deferred += 1
                continue
            if not self._choose_channel(row, now, result):
                continue
            row.status, row.attempts, row.last_attempt_at = "sending", row.attempts + 1, now
            if rid is not None:
                counts[rid] = counts.get(rid, 0) + 1
                kinds.add((rid, row.kind))
            claimed.append(row)
        db.session.commit()  # `sending` is durable before any provider call
        return len(rows), claimed

    def _sent_today(self, resident_ids: list[int], now: dt.datetime) -> tuple[dict[int, int], set[tuple[int, str]]]:
        if not resident_ids:
            return {}, set()
        start, end = clock.day_bounds(clock.to_local(now).date())
        rows = db.session.execute(select(OutboxMessage.resident_id, OutboxMessage.kind, func.count()).where(
            OutboxMessage.resident_id.in_(sorted(set(resident_ids))),
            or_((OutboxMessage.sent_at >= start) & (OutboxMessage.sent_at < end),
                (OutboxMessage.status == "sending") & (OutboxMessage.last_attempt_at >= start)))
            .group_by(OutboxMessage.resident_id, OutboxMessage.kind)).all()
        counts: dict[int, int] = {}
        kinds = set()
        for rid, kind, n in rows:
            counts[rid] = counts.get(rid, 0) + n
            kinds.add((rid, kind))
        return counts, kinds

    def _resident(self, resident_id: int | None):
        """The two resident values sending needs (a column query, no ORM loading)."""
        if resident_id is None:
            return None
        return db.session.execute(select(Resident.sms_opt_out, Resident.wechat_openid)
                                  .where(Resident.id == resident_id)).first()

    def _sms_allowed(self, row: OutboxMessage) -> str | None:
        """None if SMS may go to this row's recipient, else the suppression reason."""
        resident = self._resident(row.resident_id)
        if resident is not None and resident.sms_opt_out:
            return "resident_opted_out"
        if not row.recipient:
            return "no_mobile"
        if is_opted_out(row.recipient):
            return "number_opted_out"
        return None

    def _choose_channel(self, row: OutboxMessage, now: dt.datetime, result: DispatchResult) -> bool:
        template_id = self.s.wechat_templates.get(row.kind)
        resident = self._resident(row.resident_id) if template_id and self.channels.wechat is not None else None
        if (self.channels.wechat is not None and template_id and resident is not None and resident.wechat_openid
                and row.error_code != "WECHAT_FALLBACK"):
            stmt = (select(WechatSubscription).where(
                WechatSubscription.resident_id == row.resident_id, WechatSubscription.template_id == template_id,
                WechatSubscription.used_at.is_(None)).order_by(WechatSubscription.id).limit(1))
            if self._postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            sub = db.session.scalar(stmt)
            if sub is not None or (row.channel == "wechat" and row.attempts > 0):
                if sub is not None:
                    sub.used_at, sub.used_by_message_id = now, row.id
                row.channel = "wechat"
                return True
        row.channel = "sms"
        reason = self._sms_allowed(row)
        if reason:
            row.status, row.status_reason = "suppressed", reason
            result.suppressed += 1
            return False
        return True

    # -- sending
    def _throttle(self) -> None:
        if self.s.rate_per_second <= 0:
            return
        gap = 1.0 / self.s.rate_per_second
        if self._last_send is not None:
            wait = self._last_send + gap - time.monotonic()
            if wait > 0:
                self._sleep(wait)
        self._last_send = time.monotonic()

    def _deliver(self, row: OutboxMessage, result: DispatchResult) -> None:
        self._throttle()
        try:
            if row.channel == "wechat":
                try:
                    resident = self._resident(row.resident_id)
                    msgid = self.channels.wechat.send_subscribe(
                        resident.wechat_openid, self.s.wechat_templates[row.kind], row.data or {})
                    self._mark_sent(row, f"wx-{msgid}", "sent", self._now())
                    db.session.commit()
                    result.sent += 1
                    return
                except Exception as exc:  # noqa: BLE001 - classified below
                    if not getattr(exc, "fallback_to_sms", False):
                        raise
                    row.channel, row.error_code = "sms", "WECHAT_FALLBACK"
                    row.error_message = str(exc)[:500]
                    reason = self._sms_allowed(row)
                    if reason:
                        row.status, row.status_reason = "suppressed", reason
                        db.session.commit()
                        result.suppressed += 1
                        return
                    db.session.commit()
            sent = self.channels.sms.send_sms(row.recipient, row.text)
        except Exception as exc:  # noqa: BLE001
            if not hasattr(exc, "transient"):
                # Unknown failure after the request may have gone out: leave the row
                # `sending`; reconciliation decides once the timeout has passed.
                log.exception("message %s: unexpected error while sending", row.id)
                db.session.rollback()
                return
            self._record_failure(row, exc, result)
            db.session.commit()
            return
        self._mark_sent(row, sent.provider_message_id, sent.status, self._now())
        db.session.commit()
        result.sent += 1

    def _mark_sent(self, row: OutboxMessage, provider_id: str | None, provider_status: str | None,
                   now: dt.datetime) -> None:
        row.status, row.sent_at, row.next_attempt_at = "sent", now, None
        row.provider_message_id, row.provider_status = provider_id, provider_status

    def _record_failure(self, row: OutboxMessage, exc: Any, result: DispatchResult) -> None:
        now = self._now()
        row.error_code, row.error_message = str(getattr(exc, "code", "ERROR")), str(exc)[:500]
        if exc.transient and row.attempts < self.s.max_attempts:
            row.status, row.next_attempt_at = "planned", now + backoff(row.attempts, self.s)
            result.retried += 1
            return
        row.status, row.next_attempt_at = "failed", None
        result.failed += 1
        if getattr(exc, "opt_out", False) and row.recipient:
            opt_out(row.recipient, source="provider", keyword="21610")


def dispatch_once(channels: Channels, settings: ReminderSettings, **kwargs) -> DispatchResult:
    return Dispatcher(channels, settings, **kwargs).run_once()
