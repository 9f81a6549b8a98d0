"""On SQLite one dispatcher runs at a time (a lock row); a second finds it busy
and sends nothing. PostgreSQL runs them side by side with SKIP LOCKED
(tests/pg/test_two_dispatchers.py). This file runs on SQLite only."""
from __future__ import annotations

from app.config import reconfigure
from app.reminders import dispatch, plan
from services.core.db import db
from services.core.leader import LeaderElection
from services.reminders import dispatcher
from tests.factories import login, make_resident
from tests.fakes.twilio import FakeTwilio


def test_a_second_dispatcher_waits_for_the_first(app, client, world, frozen_clock):
    with FakeTwilio() as fake:
        reconfigure(app, SMS_BACKEND="twilio", TWILIO_ACCOUNT_SID=fake.account_sid, TWILIO_AUTH_TOKEN=fake.auth_token,
                          TWILIO_FROM="+15005550006", TWILIO_API_BASE=fake.base_url, SMS_RATE_PER_SECOND=0)
        app.extensions.pop("sms_channel", None)
        r = make_resident(world.thc_a, phone="13912345678")
        client.post(f"/api/v1/residents/{r.id}/programs", headers=login(client, "doctor_a"),
                    json={"program": "hypertension", "enrolled_on": "2026-02-18"})
        assert plan(app).planned == 1
        other = LeaderElection(db.engine, dispatcher.DISPATCH_LOCK, "other-process", advisory=False,
                               lease_seconds=300)
        assert other.try_acquire()
        assert dispatch(app, sleep=lambda _s: None).busy and fake.sent == []
        other.release()
        assert dispatch(app, sleep=lambda _s: None).sent == 1 and len(fake.sent) == 1
        app.extensions.pop("sms_channel", None)
