"""One entry point for every program: dispatch on ``visit.program``."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date

from services.followup.judgement._common import Previous
from services.followup.judgement.diabetes import assess_diabetes_visit
from services.followup.judgement.hypertension import assess_hypertension_visit
from services.followup.judgement.mental import assess_mental_disorder_visit
from services.followup.judgement.rules import DEFAULT_RULES, RulesConfig
from services.followup.judgement.types import Assessment, Visit

__all__ = ["ASSESSORS", "assess_visit"]

ASSESSORS: dict[str, Callable[..., Assessment]] = {
    "hypertension": assess_hypertension_visit,
    "diabetes": assess_diabetes_visit,
    "mental_disorder": assess_mental_disorder_visit,
}


def assess_visit(
    visit: Visit,
    previous: Previous,
    age: int,
    rules: RulesConfig = DEFAULT_RULES,
    current_due: date | None = None,
) -> Assessment:
    """Judge ``visit`` with its program's rules; ValueError for an unknown program."""
    try:
        assessor = ASSESSORS[visit.program]
    except KeyError:
        raise ValueError(f"unknown program {visit.program!r}") from None
    return assessor(visit, previous, age, rules, current_due)
