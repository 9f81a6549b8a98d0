"""The organisation (医共体): the medical community's institutions, family-doctor
teams and their public cards, staff accounts, and round points (巡诊点). Reads
are public; writes are for admins over their institution and those below it.
"""
from services.core.exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "directory": ("MemberView", "TeamCard", "get_institution", "institutions_page", "team_card", "team_cards",
                  "teams_page"),
    "administration": ("create_institution", "create_staff", "create_team", "get_staff", "staff_page",
                       "update_staff", "update_team"),
    "round_points": ("RoundPointView", "create_round_point", "retire_round_point", "round_point_view",
                     "round_points_page", "update_round_point"),
})
