"""The dispatcher's pool of sender threads on PostgreSQL: with a second
dispatcher beside it, under transient failures and retries, and after a sender
dies mid-run, every message is sent exactly once (the fake Twilio's log is the
proof); and all senders together never exceed the configured rate (counted on
a virtual clock, so nothing here depends on how fast the machine is)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import threading
from collections import Counter

import pytest
from sqlalchemy import select

from app.config import reconfigure
from app.reminders import dispatch, plan, reminder_settings, sms_channel
from services.core import clock
from services.core.db import db
from services.models import OutboxMessage
from services.reminders.channels import SendResult
from services.reminders.dispatcher import Channels, Dispatcher
from tests.factories import login, make_resident
from tests.fakes.twilio import FakeTwilio


def residents_due(app, client, world, n: int) -> None:
    """n residents with a follow-up due, one planned reminder each."""
    doctor = login(client, "doctor_a")
    for i in range(n):
        r = make_resident(world.thc_a, phone=f"1390000{i:04d}", birth=dt.date(1950, 1, 1) + dt.timedelta(days=i))
        client.post(f"/api/v1/residents/{r.id}/programs", headers=doctor,
                    json={"program": "hypertension", "enrolled_on": "2026-02-18"})
    assert plan(app).planned == n


def outbox() -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


class CountingSms:
    """The real channel, counting how many provider calls are under way at once."""

    def __init__(self, inner):
        self.inner, self.name = inner, inner.name
        self.lock, self.now, self.most = threading.Lock(), 0, 0

    def send_sms(self, to, text):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return self.inner.send_sms(to, text)
        finally:
            with self.lock:
                self.now -= 1

    def find_sent(self, to, since):
        return self.inner.find_sent(to, since)


@pytest.fixture
def fake(app, world, frozen_clock):
    with FakeTwilio() as twilio:
        reconfigure(app, SMS_BACKEND="twilio", TWILIO_ACCOUNT_SID=twilio.account_sid,
                    TWILIO_AUTH_TOKEN=twilio.auth_token, TWILIO_FROM="+15005550006", TWILIO_API_BASE=twilio.base_url,
                    SMS_RATE_PER_SECOND=0, SMS_BATCH_SIZE=5, SMS_DISPATCH_THREADS=4)
        app.extensions.pop("sms_channel", None)
        yield twilio
        app.extensions.pop("sms_channel", None)


def test_a_pool_and_a_second_dispatcher_send_every_message_exactly_once(app, client, world, fake):
    # Retries come due at once (no backoff) and 20 % of the calls fail: rows go round
    # planned -> sending -> planned while both dispatchers claim in batches of 5.
    reconfigure(app, SMS_RETRY_BASE_SECONDS=0, SMS_MAX_ATTEMPTS=20)
    residents_due(app, client, world, 60)
    sms = CountingSms(sms_channel(app))
    app.extensions["sms_channel"] = sms
    fake.latency, fake.transient_rate = 0.02, 0.2
    barrier, results, errors = threading.Barrier(2), {}, []

    def run(name, senders):
        with app.app_context():
            try:
                barrier.wait()
                settings = dataclasses.replace(reminder_settings(app), dispatch_threads=senders)
                d = Dispatcher(Channels(sms=sms), settings, sleep=lambda _s: None, worker_context=app.app_context)
                assert d.senders == senders
                results[name] = d.run_once()
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=("pool", 4)), threading.Thread(target=run, args=("single", 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(r.sent > 0 for r in results.values()), results  # both really worked, side by side
    # A retry made due after a dispatcher's last claim goes in a later tick, as with one sender.
    later = []
    for _ in range(20):
        if not any(r.status == "planned" for r in outbox()):
            break
        later.append(dispatch(app, sleep=lambda _s: None))
    counts = Counter(m["to"] for m in fake.sent)
    assert len(counts) == 60 and set(counts.values()) == {1}
    assert sum(r.sent for r in [*results.values(), *later]) == 60
    assert sum(r.retried for r in [*results.values(), *later]) > 0  # failures really happened, were retried
    assert 2 <= sms.most <= 5  # the pool sent concurrently, never more than 4 + 1 at once
    rows = outbox()
    assert {r.status for r in rows} == {"sent"}
    bodies = {m["sid"]: m["body"] for m in fake.sent}
    assert sorted(r.provider_message_id for r in rows) == sorted(bodies)
    assert all(bodies[r.provider_message_id] == r.text for r in rows)


def test_a_sender_dying_mid_run_leaves_rows_sending_and_reconciliation_sends_each_once(app, client, world, fake):
    residents_due(app, client, world, 20)
    real = sms_channel(app)
    doomed = "+8613900000007"

    class Dying:
        name = "twilio"

        def send_sms(self, to, text):
            if to == doomed:
                real.send_sms(to, text)  # accepted by Twilio, then the process dies before recording it
                raise KeyboardInterrupt("killed")
            return real.send_sms(to, text)

        def find_sent(self, to, since):
            return real.find_sent(to, since)

    app.extensions["sms_channel"] = Dying()
    with pytest.raises(KeyboardInterrupt):
        dispatch(app, sleep=lambda _s: None)
    db.session.rollback()
    statuses = Counter(r.status for r in outbox())
    assert set(statuses) <= {"sent", "sending", "planned"} and statuses["sending"] >= 1
    assert next(r for r in outbox() if r.recipient == doomed).status == "sending"
    app.extensions["sms_channel"] = real
    assert dispatch(app, sleep=lambda _s: None).reconciled == 0  # too early: `sending` rows are left alone
    clock.advance(dt.timedelta(minutes=6))  # past SMS_SENDING_TIMEOUT_SECONDS
    reconciled = 0
    for _ in range(10):  # reconciliation takes a batch (5) per run
        reconciled += dispatch(app, sleep=lambda _s: None).reconciled
        if {r.status for r in outbox()} == {"sent"}:
            break
    assert reconciled == statuses["sending"]
    assert next(r for r in outbox() if r.recipient == doomed).error_code is None  # found at Twilio, not resent
    counts = Counter(m["to"] for m in fake.sent)
    assert len(counts) == 20 and set(counts.values()) == {1}
    rows = outbox()
    assert {r.status for r in rows} == {"sent"}
    assert sorted(r.provider_message_id for r in rows) == sorted(m["sid"] for m in fake.sent)


class VirtualClock:
    """Each thread's own time line: sleeping and provider latency move it on, nothing
    really waits. A send happens at its sender's virtual time."""

    def __init__(self):
        self._local = threading.local()

    def monotonic(self) -> float:
        return getattr(self._local, "t", 0.0)

    def sleep(self, seconds: float) -> None:
        self._local.t = self.monotonic() + seconds


