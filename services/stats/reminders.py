"""Reminder delivery of a unit for the dashboard: sent, delivered and failed in
the period, failures by reason (in Chinese), and the same day by day. The
unit's residents are those of its delivery rate in the overview (a team: the
residents it looked after in the period; an institution or the community: the
residents registered there)."""
from __future__ import annotations

import datetime as dt

from services.access.scope import Scope
from services.models import Resident
from services.reminders import outbox
from services.stats import figures
from services.stats.units import Unit

# Twilio's delivery error codes a county meets, and the outbox's own.
FAILURE_LABELS = {
    "30003": "无法接通（关机、停机或不在服务区）",
    "30004": "被用户拦截",
    "30005": "号码不存在",
    "30006": "固定电话或无法接收短信的号码",
    "30007": "被运营商拦截",
    "30008": "运营商未知错误",
    "21211": "号码格式无效",
    "21610": "居民已退订短信",
    "21614": "非手机号码",
    "UNDELIVERED": "未送达（运营商未说明原因）",
    "UNCONFIRMED": "发送结果未确认",
    "WECHAT_FALLBACK": "微信订阅消息失败，已改发短信",
    "ERROR": "发送出错",
    "UNKNOWN": "原因未知",
}


def failure_label(code: str) -> str:
    return FAILURE_LABELS.get(code, f"错误码 {code}")


def reminder_breakdown(scope: Scope, unit: Unit, date_from: dt.date, date_to: dt.date) -> dict:
    figures.check_period(date_from, date_to)
    if unit.kind == "team":
        residents = Resident.id.in_(figures.looked_after(unit, date_from, date_to))
    else:
        residents = Resident.institution_id.in_(unit.institution_ids)
    days = outbox.delivery_stats(scope, date_from, date_to, residents)
    reasons: dict[str, int] = {}
    for day in days:
        for code, n in day["failed_by_error_code"].items():
            reasons[code] = reasons.get(code, 0) + n
    sent = sum(d["sent"] for d in days)
    delivered = sum(d["delivered"] for d in days)
    return {"unit": {"kind": unit.kind, "id": unit.id, "name": unit.name},
            "date_from": date_from, "date_to": date_to, "sent": sent, "delivered": delivered,
            "failed": sum(d["failed"] for d in days),
            "delivery_rate": round(delivered / sent, 4) if sent else None,
            "failed_by_reason": [{"error_code": code, "label": failure_label(code), "count": n}
                                 for code, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))],
            "days": days}
