"""The organisation as the public sees it: institutions, and team cards with remaining capacity."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select

from services.core.db import db
from services.core.errors import NotFound
from services.core.pagination import Page, paginate
from services.core.views import ModelView
from services.models import Contract, Institution, Staff, Team


@dataclass(frozen=True)
class MemberView:
    """A team member as shown on the public card (no contact details)."""

    id: int
    name: str
    team_role: str | None
    is_lead: bool


@dataclass
class TeamCard(ModelView):
    """A team's public card: its members, and how many places are left."""

    model: Team
    doctor_count: int
    capacity: int
    signed: int

    @property
    def remaining(self) -> int:
        return max(0, self.capacity - self.signed)

    @property
    def members(self) -> list[MemberView]:
        lead = self.model.lead_doctor_id
        return [MemberView(m.id, m.name, m.team_role, m.id == lead) for m in self.model.members if m.active]


def team_capacity(team: Team, doctor_count: int, default_per_doctor: int) -> int:
    """在原则上每名家庭医生签约不超过 2,000 人: capacity scales with the team's doctors."""
    per_doctor = team.capacity_per_doctor or default_per_doctor
    return doctor_count * per_doctor


def _counts(team_ids: list[int]) -> tuple[dict[int, int], dict[int, int]]:
    if not team_ids:
        return {}, {}
    doctors = dict(db.session.execute(
        select(Staff.team_id, func.count()).where(
            Staff.team_id.in_(team_ids), Staff.team_role == "doctor", Staff.active.is_(True)
        ).group_by(Staff.team_id)
    ).all())
    signed = dict(db.session.execute(
        select(Contract.team_id, func.count()).where(
            Contract.team_id.in_(team_ids), Contract.status == "active"
        ).group_by(Contract.team_id)
    ).all())
    return doctors, signed


def team_cards(teams: list[Team], default_per_doctor: int) -> list[TeamCard]:
    doctors, signed = _counts([t.id for t in teams])
    return [
        TeamCard(t, doctors.get(t.id, 0),
                 team_capacity(t, doctors.get(t.id, 0), default_per_doctor),
                 signed.get(t.id, 0))
        for t in teams
    ]


def teams_query(institution_id: int | None = None, community_id: int | None = None) -> Select:
    stmt = select(Team).order_by(Team.id)
    if institution_id is not None:
        stmt = stmt.where(Team.institution_id == institution_id)
    if community_id is not None:
        stmt = stmt.join(Institution, Team.institution_id == Institution.id).where(
            Institution.community_id == community_id
        )
    return stmt


def get_team(team_id: int) -> Team:
    team = db.session.get(Team, team_id)
    if team is None:
        raise NotFound("家庭医生团队不存在", code="TEAM_NOT_FOUND")
    return team


def institutions_query(type_: str | None = None, parent_id: int | None = None,
                       community_id: int | None = None) -> Select:
    stmt = select(Institution).order_by(Institution.id)
    if type_:
        stmt = stmt.where(Institution.type == type_)
    if parent_id is not None:
        stmt = stmt.where(Institution.parent_id == parent_id)
    if community_id is not None:
        stmt = stmt.where(Institution.community_id == community_id)
    return stmt


def get_institution(institution_id: int) -> Institution:
    inst = db.session.get(Institution, institution_id)
    if inst is None:
        raise NotFound("机构不存在", code="INSTITUTION_NOT_FOUND")
    return inst


def teams_page(institution_id: int | None, page: int, page_size: int, per_doctor: int) -> Page:
    return paginate(teams_query(institution_id), page, page_size).with_items(
        lambda teams: team_cards(teams, per_doctor))


def team_card(team_id: int, per_doctor: int) -> TeamCard:
    return team_cards([get_team(team_id)], per_doctor)[0]


def institutions_page(type_: str | None, parent_id: int | None, page: int, page_size: int) -> Page:
    return paginate(institutions_query(type_, parent_id), page, page_size)
