"""Demo sessions: for each demo team, the next two weeks of clinic mornings,
a weekly round (巡诊) at each of its round points and a home-visit afternoon,
so a demo resident can list sessions and book at once. Demo residents living
in a round point's village are assigned to that point. Idempotent: a session
that already exists (team, kind, start, point) is not created again."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from services.core import clock
from services.core.db import db
from services.models import Resident, RoundPoint, Slot, Team

WINDOW_DAYS = 14
# weekday (Mon=0) -> (kind, start, end, capacity, audience)
WEEKLY = {
    1: ("clinic", dt.time(8, 30), dt.time(11, 30), 10, "everyone"),
    3: ("clinic", dt.time(8, 30), dt.time(11, 30), 10, "signed_first"),
    2: ("round", dt.time(9, 0), dt.time(11, 0), 15, "everyone"),
    4: ("home_visit", dt.time(14, 30), dt.time(17, 0), 4, "signed_only"),
}


def _at(day: dt.date, t: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, t, tzinfo=clock.zone()).astimezone(dt.timezone.utc)


def _points_by_team(teams: list[Team]) -> dict[int, list[RoundPoint]]:
    """A round point belongs to the team at its institution whose service area names its village."""
    points = db.session.scalars(select(RoundPoint).where(RoundPoint.active.is_(True)).order_by(RoundPoint.id)).all()
    out: dict[int, list[RoundPoint]] = {t.id: [] for t in teams}
    for point in points:
        for team in teams:
            if team.institution_id == point.institution_id and point.village in (team.service_area or ""):
                out[team.id].append(point)
                break
    return out


def seed_demo_sessions(community_code: str = "demo") -> int:
    teams = db.session.scalars(select(Team).where(Team.code.like(f"{community_code}-%")).order_by(Team.id)).all()
    if not teams:
        return 0
    points = _points_by_team(teams)
    now, today = clock.now(), clock.today()
    created = 0
    for team in teams:
        for offset in range(1, WINDOW_DAYS + 1):
            day = today + dt.timedelta(days=offset)
            if day.weekday() not in WEEKLY:
                continue
            kind, start, end, capacity, audience = WEEKLY[day.weekday()]
            for i, point in enumerate(points[team.id] if kind == "round" else [None]):
                # One doctor cannot be at two points at once: a team's second point gets the afternoon.
                shift = dt.timedelta(hours=5 * (i % 2))
                starts_at = _at(day, start) + shift
                exists = db.session.scalar(select(Slot.id).where(
                    Slot.team_id == team.id, Slot.kind == kind, Slot.starts_at == starts_at,
                    (Slot.round_point_id == point.id) if point else Slot.round_point_id.is_(None)))
                if exists is not None:
                    continue
                db.session.add(Slot(
                    team_id=team.id, staff_id=team.lead_doctor_id if kind != "clinic" and i < 2 else None, kind=kind,
                    round_point_id=point.id if point else None, starts_at=starts_at, ends_at=_at(day, end) + shift,
                    capacity=capacity, booked=0, audience=audience,
                    open_to_all_at=now + dt.timedelta(hours=24) if audience == "signed_first" else None,
                    title=f"{point.name}巡诊" if point else None, status="open", created_at=now))
                created += 1
    db.session.flush()
    _assign_round_points()
    return created


def _assign_round_points() -> None:
    for point in db.session.scalars(select(RoundPoint).where(RoundPoint.active.is_(True))):
        for resident in db.session.scalars(select(Resident).where(
                Resident.village == point.village, Resident.round_point_id.is_(None))):
            resident.round_point_id = point.id
    db.session.flush()
