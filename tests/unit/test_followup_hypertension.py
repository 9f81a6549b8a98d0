"""Hypertension follow-up judgement (docs/domain.md), table-driven."""
from datetime import date, timedelta

import pytest

from services.core.idcard import age_on
from services.followup.judgement import DEFAULT_RULES, Assessment, Visit, assess_hypertension_visit, assess_visit

D = date(2025, 6, 10)
R = DEFAULT_RULES.version


def hv(sbp=None, dbp=None, *, on=D, **kw) -> Visit:
    return Visit("hypertension", on, sbp=sbp, dbp=dbp, **kw)


def not_reached(on) -> Visit:
    return Visit("hypertension", on, not_reached=True)


def history(*visits, age=50):
    """Assess ``visits`` (oldest first) in order; return them most recent first."""
    done: list[tuple[Visit, Assessment]] = []
    due = None
    for v in visits:
        a = assess_visit(v, list(reversed(done)), age, DEFAULT_RULES, due)
        due = a.next_due_date
        done.append((v, a))
    return list(reversed(done))


def expect(classification, at_target, days, referral, *reasons) -> Assessment:
    return Assessment(classification, at_target, D + timedelta(days=days), referral, reasons, R)


W2, W4, W6 = D - timedelta(days=14), D - timedelta(days=28), D - timedelta(days=42)
UNCONTROLLED_BEFORE = history(hv(150, 95, on=W4))
CONTROLLED_BEFORE = history(hv(130, 80, on=W4))
UNCONTROLLED_THEN_NOT_REACHED = history(hv(150, 95, on=W6), not_reached(W2))
UNCONTROLLED_THEN_CONTROLLED = history(hv(150, 95, on=W6), hv(130, 80, on=W2))
ADVERSE_ON_CONTROLLED_BEFORE = history(hv(130, 80, on=W4, adverse_reaction=True))
ONLY_NOT_REACHED = history(not_reached(W4), not_reached(W2))

