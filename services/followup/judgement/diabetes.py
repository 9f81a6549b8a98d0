"""Type 2 diabetes follow-up judgement (NBPHS 3rd ed. 2017; docs/domain.md).

1. Urgent referral (due ``referral_followup_days``) if fasting glucose >=
   ``glucose_urgent_high`` (``GLUCOSE_GE_16_7``) or <= ``glucose_urgent_low``
   (``GLUCOSE_LE_3_9``); SBP >= ``sbp_urgent`` (``SBP_GE_180``) or DBP >=
   ``dbp_urgent`` (``DBP_GE_110``) when recorded; heart rate >
   ``heart_rate_urgent`` (``HEART_RATE_GT_100``); temperature >
   ``temperature_urgent`` (``TEMPERATURE_GT_39``); pregnant or lactating with
   fasting glucose >= ``pregnancy_glucose_raised`` (``PREGNANCY_RAISED_GLUCOSE``);
   any symptom in ``diabetes_urgent_symptoms`` (``URGENT_SYMPTOM`` then
   ``SYMPTOM_<CODE>``). The standard says heart rate > 100 "persistent"; one
   visit records one reading, so a single reading > 100 counts.
2. Controlled (at target): fasting glucose < ``glucose_target``. Blood
   pressure only matters through step 1.
3. and 4. as for hypertension (:mod:`services.followup.judgement._chronic`).

A glucose of 3.9 is at target (< 7.0) yet urgent: classification
``controlled``, referral ``urgent``, due in 14 days.
"""
from __future__ import annotations

from datetime import date

from services.followup.judgement._chronic import judge_chronic
from services.followup.judgement._common import Previous, check_inputs, not_reached_assessment, symptom_reasons
from services.followup.judgement.hypertension import DBP_GE_110, SBP_GE_180
from services.followup.judgement.rules import DEFAULT_RULES, RulesConfig
from services.followup.judgement.types import Assessment, Visit

__all__ = ["assess_diabetes_visit"]

GLUCOSE_GE_16_7 = "GLUCOSE_GE_16_7"
GLUCOSE_LE_3_9 = "GLUCOSE_LE_3_9"
HEART_RATE_GT_100 = "HEART_RATE_GT_100"
TEMPERATURE_GT_39 = "TEMPERATURE_GT_39"
PREGNANCY_RAISED_GLUCOSE = "PREGNANCY_RAISED_GLUCOSE"


def assess_diabetes_visit(
    visit: Visit,
    previous: Previous,
    age: int,
    rules: RulesConfig = DEFAULT_RULES,
    current_due: date | None = None,
) -> Assessment:
    """Judge one type 2 diabetes visit (parameters as for hypertension; ``age`` is unused).

    Raises ValueError when a reached visit lacks fasting glucose.
    """
    check_inputs(visit, "diabetes", previous)
    if visit.not_reached:
        return not_reached_assessment(visit, rules, current_due)
    if visit.fasting_glucose is None:
        raise ValueError("a reached diabetes visit needs fasting_glucose")
    glucose = visit.fasting_glucose

    urgent: list[str] = []
    if glucose >= rules.glucose_urgent_high:
        urgent.append(GLUCOSE_GE_16_7)
    if glucose <= rules.glucose_urgent_low:
        urgent.append(GLUCOSE_LE_3_9)
    if visit.sbp is not None and visit.sbp >= rules.sbp_urgent:
        urgent.append(SBP_GE_180)
    if visit.dbp is not None and visit.dbp >= rules.dbp_urgent:
        urgent.append(DBP_GE_110)
    if visit.heart_rate is not None and visit.heart_rate > rules.heart_rate_urgent:
        urgent.append(HEART_RATE_GT_100)
    if visit.temperature is not None and visit.temperature > rules.temperature_urgent:
        urgent.append(TEMPERATURE_GT_39)
    if visit.pregnant_or_lactating and glucose >= rules.pregnancy_glucose_raised:
        urgent.append(PREGNANCY_RAISED_GLUCOSE)
    urgent.extend(symptom_reasons(visit.symptoms, rules.diabetes_urgent_symptoms))

    at_target = glucose < rules.glucose_target
    return judge_chronic(visit, previous, rules, urgent, [], at_target)
