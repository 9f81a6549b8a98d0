"""Leader election: which one of several processes runs the scheduler.

On PostgreSQL the leader holds a session-level advisory lock on a connection
of its own; the server drops the lock the moment that session ends, so when
the leader process dies a standby gets the lock on its next try.

Elsewhere (SQLite) the leader owns a row in `leader_locks` and renews its
heartbeat; a standby may take the row over once the heartbeat is older than
the lease. The leader must therefore renew well within the lease (the
scheduler renews every lease/3), and a leader whose renewal fails has lost
the lock and must stop.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
import uuid
from collections.abc import Callable

from sqlalchemy import Connection, Engine, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from services.core import clock
from services.models.reminder import LeaderLock

log = logging.getLogger("fdoc.leader")

_locks = LeaderLock.__table__


def holder_id() -> str:
    """hostname:pid:random, so a restarted process never mistakes an old row for its own."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:100]


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock (Python's hash() changes per process)."""
    digest = hashlib.sha256(f"fdoc-leader:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class LeaderElection:
    """try_acquire() until it returns True, then renew() until it returns False."""

    def __init__(self, engine: Engine, name: str, holder: str | None = None, *,
                 lease_seconds: float = 60, now: Callable[[], dt.datetime] = clock.now,
                 advisory: bool | None = None):
        self.engine = engine
        self.name = name
        self.holder = holder or holder_id()
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.now = now
        self.is_leader = False
        # None: an advisory lock where there are any (PostgreSQL), the lock row elsewhere.
        self.uses_advisory_lock = engine.dialect.name == "postgresql" if advisory is None else advisory
        self._conn: Connection | None = None  # advisory lock: the session that holds it

    def try_acquire(self) -> bool:
        """Become leader if nobody else is; True if this process is the leader now."""
        if self.is_leader:
            return self.renew()
        try:
            acquired = self._pg_acquire() if self.uses_advisory_lock else self._row_acquire()
        except SQLAlchemyError as exc:
            log.warning("leader lock %r: acquiring failed: %s", self.name, exc)
            self._drop_connection()
            acquired = False
        self.is_leader = acquired
        return acquired

    def renew(self) -> bool:
        """Prove leadership is still held; False means it was lost and the caller must stop."""
        if not self.is_leader:
            return False
        try:
            held = self._pg_renew() if self.uses_advisory_lock else self._row_renew()
        except SQLAlchemyError as exc:
            log.warning("leader lock %r: renewing failed: %s", self.name, exc)
            held = False
        if not held:
            self._drop_connection()
            self.is_leader = False
        return held

    def release(self) -> None:
        """Give the lock up at once, so a standby need not wait for the lease to run out."""
        was_leader, self.is_leader = self.is_leader, False
        if self.uses_advisory_lock:
            self._pg_release()
        elif was_leader:
            try:
                with self.engine.begin() as conn:
                    conn.execute(update(_locks)
                                 .where(_locks.c.name == self.name, _locks.c.holder == self.holder)
                                 .values(holder=None))
            except SQLAlchemyError as exc:  # the lease runs out by itself
                log.warning("leader lock %r: releasing failed: %s", self.name, exc)

    # PostgreSQL: a session-level advisory lock on a connection kept for the purpose.

    def _pg_acquire(self) -> bool:
        if self._conn is None:
            # Autocommit: the session holds the lock, no transaction is left open.
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = self._conn.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                 {"key": advisory_key(self.name)}).scalar()
        if not got:
            # Do not keep an idle connection per standby.
            self._drop_connection()
        return bool(got)

    def _pg_renew(self) -> bool:
        # The lock lives exactly as long as this session: if the session answers, it is held.
        if self._conn is None or self._conn.invalidated or self._conn.closed:
            return False
        self._conn.execute(text("SELECT 1"))
        return True

    def _pg_release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": advisory_key(self.name)})
            self._conn.close()
            self._conn = None
        except SQLAlchemyError as exc:
            log.warning("leader lock %r: unlocking failed: %s", self.name, exc)
            self._drop_connection()

    def _drop_connection(self) -> None:
        """Close the session for good: never return a possibly locked session to the pool."""
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            if not conn.invalidated:
                conn.invalidate()
            conn.close()
        except SQLAlchemyError:
            pass

    # Elsewhere: a row with a heartbeat, each step its own short transaction.

    def _row_acquire(self) -> bool:
        now = self.now()
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(_locks)
                .where(_locks.c.name == self.name,
                       or_(_locks.c.holder == self.holder, _locks.c.holder.is_(None),
                           _locks.c.heartbeat_at.is_(None), _locks.c.heartbeat_at < now - self.lease))
                .values(holder=self.holder, heartbeat_at=now)
            ).rowcount
            if taken == 1:
                return True
            exists = conn.execute(select(_locks.c.name).where(_locks.c.name == self.name)).first()
        if exists:
            return False
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(_locks).values(name=self.name, holder=self.holder, heartbeat_at=now))
        except IntegrityError:  # another process inserted it first
            return False
        return True

    def _row_renew(self) -> bool:
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(_locks)
                .where(_locks.c.name == self.name, _locks.c.holder == self.holder)
                .values(heartbeat_at=self.now())
            ).rowcount
        return renewed == 1
