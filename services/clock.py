"""The one clock. Tests move it with `freeze`; everything else asks it.

"Today" is judged in the deployment's time zone (default Asia/Shanghai), so a
visit recorded at 07:00 Beijing time on 1 March is on 1 March even though it
is still 28/29 February in UTC.
"""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from zoneinfo import ZoneInfo

_frozen: dt.datetime | None = None
_zone: ZoneInfo = ZoneInfo("Asia/Shanghai")


def set_zone(name: str) -> None:
    global _zone
    _zone = ZoneInfo(name)


def zone() -> ZoneInfo:
    return _zone


def now() -> dt.datetime:
    """Current instant, timezone-aware UTC."""
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(dt.timezone.utc)


def today() -> dt.date:
    """Today's date in the deployment's time zone."""
    return now().astimezone(_zone).date()


def to_local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(_zone)


@contextmanager
def freeze(at: dt.datetime):
    """Stop the clock at `at` (aware) for the duration of the block."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("freeze() needs an aware datetime")
    previous = _frozen
    _frozen = at.astimezone(dt.timezone.utc)
    try:
        yield
    finally:
        _frozen = previous


def advance(delta: dt.timedelta) -> None:
    """Move a frozen clock forward (tests only)."""
    global _frozen
    if _frozen is None:
        raise RuntimeError("clock is not frozen")
    _frozen = _frozen + delta
