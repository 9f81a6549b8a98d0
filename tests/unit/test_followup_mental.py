"""Severe mental disorder follow-up judgement (docs/domain.md), table-driven."""
from datetime import date, timedelta

import pytest

from services.followup.judgement import DEFAULT_RULES, Assessment, Visit, assess_mental_disorder_visit, assess_visit

D = date(2025, 9, 15)
R = DEFAULT_RULES.version


def mv(risk=0, insight="complete", *, on=D, **kw) -> Visit:
    return Visit("mental_disorder", on, risk_level=risk, insight=insight, **kw)


def not_reached(on) -> Visit:
    return Visit("mental_disorder", on, not_reached=True)


def days_before(n: int) -> date:
    return D - timedelta(days=n)


def history(*visits):
    done: list[tuple[Visit, Assessment]] = []
    due = None
    for v in visits:
        a = assess_visit(v, list(reversed(done)), 40, DEFAULT_RULES, due)
        due = a.next_due_date
        done.append((v, a))
    return list(reversed(done))


def expect(classification, days, referral, *reasons) -> Assessment:
    return Assessment(classification, None, D + timedelta(days=days), referral, reasons, R)


BASIC_BEFORE = history(mv(1, on=days_before(14)))
BASIC_TWICE_BEFORE = history(mv(2, on=days_before(44)), mv(1, on=days_before(30)))
BASIC_THEN_NOT_REACHED = history(mv(2, on=days_before(20)), not_reached(days_before(6)))
UNSTABLE_BEFORE = history(mv(4, on=days_before(14)))
STABLE_BEFORE = history(mv(0, on=days_before(90)))

CASES = [
    ("risk 0 stable", mv(0), [], expect("stable", 90, "none", "STABLE")),
    ("risk 1 basically stable", mv(1), [], expect("basically_stable", 14, "none", "RISK_LEVEL_1_TO_2", "RECHECK_14_DAYS")),
    ("risk 2 basically stable", mv(2), [], expect("basically_stable", 14, "none", "RISK_LEVEL_1_TO_2", "RECHECK_14_DAYS")),
    ("risk 3 unstable", mv(3), [], expect("unstable", 14, "urgent", "RISK_LEVEL_3_TO_5")),
    ("risk 4 unstable", mv(4), [], expect("unstable", 14, "urgent", "RISK_LEVEL_3_TO_5")),
    ("risk 5 unstable", mv(5), [], expect("unstable", 14, "urgent", "RISK_LEVEL_3_TO_5")),
    ("insight absent, risk 0", mv(0, "absent"), [], expect("unstable", 14, "urgent", "INSIGHT_ABSENT")),
    ("insight partial, risk 0", mv(0, "partial"), [],
     expect("basically_stable", 14, "none", "INSIGHT_PARTIAL", "RECHECK_14_DAYS")),
    ("insight not recorded, risk 0", mv(0, None), [], expect("stable", 90, "none", "STABLE")),
    ("social function poor", mv(0, social_function_poor=True), [],
     expect("basically_stable", 14, "none", "SOCIAL_FUNCTION_POOR", "RECHECK_14_DAYS")),
    ("obvious psychotic symptoms", mv(0, obvious_psychotic_symptoms=True), [],
     expect("unstable", 14, "urgent", "OBVIOUS_PSYCHOTIC_SYMPTOMS")),
    ("serious adverse reaction", mv(0, serious_adverse_reaction=True), [],
     expect("unstable", 14, "urgent", "SERIOUS_ADVERSE_REACTION")),
    ("serious somatic illness", mv(0, serious_somatic_illness=True), [],
     expect("unstable", 14, "urgent", "SERIOUS_SOMATIC_ILLNESS")),
    ("mild adverse reaction does not count", mv(0, adverse_reaction=True), [], expect("stable", 90, "none", "STABLE")),
    ("all unstable findings, in order",
     mv(5, "absent", obvious_psychotic_symptoms=True, serious_adverse_reaction=True, serious_somatic_illness=True,
        social_function_poor=True), [],
     expect("unstable", 14, "urgent", "RISK_LEVEL_3_TO_5", "OBVIOUS_PSYCHOTIC_SYMPTOMS", "INSIGHT_ABSENT",
            "SERIOUS_ADVERSE_REACTION", "SERIOUS_SOMATIC_ILLNESS")),
    ("all basically stable findings, in order", mv(2, "partial", social_function_poor=True), [],
     expect("basically_stable", 14, "none", "RISK_LEVEL_1_TO_2", "INSIGHT_PARTIAL", "SOCIAL_FUNCTION_POOR",
            "RECHECK_14_DAYS")),
    # --- the re-check sequence ---------------------------------------------
    ("re-check: still basically stable", mv(1), BASIC_BEFORE,
     expect("basically_stable", 30, "none", "RISK_LEVEL_1_TO_2", "STILL_BASICALLY_STABLE", "SPECIALIST_GUIDANCE")),
    ("re-check: now stable", mv(0), BASIC_BEFORE, expect("stable", 90, "none", "STABLE")),
    ("re-check: now unstable", mv(3), BASIC_BEFORE, expect("unstable", 14, "urgent", "RISK_LEVEL_3_TO_5")),
    ("re-check after a not-reached visit", mv(0, "partial"), BASIC_THEN_NOT_REACHED,
     expect("basically_stable", 30, "none", "INSIGHT_PARTIAL", "STILL_BASICALLY_STABLE", "SPECIALIST_GUIDANCE")),
    ("third basically stable in a row", mv(2), BASIC_TWICE_BEFORE,
     expect("basically_stable", 30, "none", "RISK_LEVEL_1_TO_2", "STILL_BASICALLY_STABLE", "SPECIALIST_GUIDANCE")),
    ("basically stable after unstable", mv(1), UNSTABLE_BEFORE,
     expect("basically_stable", 14, "none", "RISK_LEVEL_1_TO_2", "RECHECK_14_DAYS")),
    ("basically stable after stable", mv(1), STABLE_BEFORE,
     expect("basically_stable", 14, "none", "RISK_LEVEL_1_TO_2", "RECHECK_14_DAYS")),
]


