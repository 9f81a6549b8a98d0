"""The Flask-SQLAlchemy object and the declarative base.

Constraint names follow a fixed convention so Alembic can name and later
alter them identically on SQLite (batch mode) and PostgreSQL.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Engine, MetaData, Select, event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from services.core.errors import DomainError, NotFound

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Sessions live for one request (or job); objects stay usable after the
# boundary commit instead of being reloaded one by one while serialising.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite drops offsets, so values are normalised to UTC on the way in and
    tagged as UTC on the way out; PostgreSQL stores timestamptz.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use services.core.clock.now()")
        value = value.astimezone(dt.timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


def render_item(type_, obj, autogen_context):
    """Alembic: write UTCDateTime as a plain timestamptz so migrations don't import services."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: enforce foreign keys like PostgreSQL does, and let concurrent
    requests wait for the write lock (WAL, busy timeout) instead of failing."""
    if type(dbapi_connection).__module__.split(".")[0] not in ("sqlite3", "pysqlite2"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def database_reachable() -> bool:
    """Whether the database answers a trivial query (the readiness check)."""
    from sqlalchemy import text

    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means not ready
        db.session.rollback()
        return False
    return True


def flush_or_conflict(error: DomainError | Callable[[IntegrityError], DomainError]) -> None:
    """Flush; when a unique constraint fires (a concurrent twin got there first),
    roll back and raise `error` (a 409 with its code) instead of a 500. `error`
    may be a function of the IntegrityError, where the constraint decides the code."""
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise (error(exc) if callable(error) else error) from exc


def one_or_404(stmt: Select, not_found: NotFound, *, for_update: bool = False) -> Any:
    """The one get-in-scope-or-404: the row `stmt` finds (its WHERE carries the
    caller's scope), or `not_found`. Absent and out of scope look the same, so a
    stranger learns nothing. A locked read sees the row as it is now, not as this
    session last saw it."""
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = db.session.scalar(stmt)
    if row is None:
        raise not_found
    return row
