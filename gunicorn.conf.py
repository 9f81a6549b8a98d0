"""gunicorn settings for `make run`: bind from HOST and PORT (see app/config.py),
WEB_CONCURRENCY worker processes with GUNICORN_THREADS threads each.

Defaults: one worker per CPU core (`os.cpu_count()`) and 4 threads per worker.
A worker runs Python one thread at a time, so processes are what use the
cores; the threads overlap the waits on PostgreSQL. On the 2-core reference
machine that is 2 × 4 = 8 requests at once, as many as the former single
worker with 8 threads, but on both cores. Each worker keeps its own database
pool (a thread holds one connection while it works), its own cache of who a
token speaks for (AUTH_CACHE_SECONDS) and, by default, its own rate-limit
counts: with more than one worker and RATELIMIT_STORAGE_URI=memory:// the
master prints a warning, as each worker then counts login codes and staff
logins separately (set RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0 to
share them). On a large host set WEB_CONCURRENCY: workers × threads should
stay well below PostgreSQL's max_connections.

A `.env` file beside this one fills in what the environment does not set, as
wsgi.py does for the app, so WEB_CONCURRENCY, HOST, PORT and
RATELIMIT_STORAGE_URI there count here too; the environment wins.

The master process also starts the scheduler as a process of its own
(`flask --app wsgi scheduler run`) and stops it on exit; the web workers
never run a scheduler. SCHEDULER_WITH_WEB=0 (older name: SCHEDULER_IN_WEB=0)
turns that off, for deployments that run the scheduler under their own
supervisor. Starting it twice is harmless: the second one waits as a standby.
"""
import os
import subprocess
import sys

from dotenv import load_dotenv

HERE = os.path.dirname(os.path.abspath(__file__))
load_dotenv(os.path.join(HERE, ".env"), override=False)

DEFAULT_THREADS = 4


def _positive_int(name: str, default: int) -> int:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise RuntimeError(f"{name} must be a whole number of at least 1, got {raw!r}")
    return value


bind = f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '8000'}"
workers = _positive_int("WEB_CONCURRENCY", os.cpu_count() or 1)
threads = _positive_int("GUNICORN_THREADS", DEFAULT_THREADS)
accesslog = "-"
# The path without the query string: queries can carry ID numbers or phone
# numbers (?id_number=..., ?q=...), which must never reach a log in plaintext.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'

timeout = 60
# The request line may be long (filters in the query string): gunicorn passes up
# to 1 MB (0 = its own 1 MB cap) so the app answers an over-long one (over
# MAX_URL_LENGTH, 8 KB) with its JSON 414 in Chinese, not gunicorn's HTML page.
limit_request_line = 0
# Control characters in a path (%0A ...) are escaped, so no request can forge a log line.
logger_class = "app.accesslog.EscapingLogger"


def _scheduler_wanted() -> bool:
    value = os.environ.get("SCHEDULER_WITH_WEB") or os.environ.get("SCHEDULER_IN_WEB") or "1"
    return value.lower() not in ("0", "false", "no")


def _start_scheduler(server) -> None:
    """Start the scheduler beside the master: same environment, same console."""
    if not _scheduler_wanted():
        print("  Scheduler:    not started here (SCHEDULER_WITH_WEB=0)", flush=True)
        return
    # Inherits os.environ (DATABASE_URL, SMS_BACKEND ...) and stdout/stderr, so the
    # console SMS channel prints where `make run` does; unbuffered so lines show at
    # once. --exit-with-parent: it stops too if this master dies without on_exit.
    # Kept on the arbiter, not in this module: a HUP reloads this file.
    server.scheduler_process = process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run", "--exit-with-parent"],
        cwd=HERE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    print(f"  Scheduler:    running as its own process (pid {process.pid})", flush=True)


def on_exit(server):
    """Stop the scheduler: SIGTERM lets a running job finish; kill it if it hangs."""
    process = getattr(server, "scheduler_process", None)
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _flag(value: str | None, default: bool) -> bool:
    """app/config.py's reading of a boolean setting."""
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def rate_limit_warning(worker_count: int) -> str | None:
    """The warning for several workers counting rate limits each in its own memory, or None."""
    storage = (os.environ.get("RATELIMIT_STORAGE_URI") or "").strip() or "memory://"
    if worker_count <= 1 or not storage.startswith("memory://") or not _flag(
            os.environ.get("RATELIMIT_ENABLED"), True):
        return None
    return (f"  WARNING:      {worker_count} workers and RATELIMIT_STORAGE_URI={storage}: each worker counts"
            " rate limits separately,\n"
            f"                so a client gets up to {worker_count}x every limit (SMS login codes per phone"
            " and per address, staff logins).\n"
            "                Share them in Redis: RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0"
            " (or run one worker: WEB_CONCURRENCY=1).")


def when_ready(server):
    # Here, not in on_starting: the port is bound, so a failed start leaves no scheduler behind.
    _start_scheduler(server)
    # server.cfg, not the module values: `-w` / GUNICORN_CMD_ARGS on the command line win over this file.
    print(f"  Workers:      {server.cfg.workers} × {server.cfg.threads} threads"
          " (WEB_CONCURRENCY, GUNICORN_THREADS)", flush=True)
    warning = rate_limit_warning(server.cfg.workers)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    host, port = bind.rsplit(":", 1)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print(f"\n  Swagger UI:   http://{shown}:{port}/api/docs"
          f"\n  OpenAPI JSON: http://{shown}:{port}/api/openapi.json", flush=True)
    if (os.environ.get("APP_ENV") or "development") != "production":
        print("  Demo logins (demo only): demo_admin, demo_thc1_admin, demo_doctor, demo_doctor2"
              " / password demo-password", flush=True)
    print("", flush=True)
