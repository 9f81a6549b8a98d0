"""Which unit a figure is for: one team, an institution and those below it, or
the whole medical community, always inside the caller's scope."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from services.access.scope import Scope, institution_subtree, visible_team
from services.core.db import db
from services.core.errors import NotFound, ValidationFailed
from services.models import Institution, MedicalCommunity, Team


@dataclass(frozen=True)
class Unit:
    kind: str  # "team" | "institution" | "community"
    id: int
    name: str
    team_ids: tuple[int, ...]
    # The institutions whose registered residents are the unit's population
    # (a team: its institution and those below it).
    institution_ids: tuple[int, ...]


def _teams_of(institution_ids) -> tuple[int, ...]:
    return tuple(db.session.scalars(select(Team.id).where(Team.institution_id.in_(sorted(institution_ids)))
                                    .order_by(Team.id)))


def resolve_unit(scope: Scope, team_id: int | None = None, institution_id: int | None = None) -> Unit:
    """A team member sees its own team (naming another is 404, as every record
    outside scope is); an institution admin their institution or anything
    below it; the medical-community admin everything. Naming both a team and
    an institution asks for the team, which must lie under that institution."""
    if not scope.is_staff:
        raise NotFound("资源不存在")
    if institution_id is not None and (scope.role != "admin" or institution_id not in scope.institution_ids):
        raise NotFound("机构不存在", code="INSTITUTION_NOT_FOUND")
    if team_id is None and scope.role == "doctor":
        if scope.team_id is None:
            raise ValidationFailed.field("team_id", "您尚未加入家庭医生团队")
        team_id = scope.team_id
    if team_id is not None:
        team = visible_team(team_id, scope)
        if institution_id is not None and team.institution_id not in institution_subtree(institution_id):
            raise NotFound("家庭医生团队不存在", code="TEAM_NOT_FOUND")
        return Unit("team", team.id, team.name, (team.id,), tuple(sorted(institution_subtree(team.institution_id))))
    if institution_id is not None:
        ids = institution_subtree(institution_id)
        name = db.session.get(Institution, institution_id).name
        return Unit("institution", institution_id, name, _teams_of(ids), tuple(sorted(ids)))
    if scope.home_institution_id is not None:
        ids = scope.institution_ids
        name = db.session.get(Institution, scope.home_institution_id).name
        return Unit("institution", scope.home_institution_id, name, _teams_of(ids), tuple(sorted(ids)))
    community = db.session.get(MedicalCommunity, scope.community_id)
    return Unit("community", community.id, community.name, _teams_of(scope.institution_ids),
                tuple(sorted(scope.institution_ids)))


def pickable_units(scope: Scope, today: dt.date) -> dict:
    """What the caller may pick for a figure: the institutions (an admin's subtree, by tree order)
    and teams in scope; a team member only their own team and no institution. `today` is the
    deployment's day, which a page's period presets count from."""
    if not scope.is_staff:
        raise NotFound("资源不存在")
    if scope.role == "doctor":
        teams = [] if scope.team_id is None else [visible_team(scope.team_id, scope)]
        return {"today": today, "default_kind": "team", "institutions": [], "teams": teams}
    institutions = db.session.scalars(select(Institution).where(Institution.id.in_(sorted(scope.institution_ids)))
                                      .order_by(Institution.id)).all()
    teams = db.session.scalars(select(Team).where(Team.institution_id.in_(sorted(scope.institution_ids)))
                               .order_by(Team.institution_id, Team.id)).all()
    return {"today": today, "default_kind": "institution" if scope.home_institution_id is not None else "community",
            "institutions": _tree_order(institutions), "teams": teams}


def _tree_order(institutions) -> list:
    """Parents before their children, so a picker can indent by depth."""
    by_parent: dict[int | None, list] = {}
    ids = {i.id for i in institutions}
    for inst in institutions:
        by_parent.setdefault(inst.parent_id if inst.parent_id in ids else None, []).append(inst)
    out: list = []

    def walk(parent, depth):
        for inst in by_parent.get(parent, []):
            out.append({"id": inst.id, "name": inst.name, "type": inst.type, "parent_id": inst.parent_id,
                        "depth": depth})
            walk(inst.id, depth + 1)

    walk(None, 0)
    return out
