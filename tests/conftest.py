"""Test harness.

TEST_DB=sqlite (default): the schema is built once by the Alembic migrations
into a template file, and every test gets its own copy (a fresh database per
test, never create_all).
TEST_DB=postgres: the migrations run once into a private schema of the
database at TEST_POSTGRES_URL, and every table is truncated after each test.
Where PostgreSQL is unreachable those tests skip, except under CI=true, where
that is a failure.
"""
from __future__ import annotations

import os
import shutil
import uuid

import pytest
import sqlalchemy as sa

from services.core import clock

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIGRATIONS = os.path.join(REPO, "migrations")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

TEST_DB = os.environ.get("TEST_DB", "sqlite")

# PostgreSQL-only tests (row locks, concurrency) are collected only in the
# PostgreSQL pass, so the SQLite pass never reports them as skipped.
collect_ignore_glob = [] if TEST_DB == "postgres" else ["pg/*"]


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def base_overrides(url: str) -> dict:
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "TESTING": True,
        "WECHAT_API_BASE": "http://127.0.0.1:9",  # unreachable unless a test points it at a fake
        "LOG_LEVEL": "WARNING",
        "FHIR_EXPORT_THREAD": False,  # tests run FHIR exports themselves (tests/api/test_fhir_export.py)
    }


def _upgrade(url: str, engine_options: dict | None = None) -> None:
    from flask_migrate import upgrade

    from app import create_app

    overrides = base_overrides(url)
    if engine_options:
        overrides["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options
    app = create_app(overrides)
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        from services.core.db import db

        db.engine.dispose()


class SqliteDatabases:
    engine_options: dict = {}

    def __init__(self, tmp_dir: str):
        self.tmp_dir = tmp_dir
        self.template = os.path.join(tmp_dir, "template.db")
        _upgrade(f"sqlite:///{self.template}")

    def fresh(self) -> str:
        path = os.path.join(self.tmp_dir, f"t-{uuid.uuid4().hex}.db")
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"

    def reset(self, url: str) -> None:
        os.remove(url[len("sqlite:///"):])


class PostgresDatabases:
    def __init__(self, url: str):
        self.url = url
        self.schema = f"fdtest_{os.getpid()}"
        # The pool is wide enough for the 50-way booking race to be truly concurrent.
        self.engine_options = {"connect_args": {"options": f"-csearch_path={self.schema}"},
                               "pool_pre_ping": True, "pool_size": 5, "max_overflow": 55}
        admin = sa.create_engine(url)
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            conn.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
        admin.dispose()
        _upgrade(url, self.engine_options)
        self.engine = sa.create_engine(url, **self.engine_options)
        with self.engine.connect() as conn:
            names = conn.execute(sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'alembic_version'"
            ), {"s": self.schema}).scalars().all()
        self.tables = ", ".join(f'"{n}"' for n in names)

    def fresh(self) -> str:
        return self.url

    def reset(self, url: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {self.tables} RESTART IDENTITY CASCADE"))

    def drop(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.engine.dispose()


def postgres_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG)


def postgres_reachable(url: str) -> tuple[bool, str]:
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True, ""
    except Exception as exc:  # noqa: BLE001
        return False, str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    if TEST_DB == "postgres":
        url = postgres_url()
        ok, why = postgres_reachable(url)
        if not ok:
            if _ci():
                pytest.fail(f"CI=true but PostgreSQL is unreachable at {url}: {why}", pytrace=False)
            pytest.skip(f"PostgreSQL unreachable at {url}: {why}")
        dbs = PostgresDatabases(url)
        yield dbs
        dbs.drop()
    else:
        yield SqliteDatabases(str(tmp_path_factory.mktemp("db")))


@pytest.fixture
def app(databases):
    from app import create_app

    url = databases.fresh()
    overrides = base_overrides(url)
    if databases.engine_options:
        overrides["SQLALCHEMY_ENGINE_OPTIONS"] = databases.engine_options
    application = create_app(overrides)
    ctx = application.app_context()
    ctx.push()
    try:
        yield application
    finally:
        from services.core.db import db

        db.session.remove()
        db.engine.dispose()
        ctx.pop()
        databases.reset(url)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def frozen_clock():
    """Freeze time at 2026-03-02 10:00 Beijing time unless a test moves it."""
    import datetime as dt

    at = dt.datetime(2026, 3, 2, 10, 0, tzinfo=clock.zone())
    with clock.freeze(at):
        yield at


@pytest.fixture
def world(app):
    from tests.factories import make_world

    return make_world()
