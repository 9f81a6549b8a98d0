"""The county's picture (admin): coverage, renewal, fulfilment, follow-up
indicators, reminder delivery and satisfaction for the medical community, an
institution or a team, for a period and month by month; and the workload of
each team and staff member for performance pay (绩效考核).
"""
from services.core.exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "units": ("Unit", "pickable_units", "resolve_unit"),
    "figures": ("OverviewSettings", "overview", "overview_rows"),
    "overdue": ("overdue_followups",),
    "reminders": ("reminder_breakdown",),
    "series": ("METRICS", "monthly", "metric_names"),
    "workloads": ("WORKLOAD_COUNTERS", "workload", "workload_rows"),
})
