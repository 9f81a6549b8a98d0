"""The scheduler: jobs persisted in the database table the migration made,
housekeeping idempotent."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, text

from app import scheduler as sched
from services import clock
from services.db import db
from services.models import IdempotencyRecord, OtpCode, RevokedToken


def test_jobs_are_stored_in_the_database(app):
    scheduler = sched.build_scheduler(app)
    scheduler.start(paused=True)
    try:
        rows = db.session.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")).all()
        assert sorted(r.id for r in rows) == ["appointments_no_show", "contracts_daily", "housekeeping"]
        times = {r.id: dt.datetime.fromtimestamp(r.next_run_time, dt.timezone.utc).astimezone(clock.zone())
                 for r in rows}
        assert (times["housekeeping"].hour, times["housekeeping"].minute) == (3, 30)
        assert (times["contracts_daily"].hour, times["contracts_daily"].minute) == (0, 5)
        assert (times["appointments_no_show"].hour, times["appointments_no_show"].minute) == (23, 50)
        # Starting again (a restart) replaces the job instead of duplicating it.
        again = sched.build_scheduler(app)
        again.start(paused=True)
        again.shutdown(wait=False)
        assert db.session.execute(text("SELECT count(*) FROM apscheduler_jobs")).scalar() == 3
    finally:
        scheduler.shutdown(wait=False)


def test_housekeeping_purges_expired_records_once(app, frozen_clock):
    now = clock.now()
    db.session.add_all([
        RevokedToken(jti="old", token_type="access", subject="staff:1", expires_at=now - dt.timedelta(minutes=1)),
        RevokedToken(jti="live", token_type="refresh", subject="staff:1", expires_at=now + dt.timedelta(days=3)),
        IdempotencyRecord(actor="staff:1", key="k-old", method="POST", path="/x", fingerprint="f",
                          status_code=201, response_body="{}", created_at=now - dt.timedelta(days=8)),
        IdempotencyRecord(actor="staff:1", key="k-new", method="POST", path="/x", fingerprint="f",
                          status_code=201, response_body="{}", created_at=now - dt.timedelta(days=1)),
        OtpCode(phone="13700001234", code_hash="h", expires_at=now - dt.timedelta(days=2),
                created_at=now - dt.timedelta(days=2), attempts=0),
    ])
    db.session.commit()
    sched._app = app
    sched.run_housekeeping()
    assert db.session.scalars(select(RevokedToken.jti)).all() == ["live"]
    assert db.session.scalars(select(IdempotencyRecord.key)).all() == ["k-new"]
    assert db.session.scalar(select(func.count()).select_from(OtpCode)) == 0
    sched.run_housekeeping()  # a second run changes nothing
    assert db.session.scalars(select(RevokedToken.jti)).all() == ["live"]
