"""Rate limits shared between workers: with RATELIMIT_STORAGE_URI on Redis, two app
instances (as two gunicorn workers would be) count one login-code limit together.

Each app instance gets its own storage object when it is created (Flask-Limiter's
init_app), so the second one below starts with an empty count unless the counts
live outside the process; the memory:// case shows that, which is what
gunicorn.conf.py warns about. Skipped where Redis is unreachable, except under
CI=true, where that fails. Every run uses its own key prefix, so parallel runs
against one Redis do not see each other's counts, and removes its keys.
"""
from __future__ import annotations

import os
import uuid

import pytest

from tests.conftest import base_overrides

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
OTP = "/api/v1/auth/otp"


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def redis_prefix():
    """A reachable Redis and a key prefix of this run's own; its keys are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        if _ci():
            pytest.fail(f"CI=true but Redis is unreachable at {REDIS_URL}: {exc}", pytrace=False)
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    prefix = f"fdoc-test-{uuid.uuid4().hex}"
    try:
        yield client, prefix
    finally:
        for key in client.scan_iter(match=f"*{prefix}*", count=1000):
            client.delete(key)
        client.close()


@pytest.fixture
def instances(databases):
    """make(**overrides) creates an app instance on one shared, migrated database."""
    from app import create_app
    from app.extensions import limiter
    from services.core.db import db

    url = databases.fresh()
    made = []
    kept_prefix = limiter._key_prefix  # init_app keeps the first prefix it is given: restore it

    def make(**overrides):
        config = {**base_overrides(url), **overrides}
        if databases.engine_options:
            config["SQLALCHEMY_ENGINE_OPTIONS"] = databases.engine_options
        app = create_app(config)
        made.append(app)
        return app

    try:
        yield make
    finally:
        limiter._key_prefix = kept_prefix
        for app in made:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        databases.reset(url)


def test_two_instances_share_the_login_code_limit_in_redis(instances, redis_prefix):
    redis_client, prefix = redis_prefix
    shared = {"RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": prefix}
    first = instances(**shared).test_client()
    assert first.post(OTP, json={"phone": "13700001234"}).status_code == 202
    assert any(redis_client.scan_iter(match=f"*{prefix}*otp-phone*")), "the count is not in Redis"

    second = instances(**shared).test_client()  # a new instance: its own storage, the same Redis
    refused = second.post(OTP, json={"phone": "+86 137 0000 1234"})
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert first.post(OTP, json={"phone": "13700001234"}).status_code == 429
    # The limit is per phone: another number from the same address is still served.
    assert second.post(OTP, json={"phone": "13700005555"}).status_code == 202


def test_in_memory_each_instance_counts_separately(instances):
    """The case gunicorn.conf.py warns about: memory:// counts per process."""
    first = instances(RATELIMIT_STORAGE_URI="memory://").test_client()
    assert first.post(OTP, json={"phone": "13700001234"}).status_code == 202
    assert first.post(OTP, json={"phone": "13700001234"}).status_code == 429
    second = instances(RATELIMIT_STORAGE_URI="memory://").test_client()
    assert second.post(OTP, json={"phone": "13700001234"}).status_code == 202
