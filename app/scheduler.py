"""APScheduler with a persistent job store in the application database.

Jobs are thin: each calls one idempotent service function inside an app
context and commits once, so a job that runs twice, or again after a crash,
changes nothing the second time. The web process runs the scheduler in the
background when SCHEDULER_IN_WEB is on (the default for `make run`, one
gunicorn worker); with several web workers, turn it off and run
`flask --app wsgi scheduler run` as its own process instead.
"""
from __future__ import annotations

import logging

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from services.db import db
from services.models.scheduler import SCHEDULER_JOBS_TABLE

log = logging.getLogger("fdoc.scheduler")

_app: Flask | None = None

# id -> (function reference, trigger kwargs). Times are in TIMEZONE.
JOBS = {
    "housekeeping": ("app.scheduler:run_housekeeping", {"trigger": "cron", "hour": 3, "minute": 30}),
    "contracts_daily": ("app.scheduler:run_contracts_daily", {"trigger": "cron", "hour": 0, "minute": 5}),
    "appointments_no_show": ("app.scheduler:run_no_shows", {"trigger": "cron", "hour": 23, "minute": 50}),
}


def run_housekeeping() -> None:
    from services.housekeeping import purge_expired_records

    with _app.app_context():
        result = purge_expired_records()
        db.session.commit()
        log.info("housekeeping done: %s", result)


def run_contracts_daily() -> None:
    """Expire contracts past their end date and start renewals due today."""
    from services.contracts import expire_and_start_contracts

    with _app.app_context():
        result = expire_and_start_contracts()
        db.session.commit()
        log.info("contracts daily done: %s", result)


def run_no_shows() -> None:
    """Bookings never checked in after their session ended become no-shows (爽约)."""
    from services.appointments import mark_no_shows

    with _app.app_context():
        marked = mark_no_shows()
        db.session.commit()
        log.info("no-show marking done: %s marked", marked)


def build_scheduler(app: Flask, *, blocking: bool = False) -> BaseScheduler:
    global _app
    _app = app
    with app.app_context():
        engine = db.engine
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=SCHEDULER_JOBS_TABLE)},
        timezone=app.config["TIMEZONE"],
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 6 * 3600},
    )
    for job_id, (func, trigger) in JOBS.items():
        scheduler.add_job(func, id=job_id, replace_existing=True, **trigger)
    return scheduler


def start_background(app: Flask) -> BaseScheduler:
    scheduler = build_scheduler(app)
    scheduler.start()
    log.info("scheduler started with jobs: %s", ", ".join(JOBS))
    return scheduler