class VirtualSms:
    """A provider taking `latency` seconds of virtual time per call; logs when each call began."""

    name = "virtual"

    def __init__(self, clock: VirtualClock, latency: float):
        self.clock, self.latency, self.lock, self.sent = clock, latency, threading.Lock(), []

    def send_sms(self, to, text):
        with self.lock:
            self.sent.append((self.clock.monotonic(), to))
        self.clock.sleep(self.latency)
        return SendResult(provider_message_id=f"v-{to}", status="sent")


@pytest.mark.parametrize("rate", [40.0, 10.0])
def test_all_senders_together_never_exceed_the_configured_rate(app, client, world, fake, rate):
    residents_due(app, client, world, 60)
    vclock = VirtualClock()
    sms = VirtualSms(vclock, latency=0.05)
    settings = dataclasses.replace(reminder_settings(app), rate_per_second=rate, dispatch_threads=8, batch_size=20)
    result = Dispatcher(Channels(sms=sms), settings, sleep=vclock.sleep, monotonic=vclock.monotonic,
                        worker_context=app.app_context).run_once()
    assert result.sent == 60 and len({to for _t, to in sms.sent}) == 60
    times = sorted(t for t, _to in sms.sent)
    gap = 1 / rate
    # Never faster than the rate: successive sends at least 1/rate apart, at most `rate` in any second.
    assert all(b - a >= gap * (1 - 1e-9) for a, b in itertools.pairwise(times)), times
    assert max(sum(1 for u in times if t <= u < t + 1 - 1e-9) for t in times) <= rate
    assert {r.status for r in outbox()} == {"sent"}
    # (How close to the rate a pool gets depends on real thread scheduling, not on this
    # clock: bench/reminders.py measures it.)
