"""APScheduler with a persistent job store in the application database.

Jobs are thin: each calls one idempotent service function inside an app
context and commits once, so a job that runs twice, or again after a crash,
changes nothing the second time.

The scheduler runs only in `flask --app wsgi scheduler run` (which `make run`
starts beside gunicorn), never in a web worker. Any number of those processes
may run: one is the leader (services/leader.py) and runs the jobs, the others
wait as standbys and take over when it dies.

After downtime each job runs once, not once per missed run: a run time that
passed while no scheduler ran is kept across the restart, `coalesce` folds
all the missed runs into one, and the misfire grace time is longer than the
longest period (a day), so that one run is never discarded as too late.
"""
from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import Engine, column, select, table

from services.core.db import db
from services.core.leader import LeaderElection
from services.models.scheduler import SCHEDULER_JOBS_TABLE

log = logging.getLogger("fdoc.scheduler")

_app: Flask | None = None

LOCK_NAME = "scheduler"

# Longer than the longest period (the daily jobs), so the one coalesced run
# after any downtime is always within the grace and runs; every job is
# idempotent and catches up on its own, so late is better than never.
MISFIRE_GRACE_SECONDS = 25 * 3600

# id -> (function reference, trigger kwargs). Times are in TIMEZONE.
JOBS = {
    "housekeeping": ("app.scheduler:run_housekeeping", {"trigger": "cron", "hour": 3, "minute": 30}),
    "contracts_daily": ("app.scheduler:run_contracts_daily", {"trigger": "cron", "hour": 0, "minute": 5}),
    "appointments_no_show": ("app.scheduler:run_no_shows", {"trigger": "cron", "hour": 23, "minute": 50}),
    "reminders_plan": ("app.scheduler:run_plan_reminders", {"trigger": "cron", "hour": 7, "minute": 30}),
    "sms_dispatch": ("app.scheduler:run_dispatch", {"trigger": "interval", "minutes": 1}),
    "fhir_exports": ("app.scheduler:run_fhir_exports", {"trigger": "interval", "minutes": 1}),
}


def run_housekeeping() -> None:
    from services.core.housekeeping import purge_expired_records

    with _app.app_context():
        result = purge_expired_records(_app.extensions["settings"].sync.receipt_days)
        from app.fhir_exports import bulk_settings
        from services.exports.fhir.bulk import expire_exports

        expired = expire_exports(bulk_settings(_app))
        db.session.commit()
        log.info("FHIR exports expired: %s", expired)
        log.info("housekeeping done: %s", result)


def run_fhir_exports() -> None:
    """FHIR exports queued, or left running by a stopped web process (their state is in the database)."""
    from app.fhir_exports import run_pending

    with _app.app_context():
        ran = run_pending(_app)
        if ran:
            log.info("FHIR exports run: %s", ran)


def run_contracts_daily() -> None:
    """Expire contracts past their end date and start renewals due today."""
    from services.contracts.lifecycle import expire_and_start_contracts

    with _app.app_context():
        result = expire_and_start_contracts()
        db.session.commit()
        log.info("contracts daily done: %s", result)


def run_no_shows() -> None:
    """Bookings never checked in after their session ended become no-shows (爽约)."""
    from services.appointments.bookings import mark_no_shows

    with _app.app_context():
        marked = mark_no_shows()
        db.session.commit()
        log.info("no-show marking done: %s marked", marked)


def run_plan_reminders() -> None:
    """Plan today's reminders (idempotent: a second run adds nothing)."""
    from app.reminders import plan, reminder_settings
    from services.core import clock
    from services.reminders.dispatcher import in_quiet_hours

    with _app.app_context():
        log.info("reminder planning done: %s", plan(_app))
        settings = reminder_settings(_app)
        if in_quiet_hours(clock.now(), settings.quiet_hours):
            start, end = settings.quiet_hours
            log.info("quiet hours now (%s-%s %s): messages wait for the morning; QUIET_HOURS= (empty) disables them",
                     f"{start:%H:%M}", f"{end:%H:%M}", _app.config["TIMEZONE"])


def run_dispatch() -> None:
    """Send due outbox messages (quiet hours, caps and retries are the dispatcher's)."""
    from app.reminders import dispatch

    with _app.app_context():
        result = dispatch(_app)
        if result.claimed:
            log.info("dispatch done: %s", result)


