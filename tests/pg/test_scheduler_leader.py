"""On PostgreSQL the scheduler's leader holds a session-level advisory lock:
a second instance cannot get it, and when the leader's session dies (its
process died) the server drops the lock and the standby takes over.

Advisory lock keys are database-wide, so every test uses a lock name of its
own and never meets a dev server or another test run on the same database."""
from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from app import scheduler as sched
from services.core.db import db
from services.core.leader import LeaderElection, advisory_key


@pytest.fixture
def other_engine(app):
    """A second, independent engine: another scheduler process."""
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"],
                              **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
    yield engine
    engine.dispose()


def lock_name() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def holders(name: str) -> list[int]:
    """Backend pids holding the advisory lock for `name`."""
    key = advisory_key(name) & 0xFFFFFFFFFFFFFFFF
    with db.engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1"),
            {"hi": key >> 32, "lo": key & 0xFFFFFFFF}).scalars().all()


def terminate(pid: int) -> None:
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()


def backend_pid(election: LeaderElection) -> int:
    return election._conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()


def test_advisory_lock_one_holder_and_takeover_when_the_session_dies(app, other_engine):
    name = lock_name()
    a = LeaderElection(db.engine, name, "host:1:a")
    b = LeaderElection(other_engine, name, "host:2:b")
    assert a.uses_advisory_lock
    assert a.try_acquire()
    assert not b.try_acquire()
    assert a.renew()
    assert a.try_acquire()  # asking again while leading does not stack a second lock
    assert holders(name) == [backend_pid(a)]

    terminate(backend_pid(a))  # what the server does when A's process dies
    time.sleep(0.1)
    assert b.try_acquire()
    assert not a.renew()  # A finds out at its next heartbeat
    assert not a.try_acquire()

    b.release()
    assert holders(name) == []
    assert a.try_acquire()  # released: no waiting at all
    a.release()
    assert not a.renew()


def test_a_standby_never_keeps_a_connection(app, other_engine):
    name = lock_name()
    a = LeaderElection(db.engine, name)
    b = LeaderElection(other_engine, name)
    assert a.try_acquire()
    for _ in range(3):
        assert not b.try_acquire()
    assert b._conn is None
    assert other_engine.pool.checkedout() == 0
    a.release()


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_the_standby_scheduler_takes_over_when_the_leaders_session_dies(app, monkeypatch):
    planned = []
    monkeypatch.setattr(sched, "run_plan_reminders", lambda: planned.append(1))
    for job_id, (ref, _) in sched.JOBS.items():
        if job_id != "reminders_plan":
            monkeypatch.setattr(sched, ref.split(":")[1], lambda: None)
    name = lock_name()
    instances = []
    for _ in range(2):  # two `scheduler run` processes, as threads
        states: list[str] = []
        stop = threading.Event()
        thread = threading.Thread(target=sched.run_as_leader, args=(app,), daemon=True, kwargs={
            "poll_seconds": 0.2, "lease_seconds": 1.5, "stop_event": stop, "lock_name": name,
            "on_state": states.append})
        thread.start()
        instances.append((states, stop, thread))
        assert wait_for(lambda states=states: states, timeout=5)
    (first, _, _), (second, _, _) = instances
    try:
        assert (first, second) == (["leader"], ["standby"])
        [leader_pid] = holders(name)
        terminate(leader_pid)  # the leader's process "died"
        assert wait_for(lambda: second[-1] == "leader", timeout=3)
        # The old leader's next heartbeat failed: it stopped its jobs and stands by.
        assert wait_for(lambda: first[-1] == "standby", timeout=2)
        assert (first, second) == (["leader", "standby"], ["standby", "leader"])
        [new_pid] = holders(name)
        assert new_pid != leader_pid
        assert wait_for(lambda: len(planned) == 2, timeout=2)  # each leadership plans once at start-up
    finally:
        for _, stop, _ in instances:
            stop.set()
        for _, _, thread in instances:
            thread.join(timeout=5)
    assert not any(thread.is_alive() for _, _, thread in instances)
    assert holders(name) == []  # released on the way out
