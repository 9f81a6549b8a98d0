"""Chronic-disease management (慢病管理) for hypertension, type 2 diabetes and
severe mental disorders: enrolment, follow-up visits judged by the national
standard, the team's worklist, referrals up and down the medical community,
and the follow-up indicators. The clinical rules themselves are pure
functions in `judgement/`, importable without Flask or the database.
"""
from services.core.exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "enrolments": ("change_status", "enrol", "enrolments_of"),
    "visits": ("followups_page", "record_followup"),
    "worklist": ("WorklistFilters", "worklist_page", "worklist_team"),
    "referrals": ("create_referral", "referrals_page", "update_referral"),
    "indicators": ("followup_stats",),
})
