"""The scheduler: jobs persisted in the database table the migration made,
housekeeping idempotent, one run per job after downtime, and one leader
among several scheduler processes (the lock row here; PostgreSQL's advisory
lock when TEST_DB=postgres, see also tests/pg/test_scheduler_leader.py)."""
from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import func, select, text, update

from app import scheduler as sched
from services.core import clock
from services.core.db import db
from services.core.leader import LeaderElection, advisory_key
from services.models import IdempotencyRecord, OtpCode, RevokedToken
from services.models.reminder import LeaderLock
from services.models.scheduler import SCHEDULER_JOBS_TABLE


def test_jobs_are_stored_in_the_database(app):
    scheduler = sched.build_scheduler(app)
    scheduler.start(paused=True)
    try:
        rows = db.session.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")).all()
        assert sorted(r.id for r in rows) == sorted(sched.JOBS)
        times = {r.id: dt.datetime.fromtimestamp(r.next_run_time, dt.timezone.utc).astimezone(clock.zone())
                 for r in rows}
        assert (times["housekeeping"].hour, times["housekeeping"].minute) == (3, 30)
        assert (times["contracts_daily"].hour, times["contracts_daily"].minute) == (0, 5)
        assert (times["appointments_no_show"].hour, times["appointments_no_show"].minute) == (23, 50)
        # Starting again (a restart) replaces the job instead of duplicating it.
        again = sched.build_scheduler(app)
        again.start(paused=True)
        again.shutdown(wait=False)
        assert db.session.execute(text("SELECT count(*) FROM apscheduler_jobs")).scalar() == len(sched.JOBS)
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


# --- one run per job after downtime -------------------------------------------------


@pytest.fixture
def job_runs(monkeypatch):
    """Every job function replaced by a counter (the JOBS entries are references by name)."""
    runs: Counter = Counter()
    lock = threading.Lock()
    for job_id, (ref, _) in sched.JOBS.items():
        def count(job_id=job_id):
            with lock:
                runs[job_id] += 1
        monkeypatch.setattr(sched, ref.split(":")[1], count)
    return runs


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_after_two_days_of_downtime_each_job_runs_once(app, job_runs):
    two_days_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)
    before = sched.build_scheduler(app)
    before.start(paused=True)
    before.shutdown(wait=False)
    # The rows as a scheduler that stopped two days ago left them. (Not through
    # a started scheduler: after shutdown() its thread processes due jobs once
    # more, advancing them without running them.)
    store = SQLAlchemyJobStore(engine=db.engine, tablename=SCHEDULER_JOBS_TABLE)
    store.start(before, "default")
    for job in store.get_all_jobs():
        job._modify(next_run_time=two_days_ago)
        store.update_job(job)

    # A restart: building the scheduler again must keep those missed runs.
    scheduler = sched.build_scheduler(app)
    scheduler.start()
    try:
        assert wait_for(lambda: set(job_runs) == set(sched.JOBS)), job_runs
        time.sleep(0.5)  # room for a second run, were there one
    finally:
        scheduler.shutdown(wait=True)
    # sms_dispatch (every minute) missed ~2880 runs, the daily jobs two or three each.
    assert job_runs == {job_id: 1 for job_id in sched.JOBS}
    now = time.time()
    next_runs = db.session.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")).all()
    assert all(r.next_run_time > now for r in next_runs), next_runs


# --- the lock row (SQLite's way; it works on PostgreSQL too) -------------------------


def test_lock_row_one_leader_lease_takeover_and_release(app):
    at = [dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.timezone.utc)]
    name = f"t-{uuid.uuid4().hex[:12]}"

    def election(holder: str) -> LeaderElection:
        return LeaderElection(db.engine, name, holder, lease_seconds=60, now=lambda: at[0], advisory=False)

    a, b = election("host:1:a"), election("host:2:b")
    assert a.try_acquire()
    assert not b.try_acquire()
    at[0] += dt.timedelta(seconds=50)
    assert a.renew()
    at[0] += dt.timedelta(seconds=50)  # 50 s since A's last heartbeat: within the lease
    assert not b.try_acquire()
    at[0] += dt.timedelta(seconds=11)  # A silent for 61 s: the lease ran out
    assert b.try_acquire()
    assert not a.renew()  # A must notice and stop
    assert not a.try_acquire()
    assert db.session.scalar(select(LeaderLock.holder).where(LeaderLock.name == name)) == "host:2:b"
    b.release()
    assert a.try_acquire()  # at once, no lease to wait out
    assert not b.renew()
    a.release()
    assert db.session.scalar(select(LeaderLock.holder).where(LeaderLock.name == name)) is None


# --- run_as_leader: one leader, a standby that takes over -----------------------------


class Instance:
    """One `scheduler run` process, as a thread."""

    def __init__(self, app, name: str, label: str):
        self.label = label
        self.states: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=sched.run_as_leader, args=(app,), daemon=True,
            kwargs={"poll_seconds": 0.2, "lease_seconds": 1.5, "stop_event": self.stop,
                    "lock_name": name, "on_state": self.states.append})
        self.thread.start()

    @property
    def state(self) -> str | None:
        return self.states[-1] if self.states else None

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


def test_one_scheduler_leads_the_other_waits_then_takes_over(app, job_runs):
    name = f"t-{uuid.uuid4().hex[:12]}"
    first = Instance(app, name, "first")
    assert wait_for(lambda: first.state == "leader")
    second = Instance(app, name, "second")
    try:
        assert wait_for(lambda: second.state == "standby")
        assert wait_for(lambda: job_runs["reminders_plan"] == 1)  # planned once at start-up
        time.sleep(0.7)  # several polls and heartbeats: nothing changes
        assert (first.states, second.states) == (["leader"], ["standby"])

        first.halt()  # releases the lock on the way out
        assert wait_for(lambda: second.state == "leader", timeout=2)
        assert wait_for(lambda: job_runs["reminders_plan"] == 2)  # the new leader plans too
    finally:
        first.halt()
        second.halt()
    assert second.states == ["standby", "leader"]


def steal_leadership(engine, name: str) -> None:
    """What a leader sees when it stalled past its lease (row) or its session died (PostgreSQL)."""
    if engine.dialect.name == "postgresql":
        key = advisory_key(name) & 0xFFFFFFFFFFFFFFFF
        with engine.begin() as conn:
            killed = conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1"),
                {"hi": key >> 32, "lo": key & 0xFFFFFFFF}).scalars().all()
        assert killed == [True]
    else:
        with engine.begin() as conn:
            conn.execute(update(LeaderLock).where(LeaderLock.name == name)
                         .values(holder="thief", heartbeat_at=clock.now()))


def test_a_leader_that_lost_the_lock_stops_its_jobs_and_stands_by(app, job_runs):
    name = f"t-{uuid.uuid4().hex[:12]}"
    only = Instance(app, name, "only")
    try:
        assert wait_for(lambda: only.state == "leader")
        steal_leadership(db.engine, name)
        # The next heartbeat (every 0.5 s) finds out; with nobody else holding
        # the lock afterwards (the thief's lease runs out), it leads again.
        assert wait_for(lambda: only.states[:2] == ["leader", "standby"], timeout=3)
        assert wait_for(lambda: only.states == ["leader", "standby", "leader"], timeout=4)
        assert wait_for(lambda: job_runs["reminders_plan"] == 2)  # a fresh scheduler, a fresh plan
    finally:
        only.halt()
