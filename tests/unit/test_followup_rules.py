"""RulesConfig defaults, overrides, versions; types (de)serialisation; engine dispatch."""
import dataclasses
import hashlib
import json
from datetime import date, timedelta

import pytest

from services.followup.judgement import (
    BASE_VERSION,
    DEFAULT_RULES,
    Assessment,
    RulesConfig,
    Visit,
    assess_visit,
    load_rules,
    rules_to_dict,
)

D = date(2025, 6, 10)


def test_defaults_follow_the_standard():
    r = DEFAULT_RULES
    assert r.version == BASE_VERSION == "nbphs3-2017.2"
    assert (r.first_due_days, r.routine_interval_days, r.adjust_interval_days, r.referral_followup_days,
            r.mental_recheck_days, r.still_basically_stable_days) == (14, 90, 14, 14, 14, 30)
    assert (r.sbp_urgent, r.dbp_urgent, r.sbp_target, r.dbp_target) == (180, 110, 140, 90)
    assert (r.elderly_age, r.elderly_sbp_target, r.elderly_dbp_target) == (65, 150, 90)
    assert (r.glucose_urgent_high, r.glucose_urgent_low, r.glucose_target) == (16.7, 3.9, 7.0)
    assert (r.heart_rate_urgent, r.temperature_urgent) == (100, 39.0)
    assert r.mental_unstable_risk_levels == (3, 4, 5)
    assert r.mental_basically_stable_risk_levels == (1, 2)
    assert {"severe_headache", "orthopnea", "eye_pain"} <= r.hypertension_urgent_symptoms
    assert {"acetone_breath", "sudden_vision_loss", "flushed_skin"} <= r.diabetes_urgent_symptoms
    assert (r.sbp_min, r.sbp_max, r.dbp_min, r.dbp_max) == (60, 300, 30, 200)
    assert load_rules() == load_rules({}) == DEFAULT_RULES == RulesConfig()


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_RULES.sbp_target = 130  # type: ignore[misc]


def test_override_version_is_base_plus_short_sha256_of_canonical_json():
    rules = load_rules({"sbp_target": 135, "glucose_target": 6.1})
    canonical = json.dumps({"glucose_target": 6.1, "sbp_target": 135}, sort_keys=True, separators=(",", ":"))
    assert rules.version == f"{BASE_VERSION}+{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"
    assert (rules.sbp_target, rules.glucose_target) == (135, 6.1)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"sbp_target": 135, "dbp_target": 85}, {"dbp_target": 85, "sbp_target": 135}, True),
        ({"glucose_target": 7}, {"glucose_target": 7.0}, True),
        ({"mental_unstable_risk_levels": [5, 4, 3]}, {"mental_unstable_risk_levels": (3, 4, 5)}, True),
        ({"hypertension_urgent_symptoms": ["eye_pain", "orthopnea"]},
         {"hypertension_urgent_symptoms": {"orthopnea", "eye_pain"}}, True),
        ({"sbp_target": 135}, {"sbp_target": 130}, False),
        ({"sbp_target": 140}, {}, False),  # an override, even of the default value, is recorded
    ],
    ids=["key order", "int vs float", "level order", "symptom order", "different value", "explicit default"],
)
def test_version_is_canonical(a, b, same):
    assert (load_rules(a).version == load_rules(b).version) is same


@pytest.mark.parametrize(
    "overrides",
    [
        {"sbp_targett": 135},
        {"version": "mine"},
        {"sbp_target": "140"},
        {"sbp_target": 139.5},
        {"sbp_target": True},
        {"glucose_target": "7.0"},
        {"hypertension_urgent_symptoms": "eye_pain"},
        {"mental_unstable_risk_levels": [3, "4"]},
        {"routine_interval_days": 0},
        {"sbp_min": 300},
        {"mental_unstable_risk_levels": [2, 3, 4, 5]},
        {"mental_basically_stable_risk_levels": [1, 2, 6]},
    ],
    ids=["unknown key", "version is derived", "string int", "float for int", "bool for int", "string float",
         "string for set", "string level", "zero interval", "min not below max", "overlapping risk sets",
         "risk level out of range"],
)
def test_bad_overrides_are_rejected(overrides):
    with pytest.raises(ValueError):
        load_rules(overrides)


def test_unknown_key_named_in_error():
    with pytest.raises(ValueError, match="sbp_targett"):
        load_rules({"sbp_targett": 135})


def hv(sbp, dbp, **kw):
    return Visit("hypertension", D, sbp=sbp, dbp=dbp, **kw)


def dv(glucose, **kw):
    return Visit("diabetes", D, sbp=120, dbp=80, fasting_glucose=glucose, **kw)


def mv(risk, **kw):
    return Visit("mental_disorder", D, risk_level=risk, insight="complete", **kw)


