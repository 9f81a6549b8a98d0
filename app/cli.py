"""flask commands: `demo seed` (more groups arrive with later work)."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

demo_cli = AppGroup("demo", help="演示数据")


@demo_cli.command("seed")
def demo_seed() -> None:
    """Create the demo medical community, staff and 200 residents (idempotent)."""
    from services import demo
    from services.db import db

    result = demo.seed_demo(current_app.extensions["pii_cipher"])
    db.session.commit()
    click.echo(result.summary())


scheduler_cli = AppGroup("scheduler", help="定时任务（APScheduler）")


@scheduler_cli.command("run")
def scheduler_run() -> None:
    """Run the scheduler in the foreground (for deployments with several web workers)."""
    from app.scheduler import build_scheduler

    scheduler = build_scheduler(current_app._get_current_object(), blocking=True)
    click.echo("scheduler running; Ctrl-C to stop")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass


@scheduler_cli.command("jobs")
def scheduler_jobs() -> None:
    """List the scheduled jobs and their next run times."""
    from app.scheduler import build_scheduler

    scheduler = build_scheduler(current_app._get_current_object())
    scheduler.start(paused=True)
    for job in scheduler.get_jobs():
        click.echo(f"{job.id:20} next run {job.next_run_time}")
    scheduler.shutdown(wait=False)


@scheduler_cli.command("run-job")
@click.argument("job_id")
def scheduler_run_job(job_id: str) -> None:
    """Run one job now, in this process (it is idempotent)."""
    from app import scheduler as sched

    if job_id not in sched.JOBS:
        raise click.BadParameter(f"unknown job {job_id!r}; known: {', '.join(sched.JOBS)}")
    sched._app = current_app._get_current_object()
    module, func = sched.JOBS[job_id][0].split(":")
    getattr(__import__(module, fromlist=[func]), func)()
    click.echo(f"{job_id} done")


def register_cli(app: Flask) -> None:
    app.cli.add_command(demo_cli)
    app.cli.add_command(scheduler_cli)
