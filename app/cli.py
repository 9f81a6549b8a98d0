"""flask commands: `demo seed` (more groups arrive with later work)."""
from __future__ import annotations

import os
import threading

import click
from flask import Flask, current_app
from flask.cli import AppGroup

demo_cli = AppGroup("demo", help="演示数据")


@demo_cli.command("seed")
def demo_seed() -> None:
    """Create the demo medical community, staff and 200 residents (idempotent)."""
    from services.core.db import db
    from services.demo import seed as demo
    from services.demo.contracts import seed_demo_contracts

    result = demo.seed_demo(current_app.extensions["pii_cipher"])
    db.session.commit()
    from services.demo.followups import seed_demo_followups

    enrolled = seed_demo_followups(current_app.extensions["followup_rules"])
    db.session.commit()
    signed = seed_demo_contracts(current_app.extensions["settings"].contracts)
    db.session.commit()
    from services.demo.appointments import seed_demo_sessions

    sessions = seed_demo_sessions()
    db.session.commit()
    from services.demo.history import seed_demo_history

    history = seed_demo_history(current_app.extensions["followup_rules"])
    db.session.commit()
    click.echo(result.summary())
    click.echo(f"\n演示慢病管理 / demo chronic-disease patients enrolled this run: {enrolled}")
    click.echo(f"演示签约 / demo contracts signed this run: {signed}"
               + ("" if signed else "（已存在或未加载服务包目录 / already present, or catalog not loaded）"))
    click.echo(f"演示出诊时段 / demo sessions for the next two weeks created this run: {sessions}")
    click.echo("演示历史（供管理看板）/ demo history for the dashboard this run: "
               + ", ".join(f"{kind} {n}" for kind, n in history.items()))


sync_cli = AppGroup("sync", help="巡诊离线同步")


@sync_cli.command("rebuild")
def sync_rebuild() -> None:
    """Write the sync feed again from the tables (after a bulk load or a restore);
    every phone then pulls from scratch."""
    from sqlalchemy import func, select

    from services.core.db import db
    from services.models import SyncFeedEntry
    from services.sync import rebuild

    rebuild(db.session)
    db.session.commit()
    click.echo(f"同步变更表已重建 / sync feed rebuilt: {db.session.scalar(select(func.count(SyncFeedEntry.id)))} rows")


scheduler_cli = AppGroup("scheduler", help="定时任务（APScheduler）")


@scheduler_cli.command("run")
@click.option("--poll-seconds", default=5.0, show_default=True, help="How often a standby tries to take over.")
@click.option("--lease-seconds", default=60.0, show_default=True,
              help="SQLite: a leader silent this long may be replaced (it renews every third of it).")
@click.option("--exit-with-parent", is_flag=True, help="Stop when the parent process (gunicorn) goes away.")
def scheduler_run(poll_seconds: float, lease_seconds: float, exit_with_parent: bool) -> None:
    """Run the scheduler in the foreground; with several of these, one leads and the rest wait.

    SIGTERM or Ctrl-C stops it (running jobs finish first).
    """
    from app.scheduler import run_as_leader, stop_on_signals

    stop = stop_on_signals()
    if exit_with_parent:
        _stop_when_orphaned(stop)
    messages = {"leader": "scheduler: leader", "standby": "scheduler: standby, waiting"}
    run_as_leader(current_app._get_current_object(), poll_seconds=poll_seconds, lease_seconds=lease_seconds,
                  stop_event=stop, on_state=lambda state: click.echo(messages[state]))
    click.echo("scheduler: stopped")


def _stop_when_orphaned(stop: threading.Event) -> None:
    """A parent killed outright cannot stop us; notice that we were re-parented instead."""
    parent = os.getppid()

    def watch() -> None:
        while not stop.wait(1):
            if os.getppid() != parent:
                click.echo("scheduler: parent process gone, stopping")
                stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@scheduler_cli.command("jobs")
def scheduler_jobs() -> None:
    """List the stored jobs and their next run times (read from the job table; starting a
    scheduler here would move overdue runs forward without running them)."""
    import datetime as dt

    from sqlalchemy import column, select, table

    from app.scheduler import JOBS
    from services.core import clock
    from services.core.db import db
    from services.models.scheduler import SCHEDULER_JOBS_TABLE

    jobs = table(SCHEDULER_JOBS_TABLE, column("id"), column("next_run_time"))
    stored = dict(db.session.execute(select(jobs.c.id, jobs.c.next_run_time)).all())
    for job_id in JOBS:
        ts = stored.get(job_id)
        when = clock.to_local(dt.datetime.fromtimestamp(ts, dt.timezone.utc)).isoformat() if ts else "not stored yet"
        click.echo(f"{job_id:22} next run {when}")


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


