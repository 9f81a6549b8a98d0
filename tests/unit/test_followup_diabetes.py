"""Type 2 diabetes follow-up judgement (docs/domain.md), table-driven."""
from datetime import date, timedelta

import pytest

from services.followup.judgement import DEFAULT_RULES, Assessment, Visit, assess_diabetes_visit, assess_visit

D = date(2025, 3, 5)
R = DEFAULT_RULES.version
W2, W4, W6 = D - timedelta(days=14), D - timedelta(days=28), D - timedelta(days=42)


def dv(glucose=None, *, on=D, sbp=130, dbp=80, **kw) -> Visit:
    return Visit("diabetes", on, sbp=sbp, dbp=dbp, fasting_glucose=glucose, **kw)


def not_reached(on) -> Visit:
    return Visit("diabetes", on, not_reached=True)


def history(*visits, age=55):
    done: list[tuple[Visit, Assessment]] = []
    due = None
    for v in visits:
        a = assess_visit(v, list(reversed(done)), age, DEFAULT_RULES, due)
        due = a.next_due_date
        done.append((v, a))
    return list(reversed(done))


def expect(classification, at_target, days, referral, *reasons) -> Assessment:
    return Assessment(classification, at_target, D + timedelta(days=days), referral, reasons, R)


UNCONTROLLED_BEFORE = history(dv(8.2, on=W4))
UNCONTROLLED_THEN_NOT_REACHED = history(dv(8.2, on=W6), not_reached(W2))
CONTROLLED_BEFORE = history(dv(6.0, on=W4))

FIRST = ("UNCONTROLLED", "FIRST_UNCONTROLLED")

