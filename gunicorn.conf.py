"""gunicorn settings for `make run`: bind from HOST and PORT (see app/config.py),
one worker (the scheduler and the in-memory rate limiter live in-process),
threads for concurrency."""
import os

bind = f"{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('PORT') or '8000'}"
workers = 1
threads = int(os.environ.get("GUNICORN_THREADS") or 8)
accesslog = "-"
timeout = 60


def when_ready(server):
    host, port = bind.rsplit(":", 1)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    print(f"\n  Swagger UI:   http://{shown}:{port}/api/docs"
          f"\n  OpenAPI JSON: http://{shown}:{port}/api/openapi.json\n", flush=True)
