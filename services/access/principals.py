"""Who a token speaks for, looked up once and remembered for a short while.

A request's identity and role come from the token's claims; what the claims
cannot vouch for (the account still active, the token and its sign-in not
revoked, the staff member's team and the institutions below theirs) is one
lookup, kept in a per-process cache for `ttl` seconds (AUTH_CACHE_SECONDS,
default 30, always shorter than an access token lives). So:

- on a hit a request spends no statement on who is calling;
- a change made through this process (logout, a revoked sign-in, a
  deactivated or moved staff member, a moved team or institution) empties the
  cache when its transaction commits, so this process refuses at once;
- another process (a second gunicorn worker) refuses within `ttl` seconds,
  well inside one access-token lifetime.

Refresh tokens never use the cache: their exchange must see every reuse.
Plain values in and out; the cache belongs to the app (one per create_app).
"""
from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import event, exists, inspect, literal, or_, select
from sqlalchemy.orm import Session

from services.access.scope import Scope, all_institutions, scope_for_resident, staff_scope
from services.core import clock
from services.core.db import db
from services.models import Institution, Resident, RevokedToken, RevokedTokenFamily, Staff, Team

# The columns whose change can change who a token speaks for.
_WATCHED_COLUMNS = {
    Staff: ("active", "role", "team_id", "institution_id", "community_id", "username"),
    Team: ("institution_id",),
    Institution: ("parent_id", "community_id"),
}


@dataclass(frozen=True)
class Principal:
    """The outcome of the one lookup: a scope, or why the token is refused."""

    scope: Scope | None
    refusal: str | None = None  # "revoked" | "inactive" | "missing"


class PrincipalCache:
    """A small thread-safe LRU with a time to live, read by every request."""

    def __init__(self, ttl_seconds: float, max_entries: int = 20_000):
        self.ttl = dt.timedelta(seconds=max(0.0, ttl_seconds))
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, tuple[dt.datetime, object]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.ttl > dt.timedelta(0)

    def get(self, key: tuple):
        if not self.enabled:
            return None
        now = clock.now()
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            expires_at, value = hit
            if expires_at <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: tuple, value) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._entries[key] = (clock.now() + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _revoked(jti: str | None, family_id: str | None):
    """Whether the token (jti None: not checked) or its sign-in is revoked, as one SQL expression."""
    checks = []
    if jti is not None:
        checks.append(exists().where(RevokedToken.jti == jti))
    if family_id is not None:
        checks.append(exists().where(RevokedTokenFamily.family_id == family_id))
    return or_(*checks) if checks else literal(False)


def _institutions(cache: PrincipalCache | None) -> list[tuple[int, int | None, int]]:
    """Every institution as (id, parent_id, community_id); cached beside the principals."""
    rows = cache.get(("institutions",)) if cache is not None else None
    if rows is None:
        rows = all_institutions()
        if cache is not None:
            cache.put(("institutions",), rows)
    return rows


def _staff_principal(staff_id: int, jti: str | None, family_id: str | None,
                     cache: PrincipalCache | None) -> Principal:
    row = db.session.execute(
        select(Staff.id, Staff.username, Staff.role, Staff.active, Staff.community_id, Staff.institution_id,
               Staff.team_id, Team.institution_id.label("team_institution_id"),
               _revoked(jti, family_id).label("revoked"))
        .outerjoin(Team, Team.id == Staff.team_id)
        .where(Staff.id == staff_id)
    ).one_or_none()
    if row is not None and row.revoked:
        return Principal(None, "revoked")
    if row is None or not row.active:
        return Principal(None, "inactive")
    return Principal(staff_scope(staff_id=row.id, username=row.username, role=row.role,
                                 community_id=row.community_id, institution_id=row.institution_id,
                                 team_id=row.team_id, team_institution_id=row.team_institution_id,
                                 institutions=_institutions(cache)))


def _resident_principal(resident_id: int, jti: str | None, family_id: str | None) -> Principal:
    row = db.session.execute(
        select(literal(True).label("found"), _revoked(jti, family_id).label("revoked"))
        .select_from(Resident).where(Resident.id == resident_id)
    ).one_or_none()
    if row is not None and row.revoked:
        return Principal(None, "revoked")
    if row is None:
        return Principal(None, "missing")
    return Principal(scope_for_resident(resident_id))


def principal_for(kind: str, subject_id: int, jti: str | None, family_id: str | None,
                  cache: PrincipalCache | None) -> Principal:
    """The principal of one token (`cache` None: look it up afresh, remember nothing;
    `jti` and `family_id` None: revocation is not checked, the caller did)."""
    key = (kind, subject_id, jti)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit
    if kind == "staff":
        principal = _staff_principal(subject_id, jti, family_id, cache)
    elif kind == "resident":
        principal = _resident_principal(subject_id, jti, family_id)
    else:
        principal = Principal(None, "missing")
    if cache is not None:
        cache.put(key, principal)
    return principal


# --- invalidation: a commit that touched a watched row empties the cache ----------------

_INFO_KEY = "principals_changed"


def _matters(session, obj) -> bool:
    """Whether flushing `obj` can change a cached principal. A retired refresh token,
    a new resident or a staff member's failed login cannot; a revoked access token or
    sign-in, a removed resident, a moved or deactivated staff member can."""
    if isinstance(obj, RevokedTokenFamily):
        return True
    if isinstance(obj, RevokedToken):
        return obj.token_type != "refresh"
    if isinstance(obj, Resident):
        return obj in session.deleted
    columns = _WATCHED_COLUMNS.get(type(obj))
    if columns is None:
        return False
    if obj in session.new or obj in session.deleted:
        return True
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in columns)
_installed = False


def install_invalidation(current_cache) -> None:
    """Listen on every Session: `current_cache()` returns the cache to empty (or None)."""
    global _installed
    if _installed:
        return
    _installed = True

    @event.listens_for(Session, "before_flush")
    def _note(session, _flush_context, _instances):
        if session.info.get(_INFO_KEY):
            return
        if any(_matters(session, obj) for obj in (*session.new, *session.dirty, *session.deleted)):
            session.info[_INFO_KEY] = True

    @event.listens_for(Session, "after_commit")
    def _clear(session):
        if session.info.pop(_INFO_KEY, False):
            cache = current_cache()
            if cache is not None:
                cache.clear()

    @event.listens_for(Session, "after_rollback")
    def _forget(session):
        session.info.pop(_INFO_KEY, None)
