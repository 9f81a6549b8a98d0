"""Helpers shared by the per-program judgements (not part of the public API)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from services.followup.judgement.rules import RulesConfig
from services.followup.judgement.types import PROGRAMS, VISIT_MODES, Assessment, Visit

Previous = Sequence[tuple[Visit, Assessment]]

NOT_REACHED = "NOT_REACHED"
URGENT_SYMPTOM = "URGENT_SYMPTOM"


def check_inputs(visit: Visit, program: str, previous: Previous) -> None:
    """Reject caller mistakes loudly: a wrong program, or a history out of order."""
    if program not in PROGRAMS:  # pragma: no cover - internal misuse
        raise ValueError(f"unknown program {program!r}")
    if visit.program != program:
        raise ValueError(f"visit is for {visit.program!r}, not {program!r}")
    if visit.visit_mode not in VISIT_MODES:
        raise ValueError(f"unknown visit_mode {visit.visit_mode!r}")
    later = visit.visit_date
    for item in previous:
        prev_visit, prev_assessment = item
        if not isinstance(prev_visit, Visit) or not isinstance(prev_assessment, Assessment):
            raise ValueError("previous must hold (Visit, Assessment) pairs")
        if prev_visit.program != program:
            raise ValueError("previous visits must belong to the same program")
        if prev_visit.visit_date > later:
            raise ValueError("previous visits must be earlier than the visit, most recent first")
        later = prev_visit.visit_date


def previous_valid(previous: Previous) -> tuple[Visit, Assessment] | None:
    """The most recent earlier visit that was reached (not-reached visits are skipped)."""
    for prev_visit, prev_assessment in previous:
        if not prev_visit.not_reached and prev_assessment.classification is not None:
            return prev_visit, prev_assessment
    return None


def not_reached_assessment(visit: Visit, rules: RulesConfig, current_due: date | None) -> Assessment:
    """A not-reached visit keeps the plan in force; with no plan yet, first_due_days."""
    due = current_due if current_due is not None else visit.visit_date + timedelta(days=rules.first_due_days)
    return Assessment(
        classification=None,
        at_target=None,
        next_due_date=due,
        referral="none",
        reasons=(NOT_REACHED,),
        rules_version=rules.version,
    )


def symptom_reasons(symptoms: Iterable[str], urgent_codes: frozenset[str]) -> list[str]:
    """``URGENT_SYMPTOM`` then ``SYMPTOM_<CODE>`` per urgent symptom, sorted by code."""
    hits = sorted(set(symptoms) & urgent_codes)
    if not hits:
        return []
    return [URGENT_SYMPTOM, *(f"SYMPTOM_{code.upper()}" for code in hits)]


def due(visit: Visit, days: Iterable[int]) -> date:
    """The soonest of the follow-up intervals that the fired rules ask for."""
    return visit.visit_date + timedelta(days=min(days))
