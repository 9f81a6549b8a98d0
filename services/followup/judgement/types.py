"""Plain value types of the follow-up judgement: a visit in, an assessment out.

Both are frozen dataclasses with no behaviour beyond (de)serialisation, so the
API layer can build a :class:`Visit` from a validated request body, store the
:class:`Assessment` as JSON next to the follow-up record, and rebuild both
when a later visit needs "the previous valid visit".
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

__all__ = [
    "PROGRAMS",
    "VISIT_MODES",
    "INSIGHT_VALUES",
    "REFERRALS",
    "CHRONIC_CLASSIFICATIONS",
    "MENTAL_CLASSIFICATIONS",
    "Visit",
    "Assessment",
]

PROGRAMS = ("hypertension", "diabetes", "mental_disorder")
VISIT_MODES = ("clinic", "home", "phone")
INSIGHT_VALUES = ("complete", "partial", "absent")
REFERRALS = ("none", "advised", "urgent")
# Hypertension and diabetes, in increasing precedence.
CHRONIC_CLASSIFICATIONS = ("controlled", "uncontrolled", "adverse_reaction", "complication")
MENTAL_CLASSIFICATIONS = ("stable", "basically_stable", "unstable")


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"expected a date, got the datetime {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise ValueError(f"expected a date or an ISO date string, got {value!r}")


@dataclass(frozen=True)
class Visit:
    """One follow-up visit of one enrolment, as recorded (already validated)."""

    program: str                      # "hypertension" | "diabetes" | "mental_disorder"
    visit_date: date
    visit_mode: str = "clinic"        # clinic | home | phone
    not_reached: bool = False
    sbp: int | None = None
    dbp: int | None = None
    heart_rate: int | None = None
    temperature: float | None = None
    weight_kg: float | None = None
    fasting_glucose: float | None = None
    symptoms: frozenset[str] = frozenset()
    pregnant_or_lactating: bool = False
    adverse_reaction: bool = False
    uncontrollable_adverse_reaction: bool = False
    new_complication: bool = False
    risk_level: int | None = None
    insight: str | None = None        # complete | partial | absent
    obvious_psychotic_symptoms: bool = False
    social_function_poor: bool = False
    serious_adverse_reaction: bool = False
    serious_somatic_illness: bool = False

    def __post_init__(self) -> None:
        # Accept any iterable of symptom codes but keep the value immutable.
        if isinstance(self.symptoms, str):
            raise TypeError("symptoms must be an iterable of codes, not a string")
        object.__setattr__(self, "symptoms", frozenset(self.symptoms))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (ISO date, sorted symptom list)."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["visit_date"] = self.visit_date.isoformat()
        out["symptoms"] = sorted(self.symptoms)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Visit:
        """Build a visit from a mapping; keys that are not visit fields are ignored.

        Meant for request bodies that :func:`validate_visit_fields` accepted and
        for stored :meth:`to_dict` output; absent keys take the defaults.
        """
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names and v is not None}
        kwargs["visit_date"] = _as_date(d["visit_date"])
        if "symptoms" in kwargs:
            kwargs["symptoms"] = frozenset(kwargs["symptoms"])
        return cls(**kwargs)


@dataclass(frozen=True)
class Assessment:
    """The judgement of one visit.

    ``classification``: hypertension/diabetes ``controlled`` | ``uncontrolled`` |
    ``adverse_reaction`` | ``complication``; mental disorders ``stable`` |
    ``basically_stable`` | ``unstable``; ``None`` for a not-reached visit.
    ``at_target``: hypertension/diabetes whether the reading was at target
    (``None`` when not reached); always ``None`` for mental disorders.
    ``referral``: ``none`` | ``advised`` | ``urgent``.
    ``reasons``: stable UPPER_SNAKE codes in a deterministic order.
    ``rules_version``: the :class:`RulesConfig` version that judged the visit.
    """

    classification: str | None
    at_target: bool | None
    next_due_date: date
    referral: str
    reasons: tuple[str, ...]
    rules_version: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "reasons", tuple(self.reasons))

    def to_dict(self) -> dict[str, Any]:
        return {
            "classification": self.classification,
            "at_target": self.at_target,
            "next_due_date": self.next_due_date.isoformat(),
            "referral": self.referral,
            "reasons": list(self.reasons),
            "rules_version": self.rules_version,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Assessment:
        return cls(
            classification=d.get("classification"),
            at_target=d.get("at_target"),
            next_due_date=_as_date(d["next_due_date"]),
            referral=d["referral"],
            reasons=tuple(d.get("reasons") or ()),
            rules_version=d["rules_version"],
        )
