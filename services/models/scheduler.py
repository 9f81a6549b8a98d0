"""APScheduler's job table, declared here so that the migration creates it
(APScheduler would otherwise create it itself) and `db check` knows it.
It must match apscheduler.jobstores.sqlalchemy exactly."""
from __future__ import annotations

from sqlalchemy import Column, Float, LargeBinary, Table, Unicode

from services.core.db import db

SCHEDULER_JOBS_TABLE = "apscheduler_jobs"

apscheduler_jobs = Table(
    SCHEDULER_JOBS_TABLE,
    db.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
