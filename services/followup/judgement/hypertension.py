"""Hypertension follow-up judgement (NBPHS 3rd ed. 2017; docs/domain.md).

In order:

1. Urgent referral (due ``referral_followup_days``) if SBP >= ``sbp_urgent``
   (``SBP_GE_180``), DBP >= ``dbp_urgent`` (``DBP_GE_110``), pregnant or
   lactating with raised BP, i.e. SBP >= ``pregnancy_sbp_raised`` or DBP >=
   ``pregnancy_dbp_raised`` (``PREGNANCY_RAISED_BP``), or any symptom in
   ``hypertension_urgent_symptoms`` (``URGENT_SYMPTOM`` then
   ``SYMPTOM_<CODE>`` per symptom, sorted).
2. Target: SBP < ``sbp_target`` and DBP < ``dbp_target``; aged
   ``elderly_age`` or more on the visit date: SBP < ``elderly_sbp_target``
   and DBP < ``elderly_dbp_target`` (reason ``ELDERLY_TARGET_150`` whenever
   the elderly target was applied, at target or not).
3. and 4. as in :mod:`services.followup.judgement._chronic`.

An urgent visit keeps the classification its reading, reaction and
complication give; only its referral and due date are urgent.
"""
from __future__ import annotations

from datetime import date

from services.followup.judgement._chronic import judge_chronic
from services.followup.judgement._common import Previous, check_inputs, not_reached_assessment, symptom_reasons
from services.followup.judgement.rules import DEFAULT_RULES, RulesConfig
from services.followup.judgement.types import Assessment, Visit

__all__ = ["assess_hypertension_visit"]

SBP_GE_180 = "SBP_GE_180"
DBP_GE_110 = "DBP_GE_110"
PREGNANCY_RAISED_BP = "PREGNANCY_RAISED_BP"
ELDERLY_TARGET_150 = "ELDERLY_TARGET_150"


def _check_age(age: int) -> None:
    if isinstance(age, bool) or not isinstance(age, int) or age < 0:
        raise ValueError("age must be a non-negative integer (exact age on the visit date)")


def assess_hypertension_visit(
    visit: Visit,
    previous: Previous,
    age: int,
    rules: RulesConfig = DEFAULT_RULES,
    current_due: date | None = None,
) -> Assessment:
    """Judge one hypertension visit.

    ``previous``: earlier visits of the same enrolment with their stored
    assessments, most recent first (not-reached ones are skipped when looking
    for the previous valid visit). ``age``: exact age on the visit date.
    ``current_due``: the due date in force before this visit, kept by a
    not-reached visit. Raises ValueError when a reached visit lacks SBP or DBP.
    """
    check_inputs(visit, "hypertension", previous)
    _check_age(age)
    if visit.not_reached:
        return not_reached_assessment(visit, rules, current_due)
    if visit.sbp is None or visit.dbp is None:
        raise ValueError("a reached hypertension visit needs both sbp and dbp")
    sbp, dbp = visit.sbp, visit.dbp

    urgent: list[str] = []
    if sbp >= rules.sbp_urgent:
        urgent.append(SBP_GE_180)
    if dbp >= rules.dbp_urgent:
        urgent.append(DBP_GE_110)
    if visit.pregnant_or_lactating and (sbp >= rules.pregnancy_sbp_raised or dbp >= rules.pregnancy_dbp_raised):
        urgent.append(PREGNANCY_RAISED_BP)
    urgent.extend(symptom_reasons(visit.symptoms, rules.hypertension_urgent_symptoms))

    if age >= rules.elderly_age:
        target_reasons = [ELDERLY_TARGET_150]
        at_target = sbp < rules.elderly_sbp_target and dbp < rules.elderly_dbp_target
    else:
        target_reasons = []
        at_target = sbp < rules.sbp_target and dbp < rules.dbp_target

    return judge_chronic(visit, previous, rules, urgent, target_reasons, at_target)
