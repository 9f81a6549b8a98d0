"""Clinical judgement of chronic-disease follow-up visits (pure; no Flask, no DB).

Hypertension, type 2 diabetes and severe mental disorders, per the National
Basic Public Health Service Standards, 3rd ed. (2017), as described in
docs/domain.md. Typical use by the API layer::

    errors = validate_visit_fields(body, enrolment.enrolled_on, clock.today())
    visit = Visit.from_dict(body)
    assessment = assess_visit(visit, previous, age_on(birth_date, visit.visit_date),
                              rules, current_due)
    store(assessment.to_dict())   # includes rules_version
"""
from services.followup.judgement.diabetes import assess_diabetes_visit
from services.followup.judgement.engine import ASSESSORS, assess_visit
from services.followup.judgement.hypertension import assess_hypertension_visit
from services.followup.judgement.mental import assess_mental_disorder_visit
from services.followup.judgement.rules import BASE_VERSION, DEFAULT_RULES, RulesConfig, load_rules, rules_to_dict
from services.followup.judgement.types import (
    CHRONIC_CLASSIFICATIONS,
    INSIGHT_VALUES,
    MENTAL_CLASSIFICATIONS,
    PROGRAMS,
    REFERRALS,
    VISIT_MODES,
    Assessment,
    Visit,
)
from services.followup.judgement.validation import FIELD_LABELS, validate_visit_fields

__all__ = [
    "ASSESSORS",
    "BASE_VERSION",
    "CHRONIC_CLASSIFICATIONS",
    "DEFAULT_RULES",
    "FIELD_LABELS",
    "INSIGHT_VALUES",
    "MENTAL_CLASSIFICATIONS",
    "PROGRAMS",
    "REFERRALS",
    "VISIT_MODES",
    "Assessment",
    "RulesConfig",
    "Visit",
    "assess_diabetes_visit",
    "assess_hypertension_visit",
    "assess_mental_disorder_visit",
    "assess_visit",
    "load_rules",
    "rules_to_dict",
    "validate_visit_fields",
]
