"""Follow-up body validation: field -> Chinese messages."""
from datetime import date

import pytest

from services.followup.judgement import load_rules, validate_visit_fields

TODAY = date(2025, 6, 10)
ENROLLED = date(2025, 1, 1)


def body(program="hypertension", **kw):
    base = {"program": program, "visit_date": "2025-06-01", "visit_mode": "clinic"}
    if program in ("hypertension", "diabetes"):
        base.update(sbp=130, dbp=80)
    if program == "diabetes":
        base.update(fasting_glucose=6.2)
    if program == "mental_disorder":
        base.update(risk_level=0, insight="complete")
    base.update(kw)
    return base


VALID = [
    ("hypertension", body()),
    ("diabetes", body("diabetes")),
    ("mental", body("mental_disorder")),
    ("visit today", body(visit_date="2025-06-10")),
    ("visit on enrolment day", body(visit_date="2025-01-01")),
    ("date object", body(visit_date=date(2025, 6, 1))),
    ("not reached, no readings", {"program": "diabetes", "visit_date": "2025-06-01", "visit_mode": "phone",
                                  "not_reached": True, "not_reached_reason": "外出务工"}),
    ("range bounds", body(sbp=300, dbp=30, heart_rate=20, temperature=43.0, weight_kg=2, fasting_glucose=1.0)),
    ("upper bounds", body(sbp=300, dbp=200, heart_rate=250, temperature=34.0, weight_kg=300, fasting_glucose=50)),
    ("mental risk 5, insight absent", body("mental_disorder", risk_level=5, insight="absent",
                                           social_function_poor=True)),
    ("optional fields null", body(heart_rate=None, temperature=None, symptoms=None, visit_mode=None)),
    ("symptoms list", body(symptoms=["severe_headache", "leg_oedema"])),
    ("unknown fields ignored", body(medications=[{"name": "氨氯地平"}], bmi=23.1)),
]


@pytest.mark.parametrize("data", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_bodies(data):
    assert validate_visit_fields(data, ENROLLED, TODAY) == {}


INVALID = [
    ("future date", body(visit_date="2025-06-11"), {"visit_date": ["随访日期不能晚于今天"]}),
    ("before enrolment", body(visit_date="2024-12-31"), {"visit_date": ["随访日期不能早于纳入管理日期"]}),
    ("bad date format", body(visit_date="2025/06/01"), {"visit_date": ["随访日期格式应为 YYYY-MM-DD"]}),
    ("impossible date", body(visit_date="2025-02-30"), {"visit_date": ["随访日期格式应为 YYYY-MM-DD"]}),
    ("missing date", {k: v for k, v in body().items() if k != "visit_date"}, {"visit_date": ["请填写随访日期"]}),
    ("unknown program", body(program="tb"),
     {"program": ["随访项目须为 hypertension、diabetes 或 mental_disorder 之一"]}),
    ("missing program", {k: v for k, v in body().items() if k != "program"}, {"program": ["请选择随访项目"]}),
    ("bad visit mode", body(visit_mode="video"), {"visit_mode": ["随访方式须为 clinic、home 或 phone 之一"]}),
    ("not reached without reason", {"program": "hypertension", "visit_date": "2025-06-01", "not_reached": True},
     {"not_reached_reason": ["未访到时须填写未访到原因"]}),
    ("not reached blank reason", {"program": "hypertension", "visit_date": "2025-06-01", "not_reached": True,
                                  "not_reached_reason": "  "}, {"not_reached_reason": ["未访到时须填写未访到原因"]}),
    ("not reached with implausible reading", {"program": "hypertension", "visit_date": "2025-06-01",
                                              "not_reached": True, "not_reached_reason": "搬迁", "sbp": 400},
     {"sbp": ["收缩压须在 60 到 300 mmHg 之间"]}),
    ("hypertension missing bp", body(sbp=None, dbp=None), {"sbp": ["请填写收缩压"], "dbp": ["请填写舒张压"]}),
    ("diabetes missing glucose", body("diabetes", fasting_glucose=None), {"fasting_glucose": ["请填写空腹血糖"]}),
    ("diabetes missing sbp", body("diabetes", sbp=None), {"sbp": ["请填写收缩压"]}),
    ("mental missing risk and insight", body("mental_disorder", risk_level=None, insight=None),
     {"risk_level": ["请填写危险性等级"], "insight": ["请填写自知力"]}),
    ("sbp too low", body(sbp=59, dbp=40), {"sbp": ["收缩压须在 60 到 300 mmHg 之间"]}),
    ("sbp too high", body(sbp=301), {"sbp": ["收缩压须在 60 到 300 mmHg 之间"]}),
    ("dbp too low", body(dbp=29), {"dbp": ["舒张压须在 30 到 200 mmHg 之间"]}),
    ("dbp too high", body(sbp=300, dbp=201), {"dbp": ["舒张压须在 30 到 200 mmHg 之间"]}),
    ("dbp equal to sbp", body(sbp=120, dbp=120), {"dbp": ["舒张压须低于收缩压"]}),
    ("dbp above sbp", body(sbp=90, dbp=120), {"dbp": ["舒张压须低于收缩压"]}),
    ("heart rate", body(heart_rate=251), {"heart_rate": ["心率须在 20 到 250 次/分 之间"]}),
    ("temperature", body(temperature=33.9), {"temperature": ["体温须在 34.0 到 43.0 ℃ 之间"]}),
    ("weight", body(weight_kg=1.5), {"weight_kg": ["体重须在 2 到 300 kg 之间"]}),
    ("glucose", body("diabetes", fasting_glucose=50.1), {"fasting_glucose": ["空腹血糖须在 1.0 到 50.0 mmol/L 之间"]}),
    ("risk level", body("mental_disorder", risk_level=6), {"risk_level": ["危险性等级须在 0 到 5 之间"]}),
    ("bad insight", body("mental_disorder", insight="good"),
     {"insight": ["自知力须为 complete、partial 或 absent 之一"]}),
    ("sbp as string", body(sbp="130"), {"sbp": ["收缩压须为整数"]}),
    ("sbp as float", body(sbp=130.5), {"sbp": ["收缩压须为整数"]}),
    ("glucose as string", body("diabetes", fasting_glucose="6.1"), {"fasting_glucose": ["空腹血糖须为数字"]}),
    ("glucose NaN", body("diabetes", fasting_glucose=float("nan")), {"fasting_glucose": ["空腹血糖须为数字"]}),
    ("bool flag as string", body(adverse_reaction="yes"), {"adverse_reaction": ["药物不良反应须为 true 或 false"]}),
    ("symptoms not a list", body(symptoms="headache"), {"symptoms": ["症状须为症状代码列表"]}),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_bodies(data, expected):
    assert validate_visit_fields(data, ENROLLED, TODAY) == expected


def test_ranges_come_from_the_rules():
    rules = load_rules({"sbp_max": 320})
    assert validate_visit_fields(body(sbp=310), ENROLLED, TODAY, rules) == {}
    assert validate_visit_fields(body(sbp=321), ENROLLED, TODAY, rules) == {"sbp": ["收缩压须在 60 到 320 mmHg 之间"]}
