"""Overdue follow-ups (逾期未随访) of a unit today, by team and by village, for
the dashboard's bar chart: the same patients the worklists show in their
"overdue" section (active enrolment, next due date before today)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from services.core.db import db
from services.models import Institution, ProgramEnrolment, Resident, Team
from services.models.followup import PROGRAMS
from services.stats.units import Unit

NO_VILLAGE = "未填写村/社区"


def _counts() -> dict[str, int]:
    return dict.fromkeys(PROGRAMS, 0)


def overdue_followups(unit: Unit, today: dt.date) -> dict:
    """{unit, as_of, total, by_team: [...], by_village: [...]}, most overdue first; every team of the
    unit is listed (a team with none shows 0), villages only where someone is overdue."""
    base = (ProgramEnrolment.team_id.in_(unit.team_ids), ProgramEnrolment.status == "active",
            ProgramEnrolment.next_due_date < today)
    teams = {t.id: {"team_id": t.id, "team_name": t.name, "overdue": 0, "by_program": _counts()}
             for t in db.session.scalars(select(Team).where(Team.id.in_(unit.team_ids)).order_by(Team.id))}
    for team_id, program, n in db.session.execute(
            select(ProgramEnrolment.team_id, ProgramEnrolment.program, func.count())
            .where(*base).group_by(ProgramEnrolment.team_id, ProgramEnrolment.program)):
        row = teams[team_id]
        row["overdue"] += n
        row["by_program"][program] += n

    villages: dict[tuple[str, str], dict] = {}
    for village, institution, program, n in db.session.execute(
            select(Resident.village, Institution.name, ProgramEnrolment.program, func.count())
            .join(Resident, Resident.id == ProgramEnrolment.resident_id)
            .join(Institution, Institution.id == Resident.institution_id)
            .where(*base).group_by(Resident.village, Institution.name, ProgramEnrolment.program)):
        key = (village or NO_VILLAGE, institution)
        row = villages.setdefault(key, {"village": key[0], "institution_name": institution, "overdue": 0,
                                        "by_program": _counts()})
        row["overdue"] += n
        row["by_program"][program] += n

    def order(rows, name):
        return sorted(rows, key=lambda r: (-r["overdue"], r[name]))

    by_team = order(teams.values(), "team_name")
    return {"unit": {"kind": unit.kind, "id": unit.id, "name": unit.name}, "as_of": today, "total": sum(r["overdue"] for r in by_team), "by_team": by_team,
            "by_village": order(villages.values(), "village")}
