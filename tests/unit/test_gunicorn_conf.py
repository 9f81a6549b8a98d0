"""gunicorn.conf.py: workers and threads from the environment with defaults from the
core count, and the master's warning when several workers count rate limits in memory."""
from __future__ import annotations

import importlib.util
import os
import types

import pytest

CONF = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    "gunicorn.conf.py")
SETTINGS = ("WEB_CONCURRENCY", "GUNICORN_THREADS", "RATELIMIT_STORAGE_URI", "RATELIMIT_ENABLED", "HOST", "PORT",
            "SCHEDULER_WITH_WEB", "SCHEDULER_IN_WEB", "APP_ENV")


def load_conf(monkeypatch, cpus: int | None, **env: str) -> types.ModuleType:
    """Execute gunicorn.conf.py as gunicorn does, with exactly these settings and core count."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    # A developer's .env must not leak into the test.
    monkeypatch.setattr("dotenv.load_dotenv", lambda *args, **kwargs: False)
    spec = importlib.util.spec_from_file_location("gunicorn_conf_under_test", CONF)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("cpus,env,workers,threads", [
    (2, {}, 2, 4),                                           # one worker per core, 4 threads each
    (8, {}, 8, 4),
    (None, {}, 1, 4),                                        # core count unknown
    (2, {"WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "8"}, 1, 8),  # the former single worker
    (2, {"WEB_CONCURRENCY": " 3 "}, 3, 4),
    (16, {"WEB_CONCURRENCY": "", "GUNICORN_THREADS": ""}, 16, 4),  # empty means unset
    (4, {"GUNICORN_THREADS": "2"}, 4, 2),
])
def test_workers_and_threads_from_the_environment(monkeypatch, cpus, env, workers, threads):
    conf = load_conf(monkeypatch, cpus, **env)
    assert (conf.workers, conf.threads) == (workers, threads)


@pytest.mark.parametrize("name,value", [("WEB_CONCURRENCY", "0"), ("WEB_CONCURRENCY", "two"),
                                        ("GUNICORN_THREADS", "-1"), ("GUNICORN_THREADS", "2.5")])
def test_a_bad_count_stops_the_start_with_its_name(monkeypatch, name, value):
    with pytest.raises(RuntimeError, match=name):
        load_conf(monkeypatch, 2, **{name: value})


def test_bind_from_host_and_port(monkeypatch):
    assert load_conf(monkeypatch, 2).bind == "127.0.0.1:8000"
    assert load_conf(monkeypatch, 2, HOST="0.0.0.0", PORT="8123").bind == "0.0.0.0:8123"


@pytest.mark.parametrize("env,workers,warns", [
    ({}, 2, True),                                                   # default storage is memory://
    ({"RATELIMIT_STORAGE_URI": "memory://"}, 4, True),
    ({"RATELIMIT_STORAGE_URI": ""}, 2, True),                        # empty means the default
    ({}, 1, False),                                                  # one worker: one count
    ({"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0"}, 2, False),
    ({"RATELIMIT_ENABLED": "0"}, 2, False),                          # nothing counted at all
])
def test_rate_limit_warning(monkeypatch, env, workers, warns):
    conf = load_conf(monkeypatch, 2, **env)
    warning = conf.rate_limit_warning(workers)
    if not warns:
        assert warning is None
        return
    assert f"{workers} workers" in warning and "memory://" in warning
    assert "each worker counts rate limits separately" in warning
    assert "RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0" in warning


class _Server:
    """What when_ready reads of gunicorn's arbiter."""

    def __init__(self, workers: int, threads: int):
        self.cfg = types.SimpleNamespace(workers=workers, threads=threads)


def test_master_prints_the_warning_once_ready(monkeypatch, capsys):
    conf = load_conf(monkeypatch, 2, SCHEDULER_WITH_WEB="0")
    conf.when_ready(_Server(conf.workers, conf.threads))
    out, err = capsys.readouterr()
    assert "Workers:      2 × 4 threads" in out
    assert "Scheduler:    not started here" in out  # and no scheduler was started
    assert "WARNING" in err and "RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0" in err


def test_no_warning_with_one_worker_or_redis(monkeypatch, capsys):
    conf = load_conf(monkeypatch, 2, SCHEDULER_WITH_WEB="0", WEB_CONCURRENCY="1")
    conf.when_ready(_Server(conf.workers, conf.threads))
    conf = load_conf(monkeypatch, 2, SCHEDULER_WITH_WEB="0", RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0")
    conf.when_ready(_Server(conf.workers, conf.threads))
    assert "WARNING" not in capsys.readouterr().err


def test_the_command_line_worker_count_is_the_one_judged(monkeypatch, capsys):
    """`gunicorn -w 3` wins over this file: when_ready judges the arbiter's count."""
    conf = load_conf(monkeypatch, 1, SCHEDULER_WITH_WEB="0")
    assert conf.workers == 1
    conf.when_ready(_Server(3, 4))
    assert "3 workers" in capsys.readouterr().err