reminders_cli = AppGroup("reminders", help="提醒规划")


@reminders_cli.command("plan")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="plan for this local date (default today)")
def reminders_plan(day) -> None:
    """Plan reminders into the outbox (idempotent: a second run adds nothing)."""
    from app.reminders import plan

    result = plan(current_app._get_current_object(), day.date() if day else None)
    click.echo(f"planned {result.planned}, suppressed {result.suppressed}, cancelled {result.cancelled}, "
               f"skipped (no mobile) {result.skipped_no_contact}; by kind {result.by_kind}")


sms_cli = AppGroup("sms", help="短信发送")


@sms_cli.command("dispatch")
@click.option("--once", is_flag=True, help="one pass over the due messages, then exit")
@click.option("--interval", default=60, show_default=True, help="seconds between passes without --once")
def sms_dispatch(once: bool, interval: int) -> None:
    """Send due outbox messages (quiet hours, daily cap, retries, reconciliation)."""
    import time

    from app.reminders import dispatch

    while True:
        result = dispatch(current_app._get_current_object())
        click.echo(f"sent {result.sent}, retried {result.retried}, failed {result.failed}, "
                   f"cancelled {result.cancelled}, suppressed {result.suppressed}, deferred {result.deferred}, "
                   f"reconciled {result.reconciled}" + (" (quiet hours)" if result.quiet else "")
                   + (" (another dispatcher is running)" if result.busy else ""))
        if once:
            return
        time.sleep(interval)


catalog_cli = AppGroup("catalog", help="服务包目录（packages_catalog/）")


def _catalog_dir() -> str:
    from services.catalog.files import CATALOG_DIR

    return current_app.config.get("PACKAGES_CATALOG_DIR") or CATALOG_DIR


@catalog_cli.command("check")
def catalog_check() -> None:
    """Validate every package file; print every problem as file: field: reason; exit 1 if any."""
    from services.catalog.files import scan_directory

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
    from services.catalog import versions as packages
    from services.catalog.files import CatalogError, load_directory
    from services.core.db import db

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


residents_cli = AppGroup("residents", help="居民档案")


def _importing_staff(username: str | None):
    """The admin whose scope the import runs under: named, or the one medical-community admin."""
    from sqlalchemy import select

    from services.core.db import db
    from services.models import Staff

    stmt = select(Staff).where(Staff.role == "admin", Staff.active.is_(True))
    if username:
        staff = db.session.scalar(stmt.where(Staff.username == username))
        if staff is None:
            raise click.UsageError(f"没有名为 {username} 的在职管理员")
        return staff
    community_admins = db.session.scalars(stmt.where(Staff.institution_id.is_(None))).all()
    if len(community_admins) != 1:
        raise click.UsageError("请用 --as 指定以哪位管理员的身份导入")
    return community_admins[0]


@residents_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="只校验，不写入")
@click.option("--all-or-nothing", is_flag=True, help="任何一行有错则一行也不写入")
@click.option("--as", "username", help="以该管理员的身份和管辖范围导入（默认：唯一的医共体管理员）")
def residents_import(path: str, dry_run: bool, all_or_nothing: bool, username: str | None) -> None:
    """Import residents from FILE.xlsx or FILE.csv (columns as in the template); exits 1 on any bad row."""
    from services import residents
    from services.access.scope import scope_for_staff
    from services.core.db import db
    from services.core.errors import DomainError

    scope = scope_for_staff(_importing_staff(username))
    with open(path, "rb") as stream, click.progressbar(length=0, label="校验", show_pos=True) as bar:
        def advance(n: int) -> None:
            bar.length = (bar.length or 0) + n
            bar.update(n)
        try:
            report = residents.import_residents(os.path.basename(path), stream, scope,
                                                current_app.extensions["pii_cipher"], dry_run=dry_run,
                                                all_or_nothing=all_or_nothing, progress=advance)
        except DomainError as exc:
            db.session.rollback()
            raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    for error in report.errors:
        click.echo(f"第 {error['row']} 行 [{error['column'] or '-'}] {error['code']}: {error['message']}")
    verb = "将" if dry_run or not report.written else ""
    click.echo(f"共 {report.total_rows} 行：{verb}新建 {report.created}，{verb}更新 {report.updated}，错误 {report.failed}"
               + ("（试运行，未写入）" if dry_run else "" if report.written or not report.failed else "（未写入）"))
    if report.failed:
        raise SystemExit(1)


def register_cli(app: Flask) -> None:
    app.cli.add_command(residents_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(reminders_cli)
    app.cli.add_command(sms_cli)
    app.cli.add_command(catalog_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(sync_cli)
