"""Severe mental disorder follow-up judgement (NBPHS 3rd ed. 2017; docs/domain.md).

Three exclusive tiers, checked from the worst; the reasons list the findings
of the tier that decided (in the order below), then its outcome code:

- Unstable: risk level in ``mental_unstable_risk_levels`` (``RISK_LEVEL_3_TO_5``),
  obvious psychotic symptoms (``OBVIOUS_PSYCHOTIC_SYMPTOMS``), insight absent
  (``INSIGHT_ABSENT``), serious adverse reaction (``SERIOUS_ADVERSE_REACTION``)
  or serious somatic illness (``SERIOUS_SOMATIC_ILLNESS``) → urgent referral,
  due ``referral_followup_days``.
- Basically stable: risk level in ``mental_basically_stable_risk_levels``
  (``RISK_LEVEL_1_TO_2``), insight partial (``INSIGHT_PARTIAL``) or social
  function poor (``SOCIAL_FUNCTION_POOR``) → adjust and re-check in
  ``mental_recheck_days`` (``RECHECK_14_DAYS``, no referral). At that re-check,
  i.e. when the previous valid visit was ``basically_stable``, still basically
  stable → due in ``still_basically_stable_days`` (``STILL_BASICALLY_STABLE``)
  with the reason ``SPECIALIST_GUIDANCE``: the standard asks for a
  psychiatric specialist's technical guidance (技术指导) at this point. Guidance
  is not a referral (转诊 is for unstable patients only), so ``referral``
  stays ``none``. A third basically-stable visit in a row is again a re-check
  that finds the patient still basically stable (+30, guidance).
- Stable: any other risk level (0 by default) and none of the above →
  ``STABLE``, due ``routine_interval_days``, whether or not it follows a
  re-check.

``at_target`` is always None for this program; ``age`` is unused.
"""
from __future__ import annotations

from datetime import date

from services.followup.judgement._common import Previous, check_inputs, due, not_reached_assessment, previous_valid
from services.followup.judgement.rules import DEFAULT_RULES, RulesConfig
from services.followup.judgement.types import INSIGHT_VALUES, Assessment, Visit

__all__ = ["assess_mental_disorder_visit"]

RISK_LEVEL_3_TO_5 = "RISK_LEVEL_3_TO_5"
OBVIOUS_PSYCHOTIC_SYMPTOMS = "OBVIOUS_PSYCHOTIC_SYMPTOMS"
INSIGHT_ABSENT = "INSIGHT_ABSENT"
SERIOUS_ADVERSE_REACTION = "SERIOUS_ADVERSE_REACTION"
SERIOUS_SOMATIC_ILLNESS = "SERIOUS_SOMATIC_ILLNESS"
RISK_LEVEL_1_TO_2 = "RISK_LEVEL_1_TO_2"
INSIGHT_PARTIAL = "INSIGHT_PARTIAL"
SOCIAL_FUNCTION_POOR = "SOCIAL_FUNCTION_POOR"
RECHECK_14_DAYS = "RECHECK_14_DAYS"
STILL_BASICALLY_STABLE = "STILL_BASICALLY_STABLE"
SPECIALIST_GUIDANCE = "SPECIALIST_GUIDANCE"
STABLE = "STABLE"


def assess_mental_disorder_visit(
    visit: Visit,
    previous: Previous,
    age: int,
    rules: RulesConfig = DEFAULT_RULES,
    current_due: date | None = None,
) -> Assessment:
    """Judge one severe-mental-disorder visit.

    Raises ValueError when a reached visit lacks ``risk_level``, or has a risk
    level outside ``risk_level_min..risk_level_max`` or an unknown ``insight``.
    """
    check_inputs(visit, "mental_disorder", previous)
    if visit.not_reached:
        return not_reached_assessment(visit, rules, current_due)
    risk = visit.risk_level
    if risk is None:
        raise ValueError("a reached mental-disorder visit needs risk_level")
    if isinstance(risk, bool) or not isinstance(risk, int) or not rules.risk_level_min <= risk <= rules.risk_level_max:
        raise ValueError(f"risk_level must be an integer {rules.risk_level_min}..{rules.risk_level_max}")
    if visit.insight is not None and visit.insight not in INSIGHT_VALUES:
        raise ValueError(f"unknown insight {visit.insight!r}")

    def result(classification: str, reasons: list[str], days: int, referral: str) -> Assessment:
        return Assessment(
            classification=classification,
            at_target=None,
            next_due_date=due(visit, [days]),
            referral=referral,
            reasons=tuple(reasons),
            rules_version=rules.version,
        )

    unstable: list[str] = []
    if risk in rules.mental_unstable_risk_levels:
        unstable.append(RISK_LEVEL_3_TO_5)
    if visit.obvious_psychotic_symptoms:
        unstable.append(OBVIOUS_PSYCHOTIC_SYMPTOMS)
    if visit.insight == "absent":
        unstable.append(INSIGHT_ABSENT)
    if visit.serious_adverse_reaction:
        unstable.append(SERIOUS_ADVERSE_REACTION)
    if visit.serious_somatic_illness:
        unstable.append(SERIOUS_SOMATIC_ILLNESS)
    if unstable:
        return result("unstable", unstable, rules.referral_followup_days, "urgent")

    basic: list[str] = []
    if risk in rules.mental_basically_stable_risk_levels:
        basic.append(RISK_LEVEL_1_TO_2)
    if visit.insight == "partial":
        basic.append(INSIGHT_PARTIAL)
    if visit.social_function_poor:
        basic.append(SOCIAL_FUNCTION_POOR)
    if basic:
        prev = previous_valid(previous)
        if prev is not None and prev[1].classification == "basically_stable":
            return result("basically_stable", [*basic, STILL_BASICALLY_STABLE, SPECIALIST_GUIDANCE],
                          rules.still_basically_stable_days, "none")
        return result("basically_stable", [*basic, RECHECK_14_DAYS], rules.mental_recheck_days, "none")

    return result("stable", [STABLE], rules.routine_interval_days, "none")
