"""The one clock. Tests move it with `freeze`; everything else asks it.

"Today" is judged in the deployment's time zone (default Asia/Shanghai), so a
visit recorded at 07:00 Beijing time on 1 March is on 1 March even though it
is still 28/29 February in UTC.
"""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from services.core.errors import ValidationFailed

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


def day_bounds(first: dt.date, last: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """[00:00 of `first`, 00:00 after `last`) in the deployment's zone, as UTC instants."""
    start = dt.datetime.combine(first, dt.time(), tzinfo=_zone)
    end = dt.datetime.combine((last or first) + dt.timedelta(days=1), dt.time(), tzinfo=_zone)
    return start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc)


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


def checked_range(first: dt.date, last: dt.date, max_days: int) -> tuple[dt.date, dt.date]:
    """A query's date range (both ends inclusive), refused when reversed or longer than `max_days`."""
    if last < first:
        raise ValidationFailed.field("date_to", "结束日期不能早于开始日期")
    if (last - first).days >= max_days:
        raise ValidationFailed.field("date_to", f"查询范围最长 {max_days} 天")
    return first, last
