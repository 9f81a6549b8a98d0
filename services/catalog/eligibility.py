"""Who may take a service package (服务包准入), as a pure function over plain facts.

The caller gathers the resident's facts (birth date, sex, key-population tags
including the derived age tags, enrolled chronic programs) and the contract
start date; this module only compares them with the package's `Eligibility`.
It imports neither Flask nor the database.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from services.catalog.types import Eligibility, PackageDefinition
from services.core.idcard import age_on

__all__ = [
    "PROGRAM_LABELS",
    "SEX_LABELS",
    "EligibilityResult",
    "ResidentFacts",
    "check_eligibility",
]

# Stable rule codes, in the order they are checked.
RULE_AGE_MIN = "AGE_MIN"
RULE_AGE_MAX = "AGE_MAX"
RULE_SEX = "SEX"
RULE_TAGS = "TAGS"
RULE_PROGRAM = "PROGRAM"

PROGRAM_LABELS = {
    "hypertension": "高血压",
    "diabetes": "2型糖尿病",
    "mental_disorder": "严重精神障碍",
}
SEX_LABELS = {"male": "男性", "female": "女性"}


@dataclass(frozen=True)
class ResidentFacts:
    """Plain facts about a resident, computed by the caller as of the start date."""

    birth_date: date
    sex: str                  # male | female
    tags: frozenset[str]      # all key-population tags incl. derived ones (elderly, child)
    programs: frozenset[str]  # enrolled chronic programs (hypertension/diabetes/mental_disorder)

    def __post_init__(self) -> None:
        # Accept any iterable of codes (set, list, tuple) but keep the value immutable.
        object.__setattr__(self, "tags", frozenset(self.tags))
        object.__setattr__(self, "programs", frozenset(self.programs))


@dataclass(frozen=True)
class EligibilityResult:
    eligible: bool
    rule: str | None          # code of the first failing rule; None when eligible
    reason: str | None        # Chinese sentence naming the rule; None when eligible


_ELIGIBLE = EligibilityResult(eligible=True, rule=None, reason=None)


def _tag_labels() -> Mapping[str, str]:
    # The labels live next to the Resident model. Imported lazily, and only when
    # a tag rule fails, so importing this module never pulls in Flask-SQLAlchemy.
    from services.models.resident import TAG_LABELS

    return TAG_LABELS


def _fail(rule: str, reason: str) -> EligibilityResult:
    return EligibilityResult(eligible=False, rule=rule, reason=reason)


def check_eligibility(package: PackageDefinition, facts: ResidentFacts, on: date) -> EligibilityResult:
    """Whether the resident may take `package` for a contract starting `on`.

    Conditions are checked in a fixed order (age_min, age_max, sex, tags_any,
    program) and the first one that fails is reported. Age is the exact age in
    completed years on `on`; a birth date later than `on` raises ValueError
    (from `age_on`) when the package has an age condition.
    """
    rules: Eligibility = package.eligibility

    if rules.age_min is not None or rules.age_max is not None:
        age = age_on(facts.birth_date, on)
        if rules.age_min is not None and age < rules.age_min:
            return _fail(RULE_AGE_MIN, f"该服务包仅面向{rules.age_min}岁及以上居民（签约起始日年龄为{age}岁）")
        if rules.age_max is not None and age > rules.age_max:
            return _fail(RULE_AGE_MAX, f"该服务包仅面向{rules.age_max}岁及以下居民（签约起始日年龄为{age}岁）")

    if rules.sex is not None and facts.sex != rules.sex:
        label = SEX_LABELS.get(rules.sex, rules.sex)
        return _fail(RULE_SEX, f"该服务包仅面向{label}居民")

    if rules.tags_any and not facts.tags.intersection(rules.tags_any):
        labels = _tag_labels()
        names = "、".join(labels.get(tag, tag) for tag in rules.tags_any)
        return _fail(RULE_TAGS, f"该服务包仅面向以下人群：{names}")

    if rules.program is not None and rules.program not in facts.programs:
        label = PROGRAM_LABELS.get(rules.program, rules.program)
        return _fail(RULE_PROGRAM, f"该服务包仅面向已纳入{label}患者健康管理的居民")

    return _ELIGIBLE