CASES = [
    # --- control boundary --------------------------------------------------
    ("glucose 6.9 controlled", dv(6.9), [], expect("controlled", True, 90, "none", "CONTROLLED")),
    ("glucose 7.0 uncontrolled", dv(7.0), [], expect("uncontrolled", False, 14, "none", *FIRST)),
    ("glucose 4.0 controlled", dv(4.0), [], expect("controlled", True, 90, "none", "CONTROLLED")),
    # --- urgent glucose ----------------------------------------------------
    ("glucose 3.9 urgent low, reading at target", dv(3.9), [],
     expect("controlled", True, 14, "urgent", "GLUCOSE_LE_3_9", "CONTROLLED")),
    ("glucose 2.5 urgent low", dv(2.5), [], expect("controlled", True, 14, "urgent", "GLUCOSE_LE_3_9", "CONTROLLED")),
    ("glucose 16.6 not urgent", dv(16.6), [], expect("uncontrolled", False, 14, "none", *FIRST)),
    ("glucose 16.7 urgent high", dv(16.7), [], expect("uncontrolled", False, 14, "urgent", "GLUCOSE_GE_16_7", *FIRST)),
    # --- other urgent findings ---------------------------------------------
    ("sbp 180", dv(6.0, sbp=180, dbp=100), [], expect("controlled", True, 14, "urgent", "SBP_GE_180", "CONTROLLED")),
    ("dbp 110", dv(6.0, sbp=170, dbp=110), [], expect("controlled", True, 14, "urgent", "DBP_GE_110", "CONTROLLED")),
    ("179/109 not urgent, bp does not decide control", dv(6.0, sbp=179, dbp=109), [],
     expect("controlled", True, 90, "none", "CONTROLLED")),
    ("blood pressure not recorded", dv(6.0, sbp=None, dbp=None), [],
     expect("controlled", True, 90, "none", "CONTROLLED")),
    ("heart rate 100 not urgent", dv(6.0, heart_rate=100), [], expect("controlled", True, 90, "none", "CONTROLLED")),
    ("heart rate 101 urgent", dv(6.0, heart_rate=101), [],
     expect("controlled", True, 14, "urgent", "HEART_RATE_GT_100", "CONTROLLED")),
    ("temperature 39.0 not urgent", dv(6.0, temperature=39.0), [],
     expect("controlled", True, 90, "none", "CONTROLLED")),
    ("temperature 39.1 urgent", dv(6.0, temperature=39.1), [],
     expect("controlled", True, 14, "urgent", "TEMPERATURE_GT_39", "CONTROLLED")),
    ("pregnant glucose 7.0", dv(7.0, pregnant_or_lactating=True), [],
     expect("uncontrolled", False, 14, "urgent", "PREGNANCY_RAISED_GLUCOSE", *FIRST)),
    ("pregnant glucose 6.9", dv(6.9, pregnant_or_lactating=True), [],
     expect("controlled", True, 90, "none", "CONTROLLED")),
    ("acetone breath", dv(6.0, symptoms={"acetone_breath"}), [],
     expect("controlled", True, 14, "urgent", "URGENT_SYMPTOM", "SYMPTOM_ACETONE_BREATH", "CONTROLLED")),
    ("severe headache is not a diabetes urgent symptom", dv(6.0, symptoms={"severe_headache"}), [],
     expect("controlled", True, 90, "none", "CONTROLLED")),
    ("every urgent finding, in order",
     dv(17.0, sbp=185, dbp=115, heart_rate=120, temperature=39.5, pregnant_or_lactating=True,
        symptoms={"sweating", "abdominal_pain"}), [],
     expect("uncontrolled", False, 14, "urgent", "GLUCOSE_GE_16_7", "SBP_GE_180", "DBP_GE_110",
            "HEART_RATE_GT_100", "TEMPERATURE_GT_39", "PREGNANCY_RAISED_GLUCOSE", "URGENT_SYMPTOM",
            "SYMPTOM_ABDOMINAL_PAIN", "SYMPTOM_SWEATING", *FIRST)),
    # --- two in a row, reactions, complications ----------------------------
    ("uncontrolled twice in a row", dv(7.5), UNCONTROLLED_BEFORE,
     expect("uncontrolled", False, 14, "advised", "UNCONTROLLED", "TWO_CONSECUTIVE_UNCONTROLLED")),
    ("uncontrolled, not reached, uncontrolled", dv(7.5), UNCONTROLLED_THEN_NOT_REACHED,
     expect("uncontrolled", False, 14, "advised", "UNCONTROLLED", "TWO_CONSECUTIVE_UNCONTROLLED")),
    ("uncontrolled after controlled", dv(7.5), CONTROLLED_BEFORE, expect("uncontrolled", False, 14, "none", *FIRST)),
    ("controlled after uncontrolled", dv(6.5), UNCONTROLLED_BEFORE, expect("controlled", True, 90, "none", "CONTROLLED")),
    ("adverse reaction on controlled reading", dv(6.5, adverse_reaction=True), [],
     expect("adverse_reaction", True, 14, "none", "ADVERSE_REACTION")),
    ("uncontrollable adverse reaction", dv(6.5, adverse_reaction=True, uncontrollable_adverse_reaction=True), [],
     expect("adverse_reaction", True, 14, "advised", "UNCONTROLLABLE_ADVERSE_REACTION")),
    ("new complication", dv(6.5, new_complication=True), [],
     expect("complication", True, 14, "advised", "NEW_COMPLICATION")),
    ("new complication, uncontrolled twice", dv(9.0, new_complication=True), UNCONTROLLED_BEFORE,
     expect("complication", False, 14, "advised", "UNCONTROLLED", "TWO_CONSECUTIVE_UNCONTROLLED",
            "NEW_COMPLICATION")),
]


@pytest.mark.parametrize(("visit", "previous", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_diabetes_judgement(visit, previous, expected):
    assert assess_diabetes_visit(visit, previous, 55, DEFAULT_RULES, None) == expected
    assert assess_visit(visit, previous, 55, DEFAULT_RULES, None) == expected


@pytest.mark.parametrize(
    ("current_due", "expected_due"),
    [(date(2025, 4, 1), date(2025, 4, 1)), (None, D + timedelta(days=14))],
    ids=["keeps current plan", "no plan yet"],
)
def test_not_reached(current_due, expected_due):
    a = assess_diabetes_visit(not_reached(D), UNCONTROLLED_BEFORE, 55, DEFAULT_RULES, current_due)
    assert a == Assessment(None, None, expected_due, "none", ("NOT_REACHED",), R)


@pytest.mark.parametrize(
    "visit",
    [dv(None), Visit("hypertension", D, sbp=130, dbp=80)],
    ids=["missing fasting glucose", "wrong program"],
)
def test_rejects_bad_input(visit):
    with pytest.raises(ValueError):
        assess_diabetes_visit(visit, [], 55, DEFAULT_RULES, None)
