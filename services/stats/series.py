"""The overview's figures month by month, for charts: each month is its own
period (the current month up to today), coverage is judged on the month's
last day (today for the current month)."""
from __future__ import annotations

import calendar
import datetime as dt

from services.core import clock
from services.core.errors import ValidationFailed
from services.models.followup import PROGRAMS
from services.models.resident import RECORDED_TAGS
from services.stats import figures
from services.stats.units import Unit

MAX_MONTHS = 36

# Every metric name, and the group of figures it is computed with.
METRICS: dict[str, str] = {
    "coverage": "coverage",
    **{f"coverage.{tag}": "coverage" for tag in ("elderly", "child", *RECORDED_TAGS)},
    "renewal": "renewal",
    "fulfilment": "fulfilment",
    **{f"standard_management.{p}": "programs" for p in PROGRAMS},
    **{f"control.{p}": "programs" for p in PROGRAMS},
    "reminder_delivery": "reminder_delivery",
    "satisfaction": "satisfaction",
}


def metric_names(raw: str | None) -> list[str]:
    """`coverage,control.hypertension` → those names; nothing → every metric."""
    if not raw:
        return list(METRICS)
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ValidationFailed.field("metric", f"未知指标：{'、'.join(unknown) or raw}；可选：{'、'.join(METRICS)}",
                                     code="UNKNOWN_METRIC")
    return list(dict.fromkeys(names))


def month_periods(months: int, today: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    """The last `months` months ending with the current one, oldest first: (YYYY-MM, first day, last day)."""
    out = []
    year, month = today.year, today.month
    for _ in range(months):
        first = dt.date(year, month, 1)
        last = min(dt.date(year, month, calendar.monthrange(year, month)[1]), today)
        out.append((f"{year:04d}-{month:02d}", first, last))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def _month_figures(unit: Unit, first: dt.date, last: dt.date, groups: set[str], visits_per_year: int) -> dict:
    got: dict[str, dict] = {}
    if "coverage" in groups:
        overall, by_tag = figures.coverage(unit, last)
        got["coverage"] = overall
        got.update({f"coverage.{t['tag']}": {k: t[k] for k in ("numerator", "denominator", "rate")}
                    for t in by_tag})
    if "renewal" in groups:
        got["renewal"] = figures.renewal(unit, first, last)
    if "fulfilment" in groups:
        got["fulfilment"] = figures.fulfilment(unit, first, last)
    if "programs" in groups:
        for p in figures.programs(unit, first, last, visits_per_year):
            got[f"standard_management.{p['program']}"] = p["standard_management"]
            got[f"control.{p['program']}"] = p["control"]
    if "reminder_delivery" in groups:
        got["reminder_delivery"] = figures.reminder_delivery(unit, first, last)
    if "satisfaction" in groups:
        got["satisfaction"] = figures.satisfaction(unit, first, last)
    return got


def monthly(unit: Unit, metrics: list[str], months: int, settings: figures.OverviewSettings) -> dict:
    if not 1 <= months <= MAX_MONTHS:
        raise ValidationFailed.field("months", f"月数须在 1 到 {MAX_MONTHS} 之间")
    groups = {METRICS[m] for m in metrics}
    out = []
    for label, first, last in month_periods(months, clock.today()):
        got = _month_figures(unit, first, last, groups, settings.visits_per_year)
        out.append({"month": label, "date_from": first, "date_to": last, "figures": {m: got[m] for m in metrics}})
    return {"unit": {"kind": unit.kind, "id": unit.id, "name": unit.name}, "metrics": metrics, "months": out}
