"""Steps 3 and 4 shared by hypertension and type 2 diabetes (domain.md).

Each program computes its own urgent findings (step 1) and whether the reading
is at target (step 2); this module applies the rest:

3. Uncontrolled or an adverse reaction: if the previous valid visit was also
   not at target (two in a row) or the reaction cannot be controlled, advise
   referral (due ``referral_followup_days``); otherwise adjust medication (due
   ``adjust_interval_days``, no referral). A new or worsening complication,
   whatever the reading, gives classification ``complication`` and an advised
   referral (due ``referral_followup_days``).
4. Controlled, no reaction, no new complication: routine (``routine_interval_days``).

Every step's findings are listed in the reasons, in step order, and the next
due date is the soonest interval any fired step asks for; an urgent referral
wins over an advised one. "Two in a row" looks at the current *reading* only:
an adverse reaction on a reading at target never counts as the second
uncontrolled visit.
"""
from __future__ import annotations

from services.followup.judgement._common import Previous, due, previous_valid
from services.followup.judgement.rules import RulesConfig
from services.followup.judgement.types import Assessment, Visit

UNCONTROLLED = "UNCONTROLLED"
FIRST_UNCONTROLLED = "FIRST_UNCONTROLLED"
TWO_CONSECUTIVE_UNCONTROLLED = "TWO_CONSECUTIVE_UNCONTROLLED"
ADVERSE_REACTION = "ADVERSE_REACTION"
UNCONTROLLABLE_ADVERSE_REACTION = "UNCONTROLLABLE_ADVERSE_REACTION"
NEW_COMPLICATION = "NEW_COMPLICATION"
CONTROLLED = "CONTROLLED"


def judge_chronic(
    visit: Visit,
    previous: Previous,
    rules: RulesConfig,
    urgent_reasons: list[str],
    target_reasons: list[str],
    at_target: bool,
) -> Assessment:
    reasons = [*urgent_reasons, *target_reasons]
    days: list[int] = []
    advised = False
    if urgent_reasons:
        days.append(rules.referral_followup_days)

    # Step 3: uncontrolled reading.
    if not at_target:
        reasons.append(UNCONTROLLED)
        prev = previous_valid(previous)
        if prev is not None and prev[1].at_target is False:
            reasons.append(TWO_CONSECUTIVE_UNCONTROLLED)
            advised = True
            days.append(rules.referral_followup_days)
        else:
            reasons.append(FIRST_UNCONTROLLED)
            days.append(rules.adjust_interval_days)

    # Step 3: adverse drug reaction (an uncontrollable one is a reaction too).
    adverse = visit.adverse_reaction or visit.uncontrollable_adverse_reaction
    if visit.uncontrollable_adverse_reaction:
        reasons.append(UNCONTROLLABLE_ADVERSE_REACTION)
        advised = True
        days.append(rules.referral_followup_days)
    elif adverse:
        reasons.append(ADVERSE_REACTION)
        days.append(rules.adjust_interval_days)

    # Step 3: new or worsening complication, whatever the reading.
    if visit.new_complication:
        reasons.append(NEW_COMPLICATION)
        advised = True
        days.append(rules.referral_followup_days)

    if visit.new_complication:
        classification = "complication"
    elif adverse:
        classification = "adverse_reaction"
    elif not at_target:
        classification = "uncontrolled"
    else:
        # Step 4 (its 90 days lose to an urgent step-1 interval).
        classification = "controlled"
        reasons.append(CONTROLLED)
        days.append(rules.routine_interval_days)

    referral = "urgent" if urgent_reasons else "advised" if advised else "none"
    return Assessment(
        classification=classification,
        at_target=at_target,
        next_due_date=due(visit, days),
        referral=referral,
        reasons=tuple(reasons),
        rules_version=rules.version,
    )