def build_scheduler(app: Flask, *, blocking: bool = False) -> BaseScheduler:
    global _app
    _app = app
    with app.app_context():
        engine = db.engine
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=SCHEDULER_JOBS_TABLE)},
        timezone=app.config["TIMEZONE"],
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
    )
    overdue = _overdue_run_times(engine)
    for job_id, (func, trigger) in JOBS.items():
        # Replacing a stored job recomputes its next run from now, which would
        # silently drop a run missed during downtime; keep that one instead.
        when = {"next_run_time": overdue[job_id]} if job_id in overdue else {}
        scheduler.add_job(func, id=job_id, replace_existing=True, **trigger, **when)
    return scheduler


def _overdue_run_times(engine: Engine) -> dict[str, dt.datetime]:
    """Stored next run times already in the past: runs missed while no scheduler ran."""
    # APScheduler's clock, not services.core.clock: these are its own run times.
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    jobs = table(SCHEDULER_JOBS_TABLE, column("id"), column("next_run_time"))
    with engine.connect() as conn:
        rows = conn.execute(select(jobs.c.id, jobs.c.next_run_time)
                            .where(jobs.c.next_run_time <= now)).all()
    return {r.id: dt.datetime.fromtimestamp(r.next_run_time, dt.timezone.utc) for r in rows}


def _plan_at_startup() -> None:
    """Plan once when a process becomes leader, so a start after 07:30 still plans today."""
    try:
        run_plan_reminders()
    except Exception:  # noqa: BLE001 - a failed plan must not stop the scheduler
        log.exception("start-up reminder planning failed")


def run_as_leader(app: Flask, *, poll_seconds: float = 5, lease_seconds: float = 60,
                  stop_event: threading.Event | None = None, lock_name: str = LOCK_NAME,
                  on_state: Callable[[str], None] | None = None) -> None:
    """Run the scheduler while this process is the leader; wait as a standby otherwise.

    Returns when `stop_event` is set (SIGTERM/SIGINT set it when none is given).
    `on_state` hears "standby" and "leader" on each change.
    """
    stop = stop_event or stop_on_signals()
    with app.app_context():
        engine = db.engine
    election = LeaderElection(engine, lock_name, lease_seconds=lease_seconds)
    state = None

    def announce(new_state: str) -> None:
        nonlocal state
        if new_state != state:
            state = new_state
            log.info("scheduler %s (%s)", state, election.holder)
            if on_state:
                on_state(state)

    try:
        while not stop.is_set():
            if not election.try_acquire():
                announce("standby")
                stop.wait(poll_seconds)
                continue
            announce("leader")
            try:
                _lead(app, election, stop, heartbeat_seconds=lease_seconds / 3)
            except Exception:  # noqa: BLE001 - e.g. the database went away: stand down, retry
                log.exception("scheduler failed as leader; standing down")
                election.release()
                stop.wait(poll_seconds)
            if not election.is_leader:
                announce("standby")
    finally:
        election.release()


def _lead(app: Flask, election: LeaderElection, stop: threading.Event, *, heartbeat_seconds: float) -> None:
    """Run the jobs until told to stop or leadership is lost."""
    scheduler = build_scheduler(app)
    # A one-off job of the scheduler, so the heartbeat goes on while it plans.
    scheduler.add_jobstore(MemoryJobStore(), "startup")
    scheduler.add_job(_plan_at_startup, id="reminders_plan_startup", jobstore="startup")
    scheduler.start()
    log.info("scheduler started with jobs: %s", ", ".join(JOBS))
    lost = False
    try:
        while not stop.wait(heartbeat_seconds):
            if not election.renew():
                lost = True
                log.warning("scheduler leadership lost (%s); stopping the jobs", election.holder)
                break
    finally:
        # On a loss another process already runs the jobs: do not wait for ours.
        scheduler.shutdown(wait=not lost)


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM and SIGINT set (handlers only install from the main thread)."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        def handle(signum, frame):  # noqa: ARG001
            # Set from another thread: the main thread may be inside stop.wait().
            threading.Thread(target=stop.set, daemon=True).start()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
    return stop
