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

Senders: the provider call is mostly waiting (50 ms or more a message), so
on PostgreSQL a bounded pool of `dispatch_threads` sender threads makes the
calls while the calling thread claims. Claiming is unchanged (one batch, in
the caller's session, committed `sending` before anything is handed on);
each claimed row is then detached and handed to one sender, which works in a
session of its own (`worker_context`, an app context per message: a Session
is never shared between threads) and commits the outcome as one sender did
before. The next batch is claimed only when the senders are about to run
dry, so a claimed row never waits long in `sending`. All senders take their
turn from one `Pacer`, so together they never exceed `rate_per_second`. An
error a sender does not handle stops the run: queued rows are left `sending`
(reconciled after the timeout, like a crash) and the error is raised.
On SQLite (one writer at a time; development, console channel) there is one
sender: the calling thread, in its own session, exactly as before.

This is the one service that commits on its own (everywhere else the route,
command or job commits once): `sending` must be durable before the provider
is called, and each outcome right after it, or a crash in between could not
be told apart from a message never sent.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import func, or_, select

from services.core import clock
from services.core.db import db
from services.core.leader import LeaderElection
from services.core.phones import PhoneError, normalize_mobile
from services.models import OutboxMessage, Resident, SmsOptOut, WechatSubscription
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

    def add(self, other: DispatchResult) -> None:
        """Fold in the counts of one sender's share of the run."""
        for f in fields(self):
            if f.type in ("int", int):
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class _Known:
    """What the checks of one claimed batch need, looked up once for the whole batch."""
    residents: dict[int, Any]  # id -> (sms_opt_out, wechat_openid)
    opted_out: set[str]  # the batch's recipients whose number is on the opt-out list


class Pacer:
    """The one rate limit every sender of a run shares (thread-safe).

    Each send takes the next free slot, 1/rate after the one before, and
    sleeps until it: sends never run ahead of `rate` per second however many
    threads ask, an idle spell builds up no burst (a slot is never in the
    past), and a sender woken a little late does not push later slots back
    (no drift below the rate). rate <= 0: no limit.
    """

    def __init__(self, rate_per_second: float, *, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self._gap = 1.0 / rate_per_second if rate_per_second > 0 else 0.0
        self._monotonic, self._sleep = monotonic, sleep
        self._next: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._gap:
            return
        with self._lock:
            now = self._monotonic()
            slot = now if self._next is None else max(now, self._next)
            self._next = slot + self._gap
        if slot > now:
            self._sleep(slot - now)


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
    """`worker_context()` opens a context in which `db.session` is a session of the
    current thread's own (Flask: `app.app_context`); without one, or on SQLite,
    the calling thread is the one sender. `sleep` and `monotonic` are the pacing
    clock (tests inject them)."""

    def __init__(self, channels: Channels, settings: ReminderSettings, *,
                 now: Callable[[], dt.datetime] = clock.now, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic, holder: str | None = None,
                 worker_context: Callable[[], AbstractContextManager] | None = None):
        self.channels, self.s, self._now = channels, settings, now
        self.holder = holder or f"dispatcher-{uuid.uuid4().hex[:8]}"
        self._pacer = Pacer(settings.rate_per_second, monotonic=monotonic, sleep=sleep)
        self._postgres = db.session.get_bind().dialect.name == "postgresql"
        self._worker_context = worker_context
        self.senders = max(1, settings.dispatch_threads) if self._postgres and worker_context is not None else 1

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
            if self.senders > 1:
                self._send_pooled(result)
                return result
            while True:
                due, claimed = self._claim(result)
                for row in claimed:
                    self._deliver(row, result)
                if not self._more_due(due):
                    break
        finally:
            if lock is not None:
                lock.release()
        return result

    def _more_due(self, due: int) -> bool:
        # A batch of only deferred or cancelled rows still means more may be due.
        return due >= self.s.batch_size and not in_quiet_hours(self._now(), self.s.quiet_hours)

    # -- the pool of senders (PostgreSQL)
    def _send_pooled(self, result: DispatchResult) -> None:
        n = self.senders
        pending: set[Future] = set()
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix=f"{self.holder}-sender") as pool:
            try:
                while True:
                    due, claimed = self._claim(result)  # committed `sending` before any is handed on
                    for row in claimed:
                        db.session.expunge(row)  # from now on the sender's alone
                        pending.add(pool.submit(self._deliver_apart, row))
                    # Claim again only when the senders are about to run dry (a claimed row
                    # waits as `sending`, and must go out well within sending_timeout_seconds).
                    pending = self._collect(pending, result, keep=2 * n)
                    if not self._more_due(due):
                        break
                pending = self._collect(pending, result, keep=0)
            except BaseException:
                for future in pending:  # not started: left `sending`, reconciled after the timeout
                    future.cancel()
                raise  # leaving the pool waits for the sends under way

    @staticmethod
    def _collect(pending: set[Future], result: DispatchResult, *, keep: int) -> set[Future]:
        """Wait until at most `keep` sends are outstanding; re-raises a sender's error."""
        while len(pending) > keep:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                result.add(future.result())
        return pending

    def _deliver_apart(self, row: OutboxMessage) -> DispatchResult:
        """One sender thread's work on one claimed row, in a session of its own."""
        part = DispatchResult()
        with self._worker_context():
            try:
                db.session.add(row)  # detached after the claim's commit: attached here, no SQL
                self._deliver(row, part)
            finally:
                db.session.remove()
        return part

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
        known = self._look_up(rows)
        claimed = []
        for row in rows:
            result.claimed += 1
            rid = row.resident_id
            if rid is not None and (counts.get(rid, 0) >= self.s.daily_cap or (rid, row.kind) in kinds):
                row.next_attempt_at = next_morning(now, self.s.quiet_hours)
                row.status_reason = "daily_cap" if counts.get(rid, 0) >= self.s.daily_cap else "one_per_kind_per_day"
                result.deferred += 1
                continue
            if not self._choose_channel(row, now, result, known):
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

    def _look_up(self, rows: list[OutboxMessage]) -> _Known:
        """The batch's residents and opted-out numbers in two queries, not two per row
        (the same checks as `_resident` and `optouts.is_opted_out`, in the claim's transaction)."""
        ids = sorted({r.resident_id for r in rows if r.resident_id is not None})
        residents = {r.id: r for r in db.session.execute(
            select(Resident.id, Resident.sms_opt_out, Resident.wechat_openid).where(Resident.id.in_(ids)))} if ids else {}
        national: dict[str, str] = {}
        for row in rows:
            if row.recipient:
                try:
                    national[row.recipient] = normalize_mobile(row.recipient)
                except PhoneError:
                    pass  # not a mobile number: never on the list, as in is_opted_out
        listed = set(db.session.scalars(select(SmsOptOut.phone).where(
            SmsOptOut.phone.in_(sorted(set(national.values())))))) if national else set()
        return _Known(residents, {recipient for recipient, phone in national.items() if phone in listed})

    def _resident(self, resident_id: int | None, known: _Known | None = None):
        """The two resident values sending needs (a column query, no ORM loading)."""
        if resident_id is None:
            return None
        if known is not None:
            return known.residents.get(resident_id)
        return db.session.execute(select(Resident.sms_opt_out, Resident.wechat_openid)
                                  .where(Resident.id == resident_id)).first()

    def _sms_allowed(self, row: OutboxMessage, known: _Known | None = None) -> str | None:
        """None if SMS may go to this row's recipient, else the suppression reason."""
        resident = self._resident(row.resident_id, known)
        if resident is not None and resident.sms_opt_out:
            return "resident_opted_out"
        if not row.recipient:
            return "no_mobile"
        if (row.recipient in known.opted_out) if known is not None else is_opted_out(row.recipient):
            return "number_opted_out"
        return None

    def _choose_channel(self, row: OutboxMessage, now: dt.datetime, result: DispatchResult,
                        known: _Known | None = None) -> bool:
        template_id = self.s.wechat_templates.get(row.kind)
        resident = (self._resident(row.resident_id, known)
                    if template_id and self.channels.wechat is not None else None)
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
        reason = self._sms_allowed(row, known)
        if reason:
            row.status, row.status_reason = "suppressed", reason
            result.suppressed += 1
            return False
        return True

    # -- sending
    def _deliver(self, row: OutboxMessage, result: DispatchResult) -> None:
        self._pacer.wait()
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
