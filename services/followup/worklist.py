"""The team's follow-up worklist (随访工作清单): overdue first, then due within the window, then pending urgent referrals."""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from sqlalchemy import Date, Select, bindparam, case, false, select

from services.access.scope import Scope, visible_team
from services.core import audit
from services.core.crypto import PiiCipher
from services.core.errors import NotFound, ValidationFailed
from services.core.idcard import age_on
from services.core.masking import mask_name
from services.core.pagination import Page, paginate
from services.models import ProgramEnrolment, Resident


@dataclass
class WorklistFilters:
    team_id: int
    today: dt.date
    within_days: int = 7
    due_before: dt.date | None = None
    status: str | None = None          # due | overdue
    program: str | None = None
    village: str | None = None
    round_point_id: int | None = None

    @property
    def horizon(self) -> dt.date:
        """The last due date that counts as "due" (inclusive)."""
        return self.due_before or (self.today + dt.timedelta(days=self.within_days))


# What a row shows, read as plain columns (no ORM objects: the list is the hot path).
_COLUMNS = (ProgramEnrolment.id, ProgramEnrolment.program, ProgramEnrolment.next_due_date,
            ProgramEnrolment.last_visit_date, ProgramEnrolment.last_assessment, Resident.id.label("resident_id"),
            Resident.name, Resident.id_number_encrypted, Resident.sex, Resident.birth_date, Resident.village,
            Resident.round_point_id, Resident.phone)


def worklist_row(r, f: WorklistFilters, cipher: PiiCipher) -> dict:
    """One worklist row: the section it falls in, days overdue, the resident masked,
    the phone in full (the team calls from this list)."""
    due = r.next_due_date
    section = "overdue" if due < f.today else ("due" if due <= f.horizon else "urgent_referral")
    return {
        "enrolment_id": r.id, "program": r.program, "next_due_date": due,
        "days_overdue": max(0, (f.today - due).days), "section": section,
        "resident": {"id": r.resident_id, "name": mask_name(r.name),
                     "id_number": cipher.masked_id_number(r.id_number_encrypted), "sex": r.sex,
                     "age": age_on(r.birth_date, f.today), "village": r.village, "round_point_id": r.round_point_id},
        "phone": r.phone, "last_visit_date": r.last_visit_date, "last_assessment": r.last_assessment,
    }


def worklist_team(scope: Scope, team_id: int | None) -> int:
    if scope.role == "doctor":
        if team_id not in (None, scope.team_id):
            raise NotFound("家庭医生团队不存在", code="TEAM_NOT_FOUND")
        return scope.team_id
    if team_id is None:
        raise ValidationFailed.field("team_id", "管理员查看工作清单须指定团队")
    return visible_team(team_id, scope).id


@functools.lru_cache(maxsize=64)
def _worklist_shape(status: str | None, program: bool, village: bool, round_point: bool) -> Select:
    """The worklist's statement for one combination of filters, built once; the
    values (team, dates, filters) are bound parameters supplied per request."""
    today, horizon = bindparam("today", type_=Date), bindparam("horizon", type_=Date)
    due_window = ProgramEnrolment.next_due_date <= horizon
    if status == "overdue":
        due_window = ProgramEnrolment.next_due_date < today
    elif status == "due":
        due_window = (ProgramEnrolment.next_due_date >= today) & (ProgramEnrolment.next_due_date <= horizon)
    urgent_pending = (ProgramEnrolment.last_referral == "urgent") & (ProgramEnrolment.next_due_date > horizon)
    section = case((due_window, 0), else_=1)
    stmt = (select(*_COLUMNS).join(Resident, Resident.id == ProgramEnrolment.resident_id)
            .where(ProgramEnrolment.team_id == bindparam("team_id"), ProgramEnrolment.status == "active",
                   due_window | (urgent_pending if status is None else false()))
            .order_by(section, ProgramEnrolment.next_due_date, ProgramEnrolment.id))
    if program:
        stmt = stmt.where(ProgramEnrolment.program == bindparam("program"))
    if village:
        stmt = stmt.where(Resident.village == bindparam("village"))
    if round_point:
        stmt = stmt.where(Resident.round_point_id == bindparam("round_point_id"))
    return stmt


def _worklist_statement(f: WorklistFilters) -> tuple[Select, dict]:
    params = {"team_id": f.team_id, "today": f.today, "horizon": f.horizon}
    if f.program:
        params["program"] = f.program
    if f.village:
        params["village"] = f.village
    if f.round_point_id is not None:
        params["round_point_id"] = f.round_point_id
    shape = _worklist_shape(f.status, bool(f.program), bool(f.village), f.round_point_id is not None)
    return shape, params


def worklist_query(f: WorklistFilters) -> Select:
    """Due within the window or overdue (most overdue first), then patients with a
    pending urgent referral whose follow-up is later. Reads the team's active
    enrolments through the (team_id, status, next_due_date) index and filters
    them by date there (the OR with the urgent section keeps the date out of
    the index condition); residents are fetched by primary key, in the same
    statement, as the columns the list shows (no ORM objects). The statement
    with its values bound (for EXPLAIN and benchmarks; requests bind per call)."""
    shape, params = _worklist_statement(f)
    return shape.params(params)


def worklist_page(scope: Scope, f: WorklistFilters, page: int, page_size: int, cipher: PiiCipher,
                  ctx: audit.RequestContext | None = None) -> Page:
    """One page of the worklist as shown (masked rows); reading it is audited."""
    shape, params = _worklist_statement(f)
    result = paginate(shape, page, page_size, rows=True, params=params).with_items(
        lambda rows: [worklist_row(r, f, cipher) for r in rows])
    audit.record_read(scope, ctx, "worklist", listed=[row["resident"]["id"] for row in result.items])
    return result
