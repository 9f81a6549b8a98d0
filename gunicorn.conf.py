"""gunicorn settings for `make run`: bind from HOST and PORT (see app/config.py),
one worker (the in-memory rate limiter lives in-process), threads for concurrency.

The master process also starts the scheduler as a process of its own
(`flask --app wsgi scheduler run`) and stops it on exit; the web workers
never run a scheduler. SCHEDULER_WITH_WEB=0 (older name: SCHEDULER_IN_WEB=0)
turns that off, for deployments that run the scheduler under their own
supervisor. Starting it twice is harmless: the second one waits as a standby.
"""
import os
import subprocess
import sys

bind = f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '8000'}"
workers = 1
threads = int(os.environ.get("GUNICORN_THREADS") or 8)
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
        cwd=os.path.dirname(os.path.abspath(__file__)),
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


def when_ready(server):
    # Here, not in on_starting: the port is bound, so a failed start leaves no scheduler behind.
    _start_scheduler(server)
    host, port = bind.rsplit(":", 1)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print(f"\n  Swagger UI:   http://{shown}:{port}/api/docs"
          f"\n  OpenAPI JSON: http://{shown}:{port}/api/openapi.json", flush=True)
    if (os.environ.get("APP_ENV") or "development") != "production":
        print("  Demo logins (demo only): demo_admin, demo_thc1_admin, demo_doctor, demo_doctor2"
              " / password demo-password", flush=True)
    print("", flush=True)
