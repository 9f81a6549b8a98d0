"""Field validation of a follow-up request body, with Chinese messages.

Pure: takes the decoded JSON body, the enrolment's ``enrolled_on`` and the
caller's "today" (judged in the deployment's time zone by the caller), and
returns ``{field: [message, ...]}``, empty when the body is acceptable. The
plausible ranges come from :class:`RulesConfig` so a deployment can widen them.

Fields that are absent or null are not checked unless the program requires
them; unknown fields are ignored (the API may add more). A not-reached visit
needs ``not_reached_reason`` and no readings, but readings it does carry must
still be plausible.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from services.followup.judgement.rules import DEFAULT_RULES, RulesConfig
from services.followup.judgement.types import INSIGHT_VALUES, PROGRAMS, VISIT_MODES

__all__ = ["FIELD_LABELS", "validate_visit_fields"]

MSG_DATE_REQUIRED = "请填写随访日期"
MSG_DATE_FORMAT = "随访日期格式应为 YYYY-MM-DD"
MSG_DATE_FUTURE = "随访日期不能晚于今天"
MSG_DATE_BEFORE_ENROLMENT = "随访日期不能早于纳入管理日期"
MSG_PROGRAM = "随访项目须为 hypertension、diabetes 或 mental_disorder 之一"
MSG_PROGRAM_REQUIRED = "请选择随访项目"
MSG_VISIT_MODE = "随访方式须为 clinic、home 或 phone 之一"
MSG_REASON_REQUIRED = "未访到时须填写未访到原因"
MSG_REASON_TYPE = "未访到原因须为文字"
MSG_DBP_NOT_BELOW_SBP = "舒张压须低于收缩压"
MSG_INSIGHT = "自知力须为 complete、partial 或 absent 之一"
MSG_SYMPTOMS = "症状须为症状代码列表"

FIELD_LABELS = {
    "sbp": "收缩压",
    "dbp": "舒张压",
    "heart_rate": "心率",
    "temperature": "体温",
    "weight_kg": "体重",
    "fasting_glucose": "空腹血糖",
    "risk_level": "危险性等级",
    "insight": "自知力",
    "not_reached": "是否未访到",
    "pregnant_or_lactating": "是否妊娠或哺乳期",
    "adverse_reaction": "药物不良反应",
    "uncontrollable_adverse_reaction": "不良反应是否无法控制",
    "new_complication": "新发或加重的并发症",
    "obvious_psychotic_symptoms": "明显精神病性症状",
    "social_function_poor": "社会功能差",
    "serious_adverse_reaction": "严重药物不良反应",
    "serious_somatic_illness": "严重躯体疾病",
}

# field -> (integer only?, unit shown in the range message, number style)
_NUMERIC = {
    "sbp": (True, "mmHg", "int"),
    "dbp": (True, "mmHg", "int"),
    "heart_rate": (True, "次/分", "int"),
    "temperature": (False, "℃", "one_decimal"),
    "weight_kg": (False, "kg", "plain"),
    "fasting_glucose": (False, "mmol/L", "one_decimal"),
    "risk_level": (True, "", "int"),
}
_BOOLEANS = (
    "not_reached",
    "pregnant_or_lactating",
    "adverse_reaction",
    "uncontrollable_adverse_reaction",
    "new_complication",
    "obvious_psychotic_symptoms",
    "social_function_poor",
    "serious_adverse_reaction",
    "serious_somatic_illness",
)
_REQUIRED_WHEN_REACHED = {
    "hypertension": ("sbp", "dbp"),
    "diabetes": ("sbp", "dbp", "fasting_glucose"),
    "mental_disorder": ("risk_level", "insight"),
}
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _fmt(value: float, style: str) -> str:
    if style == "int":
        return str(int(value))
    if style == "one_decimal" and round(value, 1) == value:
        return f"{value:.1f}"
    return f"{value:g}"


def _parse_date(value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _is_number(value: Any, integer: bool) -> bool:
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int)
    return isinstance(value, int | float) and math.isfinite(value)


def validate_visit_fields(
    data: Mapping[str, Any],
    enrolled_on: date,
    today: date,
    rules: RulesConfig = DEFAULT_RULES,
) -> dict[str, list[str]]:
    """Check a follow-up body; returns field -> Chinese messages ({} when fine)."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    def present(field: str) -> bool:
        return data.get(field) is not None

    # program
    program = data.get("program")
    if program is None:
        add("program", MSG_PROGRAM_REQUIRED)
    elif program not in PROGRAMS:
        add("program", MSG_PROGRAM)

    # visit_date
    if not present("visit_date"):
        add("visit_date", MSG_DATE_REQUIRED)
    else:
        visit_date = _parse_date(data["visit_date"])
        if visit_date is None:
            add("visit_date", MSG_DATE_FORMAT)
        elif visit_date > today:
            add("visit_date", MSG_DATE_FUTURE)
        elif visit_date < enrolled_on:
            add("visit_date", MSG_DATE_BEFORE_ENROLMENT)

    if present("visit_mode") and data["visit_mode"] not in VISIT_MODES:
        add("visit_mode", MSG_VISIT_MODE)

    for field in _BOOLEANS:
        if present(field) and not isinstance(data[field], bool):
            add(field, f"{FIELD_LABELS[field]}须为 true 或 false")

    if present("symptoms"):
        symptoms = data["symptoms"]
        if not isinstance(symptoms, list | tuple) or not all(isinstance(s, str) and s for s in symptoms):
            add("symptoms", MSG_SYMPTOMS)

    # not reached
    not_reached = data.get("not_reached") is True
    if not_reached:
        reason = data.get("not_reached_reason")
        if reason is None or (isinstance(reason, str) and not reason.strip()):
            add("not_reached_reason", MSG_REASON_REQUIRED)
        elif not isinstance(reason, str):
            add("not_reached_reason", MSG_REASON_TYPE)
    elif program in _REQUIRED_WHEN_REACHED:
        for field in _REQUIRED_WHEN_REACHED[program]:
            if not present(field):
                add(field, f"请填写{FIELD_LABELS[field]}")

    # readings: type and plausible range, whenever given
    valid_numbers: dict[str, float] = {}
    for field, (integer, unit, style) in _NUMERIC.items():
        if not present(field):
            continue
        value = data[field]
        label = FIELD_LABELS[field]
        if not _is_number(value, integer):
            add(field, f"{label}须为整数" if integer else f"{label}须为数字")
            continue
        lo, hi = getattr(rules, f"{field}_min"), getattr(rules, f"{field}_max")
        if not lo <= value <= hi:
            unit_part = f" {unit}" if unit else ""
            add(field, f"{label}须在 {_fmt(lo, style)} 到 {_fmt(hi, style)}{unit_part} 之间")
            continue
        valid_numbers[field] = value

    if "sbp" in valid_numbers and "dbp" in valid_numbers and valid_numbers["dbp"] >= valid_numbers["sbp"]:
        add("dbp", MSG_DBP_NOT_BELOW_SBP)

    if present("insight") and data["insight"] not in INSIGHT_VALUES:
        add("insight", MSG_INSIGHT)

    return errors