OVERRIDE_CASES = [
    ("sbp target 130", {"sbp_target": 130}, hv(135, 85), 50, ("uncontrolled", 14, "none")),
    ("default target for comparison", {}, hv(135, 85), 50, ("controlled", 90, "none")),
    ("urgent sbp 170", {"sbp_urgent": 170}, hv(172, 85), 50, ("uncontrolled", 14, "urgent")),
    ("elderly from 60", {"elderly_age": 60}, hv(149, 85), 62, ("controlled", 90, "none")),
    ("routine 60 days", {"routine_interval_days": 60}, hv(120, 80), 50, ("controlled", 60, "none")),
    ("adjust 21 days", {"adjust_interval_days": 21}, hv(150, 80), 50, ("uncontrolled", 21, "none")),
    ("referral follow-up 7 days", {"referral_followup_days": 7}, hv(185, 80), 50, ("uncontrolled", 7, "urgent")),
    ("nosebleed made urgent", {"hypertension_urgent_symptoms": ["nosebleed"]},
     hv(120, 80, symptoms={"nosebleed"}), 50, ("controlled", 14, "urgent")),
    ("glucose target 6.1", {"glucose_target": 6.1}, dv(6.5), 50, ("uncontrolled", 14, "none")),
    ("glucose urgent low 3.0", {"glucose_urgent_low": 3.0}, dv(3.9), 50, ("controlled", 90, "none")),
    ("heart rate urgent above 110", {"heart_rate_urgent": 110}, dv(6.0, heart_rate=105), 50,
     ("controlled", 90, "none")),
    ("risk 2 unstable", {"mental_unstable_risk_levels": [2, 3, 4, 5], "mental_basically_stable_risk_levels": [1]},
     mv(2), 40, ("unstable", 14, "urgent")),
    ("mental stable 60 days", {"routine_interval_days": 60}, mv(0), 40, ("stable", 60, "none")),
]


@pytest.mark.parametrize(("overrides", "visit", "age", "expected"), [c[1:] for c in OVERRIDE_CASES],
                         ids=[c[0] for c in OVERRIDE_CASES])
def test_overrides_change_the_judgement(overrides, visit, age, expected):
    rules = load_rules(overrides)
    a = assess_visit(visit, [], age, rules, None)
    assert (a.classification, (a.next_due_date - D).days, a.referral) == expected
    assert a.rules_version == rules.version
    assert (rules.version == BASE_VERSION) is (not overrides)


def test_override_still_basically_stable_and_first_due():
    rules = load_rules({"still_basically_stable_days": 28, "first_due_days": 7})
    earlier = Visit("mental_disorder", D - timedelta(days=14), risk_level=1, insight="complete")
    prev = [(earlier, assess_visit(earlier, [], 40, rules, None))]
    assert assess_visit(mv(1), prev, 40, rules, None).next_due_date == D + timedelta(days=28)
    nr = Visit("mental_disorder", D, not_reached=True)
    assert assess_visit(nr, prev, 40, rules, None).next_due_date == D + timedelta(days=7)


VERSION_VISITS = [
    hv(120, 80), hv(185, 115, symptoms={"eye_pain"}), Visit("hypertension", D, not_reached=True),
    dv(6.0), dv(18.0), Visit("diabetes", D, not_reached=True),
    mv(0), mv(1), mv(4), Visit("mental_disorder", D, not_reached=True),
]


@pytest.mark.parametrize("rules", [DEFAULT_RULES, load_rules({"sbp_target": 130})], ids=["default", "override"])
@pytest.mark.parametrize("visit", VERSION_VISITS, ids=lambda v: f"{v.program}-{v.sbp or v.fasting_glucose or v.risk_level}")
def test_every_assessment_records_the_rules_version(rules, visit):
    assert assess_visit(visit, [], 50, rules, None).rules_version == rules.version


def test_rules_to_dict_is_json_able_and_round_trips():
    data = rules_to_dict(load_rules({"sbp_target": 135}))
    json.dumps(data)
    assert data["mental_unstable_risk_levels"] == [3, 4, 5]
    assert data["hypertension_urgent_symptoms"] == sorted(DEFAULT_RULES.hypertension_urgent_symptoms)
    version = data.pop("version")
    assert RulesConfig(version=version, **data) == load_rules({"sbp_target": 135})


def test_assessment_dict_round_trip():
    a = Assessment("uncontrolled", False, date(2025, 6, 24), "advised", ("UNCONTROLLED", "X"), "v1")
    d = a.to_dict()
    assert d == {"classification": "uncontrolled", "at_target": False, "next_due_date": "2025-06-24",
                 "referral": "advised", "reasons": ["UNCONTROLLED", "X"], "rules_version": "v1"}
    assert json.loads(json.dumps(d)) == d
    assert Assessment.from_dict(d) == a
    nr = Assessment(None, None, date(2025, 7, 1), "none", ("NOT_REACHED",), "v1")
    assert Assessment.from_dict(nr.to_dict()) == nr


def test_visit_dict_round_trip_and_from_request_body():
    v = Visit("diabetes", D, sbp=130, dbp=80, fasting_glucose=6.2, symptoms={"sweating", "abdominal_pain"})
    assert Visit.from_dict(json.loads(json.dumps(v.to_dict()))) == v
    body = {"resident_id": 7, "program": "hypertension", "visit_date": "2025-06-10", "visit_mode": "home",
            "sbp": 150, "dbp": 95, "symptoms": ["eye_pain"], "heart_rate": None, "not_reached_reason": None}
    assert Visit.from_dict(body) == Visit("hypertension", D, visit_mode="home", sbp=150, dbp=95,
                                          symptoms=frozenset({"eye_pain"}))


def test_engine_rejects_unknown_program():
    with pytest.raises(ValueError, match="unknown program"):
        assess_visit(Visit("tuberculosis", D), [], 50, DEFAULT_RULES, None)


def test_module_is_pure():
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = ("import sys, services.followup.judgement; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy', 'app') "
            "or m.startswith(('services.core.db', 'services.models'))]; print(bad); assert not bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo)