CASES = [
    # --- target boundaries, under 65 -------------------------------------
    ("139/89 controlled", hv(139, 89), [], 50, expect("controlled", True, 90, "none", "CONTROLLED")),
    ("140/89 sbp at threshold", hv(140, 89), [], 50,
     expect("uncontrolled", False, 14, "none", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("139/90 dbp at threshold", hv(139, 90), [], 50,
     expect("uncontrolled", False, 14, "none", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("140/90", hv(140, 90), [], 50,
     expect("uncontrolled", False, 14, "none", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    # --- elderly target ---------------------------------------------------
    ("149/89 age 65 elderly target", hv(149, 89), [], 65,
     expect("controlled", True, 90, "none", "ELDERLY_TARGET_150", "CONTROLLED")),
    ("149/89 age 64 normal target", hv(149, 89), [], 64,
     expect("uncontrolled", False, 14, "none", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("150/80 age 65", hv(150, 80), [], 65,
     expect("uncontrolled", False, 14, "none", "ELDERLY_TARGET_150", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("145/90 age 70 dbp still 90", hv(145, 90), [], 70,
     expect("uncontrolled", False, 14, "none", "ELDERLY_TARGET_150", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    # --- urgent boundaries ------------------------------------------------
    ("179/109 not urgent", hv(179, 109), [], 50,
     expect("uncontrolled", False, 14, "none", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("180/109 sbp urgent", hv(180, 109), [], 50,
     expect("uncontrolled", False, 14, "urgent", "SBP_GE_180", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("179/110 dbp urgent", hv(179, 110), [], 50,
     expect("uncontrolled", False, 14, "urgent", "DBP_GE_110", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("180/110 both urgent", hv(180, 110), [], 50,
     expect("uncontrolled", False, 14, "urgent", "SBP_GE_180", "DBP_GE_110", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("182/95 urgent", hv(182, 95), [], 50,
     expect("uncontrolled", False, 14, "urgent", "SBP_GE_180", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("182/95 after uncontrolled: urgent wins over advised", hv(182, 95), UNCONTROLLED_BEFORE, 50,
     expect("uncontrolled", False, 14, "urgent", "SBP_GE_180", "UNCONTROLLED", "TWO_CONSECUTIVE_UNCONTROLLED")),
    ("182/80 age 70", hv(182, 80), [], 70,
     expect("uncontrolled", False, 14, "urgent", "SBP_GE_180", "ELDERLY_TARGET_150", "UNCONTROLLED",
            "FIRST_UNCONTROLLED")),
    ("controlled reading with severe headache", hv(130, 80, symptoms={"severe_headache"}), [], 50,
     expect("controlled", True, 14, "urgent", "URGENT_SYMPTOM", "SYMPTOM_SEVERE_HEADACHE", "CONTROLLED")),
    ("urgent symptoms sorted, non-urgent ignored",
     hv(130, 80, symptoms={"orthopnea", "chest_tightness", "leg_oedema"}), [], 50,
     expect("controlled", True, 14, "urgent", "URGENT_SYMPTOM", "SYMPTOM_CHEST_TIGHTNESS", "SYMPTOM_ORTHOPNEA",
            "CONTROLLED")),
    ("non-urgent symptom only", hv(130, 80, symptoms={"leg_oedema", "nosebleed"}), [], 50,
     expect("controlled", True, 90, "none", "CONTROLLED")),
    ("pregnant 140/85 raised bp", hv(140, 85, pregnant_or_lactating=True), [], 30,
     expect("uncontrolled", False, 14, "urgent", "PREGNANCY_RAISED_BP", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("pregnant 135/90 raised bp", hv(135, 90, pregnant_or_lactating=True), [], 30,
     expect("uncontrolled", False, 14, "urgent", "PREGNANCY_RAISED_BP", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("pregnant 139/89 normal", hv(139, 89, pregnant_or_lactating=True), [], 30,
     expect("controlled", True, 90, "none", "CONTROLLED")),
    # --- two in a row -----------------------------------------------------
    ("uncontrolled twice in a row", hv(150, 95), UNCONTROLLED_BEFORE, 50,
     expect("uncontrolled", False, 14, "advised", "UNCONTROLLED", "TWO_CONSECUTIVE_UNCONTROLLED")),
    ("uncontrolled, not reached, uncontrolled", hv(145, 85), UNCONTROLLED_THEN_NOT_REACHED, 50,
     expect("uncontrolled", False, 14, "advised", "UNCONTROLLED", "TWO_CONSECUTIVE_UNCONTROLLED")),
    ("uncontrolled after controlled", hv(150, 95), CONTROLLED_BEFORE, 50,
     expect("uncontrolled", False, 14, "none", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("uncontrolled, controlled, uncontrolled", hv(150, 95), UNCONTROLLED_THEN_CONTROLLED, 50,
     expect("uncontrolled", False, 14, "none", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("uncontrolled after adverse reaction at target", hv(150, 95), ADVERSE_ON_CONTROLLED_BEFORE, 50,
     expect("uncontrolled", False, 14, "none", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("uncontrolled after only not-reached visits", hv(150, 95), ONLY_NOT_REACHED, 50,
     expect("uncontrolled", False, 14, "none", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ("controlled after uncontrolled", hv(130, 80), UNCONTROLLED_BEFORE, 50,
     expect("controlled", True, 90, "none", "CONTROLLED")),
    # --- adverse reactions and complications ------------------------------
    ("adverse reaction on controlled reading", hv(130, 80, adverse_reaction=True), [], 50,
     expect("adverse_reaction", True, 14, "none", "ADVERSE_REACTION")),
    ("uncontrollable adverse reaction", hv(130, 80, adverse_reaction=True, uncontrollable_adverse_reaction=True),
     [], 50, expect("adverse_reaction", True, 14, "advised", "UNCONTROLLABLE_ADVERSE_REACTION")),
    ("uncontrollable flag alone implies a reaction", hv(130, 80, uncontrollable_adverse_reaction=True), [], 50,
     expect("adverse_reaction", True, 14, "advised", "UNCONTROLLABLE_ADVERSE_REACTION")),
    ("adverse reaction at target after uncontrolled: not two in a row",
     hv(130, 80, adverse_reaction=True), UNCONTROLLED_BEFORE, 50,
     expect("adverse_reaction", True, 14, "none", "ADVERSE_REACTION")),
    ("adverse reaction on uncontrolled reading", hv(150, 95, adverse_reaction=True), [], 50,
     expect("adverse_reaction", False, 14, "none", "UNCONTROLLED", "FIRST_UNCONTROLLED", "ADVERSE_REACTION")),
    ("new complication, controlled reading", hv(130, 80, new_complication=True), [], 50,
     expect("complication", True, 14, "advised", "NEW_COMPLICATION")),
    ("complication beats adverse reaction and uncontrolled",
     hv(150, 95, adverse_reaction=True, new_complication=True), [], 50,
     expect("complication", False, 14, "advised", "UNCONTROLLED", "FIRST_UNCONTROLLED", "ADVERSE_REACTION",
            "NEW_COMPLICATION")),
    ("complication with urgent reading", hv(185, 100, new_complication=True), [], 50,
     expect("complication", False, 14, "urgent", "SBP_GE_180", "UNCONTROLLED", "FIRST_UNCONTROLLED",
            "NEW_COMPLICATION")),
]


@pytest.mark.parametrize(("visit", "previous", "age", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hypertension_judgement(visit, previous, age, expected):
    assert assess_hypertension_visit(visit, previous, age, DEFAULT_RULES, None) == expected
    assert assess_visit(visit, previous, age, DEFAULT_RULES, None) == expected


@pytest.mark.parametrize(
    ("birth_date", "expected"),
    [
        (date(1960, 6, 10), expect("controlled", True, 90, "none", "ELDERLY_TARGET_150", "CONTROLLED")),
        (date(1960, 6, 11), expect("uncontrolled", False, 14, "none", "UNCONTROLLED", "FIRST_UNCONTROLLED")),
    ],
    ids=["65th birthday on the visit date", "65th birthday the day after the visit"],
)
def test_elderly_target_uses_exact_age_on_visit_date(birth_date, expected):
    visit = hv(149, 85)
    assert assess_hypertension_visit(visit, [], age_on(birth_date, visit.visit_date), DEFAULT_RULES, None) == expected


@pytest.mark.parametrize(
    ("current_due", "expected_due"),
    [(date(2025, 7, 1), date(2025, 7, 1)), (date(2025, 6, 1), date(2025, 6, 1)), (None, D + timedelta(days=14))],
    ids=["keeps later plan", "keeps overdue plan", "no plan yet: first due in 14 days"],
)
def test_not_reached_keeps_current_plan(current_due, expected_due):
    a = assess_hypertension_visit(not_reached(D), UNCONTROLLED_BEFORE, 50, DEFAULT_RULES, current_due)
    assert a == Assessment(None, None, expected_due, "none", ("NOT_REACHED",), R)


def test_not_reached_ignores_readings():
    a = assess_hypertension_visit(hv(200, 120, not_reached=True), [], 50, DEFAULT_RULES, date(2025, 7, 1))
    assert (a.classification, a.referral, a.reasons) == (None, "none", ("NOT_REACHED",))


@pytest.mark.parametrize(
    ("visit", "previous", "age"),
    [
        (hv(140, None), [], 50),
        (hv(None, 90), [], 50),
        (Visit("diabetes", D, sbp=130, dbp=80, fasting_glucose=6.0), [], 50),
        (hv(130, 80, visit_mode="video"), [], 50),
        (hv(130, 80), [(hv(130, 80, on=W4), CONTROLLED_BEFORE[0][1]), (hv(130, 80, on=W2), CONTROLLED_BEFORE[0][1])],
         50),
        (hv(130, 80), [(hv(130, 80, on=D + timedelta(days=1)), CONTROLLED_BEFORE[0][1])], 50),
        (hv(130, 80), [], -1),
    ],
    ids=["missing dbp", "missing sbp", "wrong program", "unknown visit mode", "history oldest first",
         "previous after visit", "negative age"],
)
def test_rejects_bad_input(visit, previous, age):
    with pytest.raises(ValueError):
        assess_hypertension_visit(visit, previous, age, DEFAULT_RULES, None)
