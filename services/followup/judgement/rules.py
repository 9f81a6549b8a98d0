"""Every threshold and interval of the follow-up judgement, in one config.

Defaults follow the National Basic Public Health Service Standards, 3rd ed.
(2017), as summarised in docs/domain.md "Chronic-disease follow-up". A
deployment may override any value with :func:`load_rules`; the resulting
``version`` then carries a short hash of the overrides, and every
:class:`~services.followup.judgement.types.Assessment` records the version that judged
it, so a stored follow-up always says exactly which rules produced it.

Reason codes name the rule, not the number: ``SBP_GE_180`` still means "the
urgent systolic threshold was reached" when a deployment moves it to 170.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

__all__ = [
    "BASE_VERSION",
    "DEFAULT_HYPERTENSION_URGENT_SYMPTOMS",
    "DEFAULT_DIABETES_URGENT_SYMPTOMS",
    "RulesConfig",
    "load_rules",
    "rules_to_dict",
    "DEFAULT_RULES",
]

# The suffix counts changes to the judgement itself, so stored assessments say which
# logic judged them (.2: a still basically-stable SMI patient gets specialist guidance,
# not a referral).
BASE_VERSION = "nbphs3-2017.2"

# domain.md, hypertension step 1: altered consciousness, severe headache or
# dizziness, nausea/vomiting, blurred vision, eye pain, palpitations, chest
# tightness, cannot lie flat.
DEFAULT_HYPERTENSION_URGENT_SYMPTOMS = frozenset({
    "altered_consciousness",
    "severe_headache",
    "severe_dizziness",
    "nausea_vomiting",
    "blurred_vision",
    "eye_pain",
    "palpitations",
    "chest_tightness",
    "orthopnea",
})

# domain.md, diabetes step 1: altered consciousness or behaviour, acetone
# breath, palpitations, sweating, vomiting, polydipsia/polyuria, abdominal
# pain, deep rapid breathing, flushed skin, sudden vision loss.
DEFAULT_DIABETES_URGENT_SYMPTOMS = frozenset({
    "altered_consciousness",
    "acetone_breath",
    "palpitations",
    "sweating",
    "nausea_vomiting",
    "polydipsia_polyuria",
    "abdominal_pain",
    "deep_rapid_breathing",
    "flushed_skin",
    "sudden_vision_loss",
})

_INTERVAL_FIELDS = (
    "first_due_days",
    "routine_interval_days",
    "adjust_interval_days",
    "referral_followup_days",
    "mental_recheck_days",
    "still_basically_stable_days",
)
_RANGE_PAIRS = (
    ("sbp_min", "sbp_max"),
    ("dbp_min", "dbp_max"),
    ("heart_rate_min", "heart_rate_max"),
    ("temperature_min", "temperature_max"),
    ("weight_kg_min", "weight_kg_max"),
    ("fasting_glucose_min", "fasting_glucose_max"),
    ("risk_level_min", "risk_level_max"),
)


@dataclass(frozen=True)
class RulesConfig:
    """All thresholds and intervals. Comparisons are documented per field."""

    version: str = BASE_VERSION

    # --- intervals, in days after the visit date -------------------------
    first_due_days: int = 14              # not-reached visit with no plan in force yet
    routine_interval_days: int = 90       # controlled / stable: 3 months
    adjust_interval_days: int = 14        # first uncontrolled or adverse reaction: adjust, re-check
    referral_followup_days: int = 14      # after an urgent or advised referral
    mental_recheck_days: int = 14         # mental: basically stable, re-check
    still_basically_stable_days: int = 30 # mental: still basically stable at the re-check
    visits_per_year: int = 4              # face-to-face visits a year the standard requires (indicators)

    # --- blood pressure (mmHg) -------------------------------------------
    sbp_urgent: int = 180                 # urgent if SBP >= this (hypertension and diabetes)
    dbp_urgent: int = 110                 # urgent if DBP >= this (hypertension and diabetes)
    sbp_target: int = 140                 # at target if SBP < this ...
    dbp_target: int = 90                  # ... and DBP < this
    elderly_age: int = 65                 # aged >= this on the visit date: elderly target
    elderly_sbp_target: int = 150
    elderly_dbp_target: int = 90
    pregnancy_sbp_raised: int = 140       # pregnant/lactating and SBP >= this: urgent
    pregnancy_dbp_raised: int = 90        # pregnant/lactating and DBP >= this: urgent

    # --- diabetes -------------------------------------------------------
    glucose_urgent_high: float = 16.7     # urgent if fasting glucose >= this (mmol/L)
    glucose_urgent_low: float = 3.9       # urgent if fasting glucose <= this
    glucose_target: float = 7.0           # controlled if fasting glucose < this
    pregnancy_glucose_raised: float = 7.0 # pregnant/lactating and glucose >= this: urgent
    heart_rate_urgent: int = 100          # urgent if heart rate > this (/min)
    temperature_urgent: float = 39.0      # urgent if temperature > this (°C)

    # --- urgent symptom codes (api.md symptom codes) ---------------------
    hypertension_urgent_symptoms: frozenset[str] = DEFAULT_HYPERTENSION_URGENT_SYMPTOMS
    diabetes_urgent_symptoms: frozenset[str] = DEFAULT_DIABETES_URGENT_SYMPTOMS

    # --- severe mental disorders -----------------------------------------
    mental_unstable_risk_levels: tuple[int, ...] = (3, 4, 5)
    mental_basically_stable_risk_levels: tuple[int, ...] = (1, 2)

    # --- plausible ranges for input validation (inclusive) ---------------
    sbp_min: int = 60
    sbp_max: int = 300
    dbp_min: int = 30
    dbp_max: int = 200
    heart_rate_min: int = 20
    heart_rate_max: int = 250
    temperature_min: float = 34.0
    temperature_max: float = 43.0
    weight_kg_min: float = 2.0
    weight_kg_max: float = 300.0
    fasting_glucose_min: float = 1.0
    fasting_glucose_max: float = 50.0
    risk_level_min: int = 0
    risk_level_max: int = 5

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _normalize(f.name, getattr(self, f.name)))
        for name in _INTERVAL_FIELDS:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 day")
        for lo, hi in _RANGE_PAIRS:
            if getattr(self, lo) >= getattr(self, hi):
                raise ValueError(f"{lo} must be below {hi}")
        unstable = set(self.mental_unstable_risk_levels)
        basic = set(self.mental_basically_stable_risk_levels)
        if unstable & basic:
            raise ValueError("a risk level cannot be both unstable and basically stable")
        for level in unstable | basic:
            if not self.risk_level_min <= level <= self.risk_level_max:
                raise ValueError(f"risk level {level} is outside risk_level_min..risk_level_max")


_DEFAULTS = {f.name: f.default for f in fields(RulesConfig)}
_OVERRIDABLE = frozenset(_DEFAULTS) - {"version"}


def _normalize(name: str, value: Any) -> Any:
    """Coerce ``value`` to the kind of ``name``'s default, or raise ValueError."""
    default = _DEFAULTS[name]
    if isinstance(default, str):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string")
        return value
    if isinstance(default, bool):  # no bool rules today; keep ints from swallowing them
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number")
        return float(value)
    if isinstance(default, frozenset):
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple | set | frozenset):
            raise ValueError(f"{name} must be a list of codes")
        if not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{name} must contain non-empty strings")
        return frozenset(value)
    if isinstance(default, tuple):
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple | set | frozenset):
            raise ValueError(f"{name} must be a list of integers")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError(f"{name} must contain integers")
        return tuple(sorted(set(value)))
    raise AssertionError(f"unhandled rule kind for {name}")  # pragma: no cover


