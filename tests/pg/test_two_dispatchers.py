"""Two dispatchers at once on PostgreSQL (SELECT ... FOR UPDATE SKIP LOCKED):
every message is sent exactly once, the fake provider's log is the proof."""
from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

from sqlalchemy import select

from app.config import reconfigure
from app.reminders import dispatch, plan
from services.core.db import db
from services.models import OutboxMessage
from tests.factories import login, make_resident
from tests.fakes.twilio import FakeTwilio


def test_two_dispatchers_never_send_the_same_message(app, client, world, frozen_clock):
    with FakeTwilio() as fake:
        reconfigure(app, SMS_BACKEND="twilio", TWILIO_ACCOUNT_SID=fake.account_sid,
                          TWILIO_AUTH_TOKEN=fake.auth_token, TWILIO_FROM="+15005550006",
                          TWILIO_API_BASE=fake.base_url, SMS_RATE_PER_SECOND=0, SMS_BATCH_SIZE=5)
        app.extensions.pop("sms_channel", None)
        doctor = login(client, "doctor_a")
        for i in range(40):
            r = make_resident(world.thc_a, phone=f"1390000{i:04d}", birth=dt.date(1950, 1, 1) + dt.timedelta(days=i))
            client.post(f"/api/v1/residents/{r.id}/programs", headers=doctor,
                        json={"program": "hypertension", "enrolled_on": "2026-02-18"})
        assert plan(app).planned == 40
        fake.latency = 0.02
        barrier, results = threading.Barrier(2), []

        def worker():
            with app.app_context():
                barrier.wait()
                results.append(dispatch(app, sleep=lambda _s: None))
                db.session.remove()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        app.extensions.pop("sms_channel", None)
    counts = Counter(m["to"] for m in fake.sent)
    assert len(counts) == 40 and set(counts.values()) == {1}
    assert sum(r.sent for r in results) == 40
    assert all(r.sent > 0 for r in results), results  # both really worked, in parallel
    db.session.expire_all()
    assert set(db.session.scalars(select(OutboxMessage.status))) == {"sent"}
