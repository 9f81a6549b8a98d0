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
    from services.contracts import ContractSettings
    from services.db import db
    from services.demo_contracts import seed_demo_contracts

    result = demo.seed_demo(current_app.extensions["pii_cipher"])
    db.session.commit()
    from services.demo_followups import seed_demo_followups

    enrolled = seed_demo_followups(current_app.extensions["followup_rules"])
    db.session.commit()
    c = current_app.config
    signed = seed_demo_contracts(ContractSettings(c["CONTRACT_TERM_MONTHS"], c["MIN_RESIDENCE_MONTHS"],
                                                  c["TEAM_CAPACITY_PER_DOCTOR"]))
    db.session.commit()
    from services.demo_appointments import seed_demo_sessions

    sessions = seed_demo_sessions()
    db.session.commit()
    click.echo(result.summary())
    click.echo(f"\n演示慢病管理 / demo chronic-disease patients enrolled this run: {enrolled}")
    click.echo(f"演示签约 / demo contracts signed this run: {signed}"
               + ("" if signed else "（已存在或未加载服务包目录 / already present, or catalog not loaded）"))
    click.echo(f"演示出诊时段 / demo sessions for the next two weeks created this run: {sessions}")


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


catalog_cli = AppGroup("catalog", help="服务包目录（packages_catalog/）")


def _catalog_dir() -> str:
    from services.catalog import CATALOG_DIR

    return current_app.config.get("PACKAGES_CATALOG_DIR") or CATALOG_DIR


@catalog_cli.command("check")
def catalog_check() -> None:
    """Validate every package file; print every problem as file: field: reason; exit 1 if any."""
    from services.catalog import scan_directory

    definitions, errors = scan_directory(_catalog_dir())
    if errors:
        for error in errors:
            for line in error.lines():
                click.echo(line, err=True)
        raise SystemExit(1)
    for d in definitions:
        click.echo(f"ok  {d.code:14} v{d.version}  {d.name}  list {d.list_value_fen} fen, self-pay {d.self_pay_fen} fen")
    click.echo(f"{len(definitions)} packages valid")


@catalog_cli.command("load")
def catalog_load() -> None:
    """Load the catalog (idempotent; a changed file becomes a new version)."""
    from services import packages
    from services.catalog import CatalogError, load_directory
    from services.db import db

    try:
        definitions = load_directory(_catalog_dir())
    except CatalogError as exc:
        click.echo(f"catalog error: {exc}", err=True)
        raise SystemExit(1) from exc
    result = packages.load_catalog(definitions)
    db.session.commit()
    for code, version in result.created:
        click.echo(f"loaded   {code} v{version}")
    click.echo(f"{len(result.created)} new versions, {len(result.unchanged)} unchanged")


def register_cli(app: Flask) -> None:
    app.cli.add_command(demo_cli)
    app.cli.add_command(catalog_cli)
    app.cli.add_command(scheduler_cli)