def _jsonable(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _overrides_digest(normalized: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {k: _jsonable(v) for k, v in normalized.items()},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def load_rules(overrides: Mapping[str, Any] | None = None) -> RulesConfig:
    """The default rules with ``overrides`` applied.

    Keys are :class:`RulesConfig` field names; an unknown key (including
    ``version``, which is always derived) raises ValueError, as does a value of
    the wrong kind or one that breaks an invariant (interval < 1 day, range
    min >= max, a risk level in both mental sets). Values are normalised first
    (7 and 7.0 for a float rule, [2, 1] and (1, 2) for a set of levels hash the
    same). With any override the version becomes
    ``f"{BASE_VERSION}+{first 12 hex of sha256(canonical JSON of the overrides)}"``;
    ``None`` or ``{}`` gives the defaults with the base version.
    """
    if not overrides:
        return RulesConfig()
    if not isinstance(overrides, Mapping):
        raise ValueError("overrides must be a mapping of rule name to value")
    unknown = sorted(str(k) for k in overrides if k not in _OVERRIDABLE)
    if unknown:
        raise ValueError(f"unknown rule override(s): {', '.join(unknown)}")
    normalized = {k: _normalize(k, v) for k, v in overrides.items()}
    version = f"{BASE_VERSION}+{_overrides_digest(normalized)}"
    return replace(RulesConfig(), version=version, **normalized)


def rules_to_dict(rules: RulesConfig) -> dict[str, Any]:
    """JSON-able form of a config (sets as sorted lists), e.g. for an admin view."""
    data = asdict(rules)
    return {k: _jsonable(v) for k, v in data.items()}


DEFAULT_RULES = load_rules()
