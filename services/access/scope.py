"""Who may see which residents.

A team member sees residents registered at the team's institution or any
institution below it, plus residents holding a live contract with the team;
an institution admin sees their institution and those below; a
medical-community admin sees the whole community; a resident sees only
themself. Anything outside scope is reported as not found.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, false, or_, select

from services.core.db import db
from services.core.errors import NotFound, ValidationFailed
from services.models import Contract, Institution, Resident, Staff, Team
from services.models.contract import LIVE_CONTRACT_STATUSES


@dataclass(frozen=True)
class Scope:
    kind: str  # "staff" | "resident"
    role: str  # "doctor" | "admin" | "resident"
    actor_id: int
    community_id: int | None = None
    institution_ids: frozenset[int] = field(default_factory=frozenset)
    team_id: int | None = None
    resident_id: int | None = None
    # The staff member's own institution (the default for new residents).
    home_institution_id: int | None = None
    # Shown in the audit log next to the id.
    actor_name: str | None = None
    # A resident acting for a linked family member (services/residents/family.py): the acting
    # resident's id, also `actor_id`; `resident_id` is then the member's.
    proxy_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"


def subtree_of(edges: Iterable[tuple[int, int | None]], root_id: int) -> set[int]:
    """The institution `root_id` and every one below it (any depth), from (id, parent_id) pairs."""
    children: dict[int | None, list[int]] = {}
    for iid, parent in edges:
        children.setdefault(parent, []).append(iid)
    result, stack = set(), [root_id]
    while stack:
        current = stack.pop()
        if current in result:
            continue
        result.add(current)
        stack.extend(children.get(current, []))
    return result


def institution_subtree(root_id: int) -> set[int]:
    """The institution and every institution below it (any depth)."""
    return subtree_of(db.session.execute(select(Institution.id, Institution.parent_id)).all(), root_id)


def all_institutions() -> list[tuple[int, int | None, int]]:
    """Every institution as (id, parent_id, community_id): what a staff scope is built from."""
    return [tuple(r) for r in db.session.execute(
        select(Institution.id, Institution.parent_id, Institution.community_id)).all()]


def staff_scope(*, staff_id: int, username: str, role: str, community_id: int | None,
                institution_id: int | None, team_id: int | None, team_institution_id: int | None,
                institutions: Sequence[tuple[int, int | None, int]]) -> Scope:
    """A staff member's scope from their row's values and the institutions (plain values in)."""
    edges = [(iid, parent) for iid, parent, _community in institutions]
    if role == "doctor":
        home = team_institution_id if team_id is not None else institution_id
        ids = subtree_of(edges, home) if home else set()
        return Scope("staff", "doctor", staff_id, community_id, frozenset(ids), team_id=team_id,
                     home_institution_id=home, actor_name=username)
    if institution_id is not None:
        return Scope("staff", "admin", staff_id, community_id, frozenset(subtree_of(edges, institution_id)),
                     home_institution_id=institution_id, actor_name=username)
    ids = frozenset(iid for iid, _parent, community in institutions if community == community_id)
    return Scope("staff", "admin", staff_id, community_id, ids, actor_name=username)


def scope_for_staff(staff: Staff) -> Scope:
    return staff_scope(staff_id=staff.id, username=staff.username, role=staff.role,
                       community_id=staff.community_id, institution_id=staff.institution_id,
                       team_id=staff.team_id, team_institution_id=staff.team.institution_id if staff.team else None,
                       institutions=all_institutions())


def scope_for_resident(resident_id: int) -> Scope:
    return Scope("resident", "resident", resident_id, resident_id=resident_id, actor_name=f"resident:{resident_id}")


def resident_visible(scope: Scope) -> ColumnElement[bool]:
    """A WHERE clause selecting the residents this scope may see."""
    if scope.kind == "resident":
        return Resident.id == scope.resident_id
    clauses = []
    if scope.institution_ids:
        clauses.append(Resident.institution_id.in_(sorted(scope.institution_ids)))
    if scope.team_id is not None:
        clauses.append(
            Resident.id.in_(
                select(Contract.resident_id).where(
                    Contract.team_id == scope.team_id,
                    Contract.status.in_(LIVE_CONTRACT_STATUSES),
                )
            )
        )
    return or_(*clauses) if clauses else false()


def team_for_staff(scope: Scope, team_id: int | None, *, own_team_only: str, required: str) -> Team:
    """The team a staff member acts for: a doctor their own (naming another is refused
    with `own_team_only`), an admin one in their scope (which they must name)."""
    if scope.role == "doctor":
        if scope.team_id is None:
            raise ValidationFailed.field("team_id", "您尚未加入家庭医生团队")
        if team_id not in (None, scope.team_id):
            raise ValidationFailed.field("team_id", own_team_only)
        return db.session.get(Team, scope.team_id)
    if team_id is None:
        raise ValidationFailed.field("team_id", required)
    team = db.session.get(Team, team_id)
    if team is None or team.institution_id not in scope.institution_ids:
        raise ValidationFailed.field("team_id", "团队不存在或不在您的管辖范围内")
    return team


def visible_team(team_id: int, scope: Scope) -> Team:
    """A team a staff member may look into, or 404: a doctor their own, an admin any
    team of an institution in their scope."""
    team = db.session.get(Team, team_id)
    allowed = team is not None and ((scope.role == "doctor" and team.id == scope.team_id) or (
        scope.role == "admin" and team.institution_id in scope.institution_ids))
    if not allowed:
        raise NotFound("家庭医生团队不存在", code="TEAM_NOT_FOUND")
    return team


def institution_visible(scope: Scope, institution_id: int | None) -> bool:
    return institution_id is not None and institution_id in scope.institution_ids
