"""Reminder settings as plain values (services never read Flask config)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


def parse_quiet_hours(raw: str | None) -> tuple[dt.time, dt.time] | None:
    """"21:00-08:00" -> (21:00, 08:00); empty disables quiet hours."""
    if not raw or not raw.strip() or raw.strip().lower() in ("off", "none", "0"):
        return None
    try:
        start, end = (dt.time.fromisoformat(part.strip()) for part in raw.split("-", 1))
    except ValueError as exc:
        raise ValueError(f"QUIET_HOURS must look like 21:00-08:00, got {raw!r}") from exc
    if start == end:
        return None
    return start, end


@dataclass(frozen=True)
class ReminderSettings:
    signature: str = "家庭医生签约服务"
    quiet_hours: tuple[dt.time, dt.time] | None = (dt.time(21), dt.time(8))
    daily_cap: int = 3
    rate_per_second: float = 10.0
    # Concurrent sender threads sharing the rate (PostgreSQL; SQLite always has one).
    dispatch_threads: int = 4  # 4 x 50 ms provider calls: 80/s; within the Twilio SDK's connection pool
    batch_size: int = 100
    max_attempts: int = 6
    retry_base_seconds: int = 60
    retry_max_seconds: int = 3600
    sending_timeout_seconds: int = 300
    followup_due_days: int = 3
    overdue_days: int = 7
    contract_ending_days: tuple[int, ...] = (30, 7)
    catchup_days: int = 7
    evening_hour: int = 18
    cancel_cutoff_hours: float = 2
    wechat_templates: dict[str, str] = field(default_factory=dict)
    plan_batch_size: int = 1000
