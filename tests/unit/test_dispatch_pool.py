"""The pieces of the dispatcher's sender pool that need no PostgreSQL: the shared
Pacer (thread-safe, never faster than the rate, no burst after an idle spell),
the setting, SQLite's single sender, and the claim's checks looked up once per
batch. The pool itself is exercised on PostgreSQL (tests/pg/test_dispatch_pool.py)."""
from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest
from sqlalchemy import select

from app.config import reconfigure
from app.reminders import dispatch, plan, reminder_settings
from services.core.db import db
from services.models import OutboxMessage, Resident
from services.reminders.channels.console import ConsoleSmsChannel
from services.reminders.dispatcher import Channels, Dispatcher, DispatchResult, Pacer
from services.reminders.optouts import opt_out
from services.reminders.settings import ReminderSettings
from tests.factories import login, make_resident
from tests.fakes.twilio import FakeTwilio


class StoppedClock:
    """Time stands still; each sleep records the instant its sleeper wakes at."""

    def __init__(self, at: float = 0.0):
        self.at, self.lock, self.wakes = at, threading.Lock(), []

    def monotonic(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.wakes.append(self.at + seconds)


def test_the_pacer_hands_out_one_slot_per_send_one_gap_apart_across_threads():
    clock = StoppedClock()
    pacer = Pacer(40, monotonic=clock.monotonic, sleep=clock.sleep)
    barrier = threading.Barrier(8)

    def sender():
        barrier.wait()
        for _ in range(25):
            pacer.wait()

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 200 sends: the first at once, each other one its own slot, 1/40 s after the one before.
    slots = sorted([0.0, *clock.wakes])
    assert len(slots) == 200
    assert all(abs(b - a - 0.025) < 1e-9 for a, b in itertools.pairwise(slots))


def test_an_idle_pacer_builds_up_no_burst():
    clock = StoppedClock()
    pacer = Pacer(10, monotonic=clock.monotonic, sleep=clock.sleep)
    pacer.wait()
    clock.at = 60.0  # a minute with nothing to send
    pacer.wait()  # goes at once...
    pacer.wait()  # ...and the next waits its turn again
    assert clock.wakes == [60.1]


def test_no_rate_means_no_waiting():
    clock = StoppedClock()
    pacer = Pacer(0, monotonic=clock.monotonic, sleep=clock.sleep)
    for _ in range(100):
        pacer.wait()
    assert clock.wakes == []


def test_results_of_the_senders_add_up_counts_not_flags():
    total = DispatchResult(claimed=5, sent=1, quiet=False)
    total.add(DispatchResult(sent=2, retried=1, failed=1, suppressed=1, busy=True))
    assert total == DispatchResult(claimed=5, sent=3, retried=1, failed=1, suppressed=1)


def test_the_setting_reaches_the_reminder_settings(app):
    assert ReminderSettings().dispatch_threads == 4 == reminder_settings(app).dispatch_threads
    reconfigure(app, SMS_DISPATCH_THREADS=3)
    assert reminder_settings(app).dispatch_threads == 3
    reconfigure(app, SMS_DISPATCH_THREADS=0)
    assert reminder_settings(app).dispatch_threads == 1


def test_sqlite_sends_with_one_sender_in_the_callers_session(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's fallback; the pool on PostgreSQL is tests/pg/test_dispatch_pool.py")
    settings = ReminderSettings(dispatch_threads=8)
    channels = Channels(sms=ConsoleSmsChannel())
    assert Dispatcher(channels, settings, worker_context=app.app_context).senders == 1
    assert Dispatcher(channels, settings).senders == 1  # and with no way to open a session per thread


def test_opt_outs_since_planning_are_suppressed_at_the_claim(app, client, world, frozen_clock):
    """Resident and number opt-outs that came after planning, checked for a whole batch at once."""
    with FakeTwilio() as fake:
        reconfigure(app, SMS_BACKEND="twilio", TWILIO_ACCOUNT_SID=fake.account_sid, TWILIO_AUTH_TOKEN=fake.auth_token,
                    TWILIO_FROM="+15005550006", TWILIO_API_BASE=fake.base_url, SMS_RATE_PER_SECOND=0)
        app.extensions.pop("sms_channel", None)
        doctor = login(client, "doctor_a")
        people = []
        for i, phone in enumerate(["13912345670", "13912345671", "13912345672", "13912345673"]):
            r = make_resident(world.thc_a, phone=phone, birth=dt.date(1950, 1, 1) + dt.timedelta(days=i))
            client.post(f"/api/v1/residents/{r.id}/programs", headers=doctor,
                        json={"program": "hypertension", "enrolled_on": "2026-02-18"})
            people.append(r)
        assert plan(app).planned == 4
        db.session.get(Resident, people[0].id).sms_opt_out = True  # in the app
        opt_out("+8613912345671", source="reply", keyword="TD")  # by reply
        db.session.commit()
        result = dispatch(app, sleep=lambda _s: None)
        app.extensions.pop("sms_channel", None)
    assert (result.claimed, result.sent, result.suppressed) == (4, 2, 2)
    assert sorted(m["to"] for m in fake.sent) == ["+8613912345672", "+8613912345673"]
    db.session.expire_all()
    got = {m.resident_id: (m.status, m.status_reason) for m in db.session.scalars(select(OutboxMessage))}
    assert got == {people[0].id: ("suppressed", "resident_opted_out"), people[1].id: ("suppressed", "number_opted_out"),
                   people[2].id: ("sent", None), people[3].id: ("sent", None)}