@pytest.mark.parametrize(("visit", "previous", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_mental_disorder_judgement(visit, previous, expected):
    assert assess_mental_disorder_visit(visit, previous, 40, DEFAULT_RULES, None) == expected
    assert assess_visit(visit, previous, 40, DEFAULT_RULES, None) == expected


def test_recheck_sequences_step_by_step():
    d0 = date(2025, 1, 6)
    first = history(mv(2, on=d0))
    assert first[0][1].next_due_date == d0 + timedelta(days=14)
    d1 = first[0][1].next_due_date
    still = history(mv(2, on=d0), mv(1, on=d1))[0][1]
    assert (still.classification, still.next_due_date, still.referral) == (
        "basically_stable", d1 + timedelta(days=30), "none")  # guidance is not a referral (domain.md)
    assert "SPECIALIST_GUIDANCE" in still.reasons
    stable = history(mv(2, on=d0), mv(0, on=d1))[0][1]
    assert (stable.classification, stable.next_due_date, stable.referral) == (
        "stable", d1 + timedelta(days=90), "none")


@pytest.mark.parametrize(
    ("current_due", "expected_due"),
    [(date(2025, 10, 1), date(2025, 10, 1)), (None, D + timedelta(days=14))],
    ids=["keeps current plan", "no plan yet"],
)
def test_not_reached(current_due, expected_due):
    a = assess_mental_disorder_visit(not_reached(D), BASIC_BEFORE, 40, DEFAULT_RULES, current_due)
    assert a == Assessment(None, None, expected_due, "none", ("NOT_REACHED",), R)


@pytest.mark.parametrize(
    "visit",
    [mv(None), mv(6), mv(-1), mv(True), mv(0, "unknown"), Visit("hypertension", D, sbp=120, dbp=80)],
    ids=["missing risk level", "risk 6", "risk -1", "risk bool", "unknown insight", "wrong program"],
)
def test_rejects_bad_input(visit):
    with pytest.raises(ValueError):
        assess_mental_disorder_visit(visit, [], 40, DEFAULT_RULES, None)
