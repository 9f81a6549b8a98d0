"""gunicorn settings for `make run`: bind from HOST and PORT (see app/config.py),
one worker (the scheduler and the in-memory rate limiter live in-process),
threads for concurrency."""
import os

bind = f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '8000'}"
workers = 1
threads = int(os.environ.get("GUNICORN_THREADS") or 8)
accesslog = "-"
# The path without the query string: queries can carry ID numbers or phone
# numbers (?id_number=..., ?q=...), which must never reach a log in plaintext.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'

timeout = 60


def post_worker_init(worker):
    """Run the scheduler inside the (single) web worker unless SCHEDULER_IN_WEB=0."""
    if (os.environ.get("SCHEDULER_IN_WEB") or "1") not in ("0", "false", "no"):
        from app.scheduler import start_background

        start_background(worker.wsgi)
        print("  Scheduler:    running (APScheduler, jobs stored in the database)", flush=True)


def when_ready(server):
    host, port = bind.rsplit(":", 1)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print(f"\n  Swagger UI:   http://{shown}:{port}/api/docs"
          f"\n  OpenAPI JSON: http://{shown}:{port}/api/openapi.json", flush=True)
    if (os.environ.get("APP_ENV") or "development") != "production":
        print("  Demo logins (demo only): demo_admin, demo_thc1_admin, demo_doctor, demo_doctor2"
              " / password demo-password", flush=True)
    print("", flush=True)
