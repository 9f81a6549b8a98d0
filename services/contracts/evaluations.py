"""Residents' satisfaction evaluations of their contract (满意度), once a month per contract."""
from __future__ import annotations

from sqlalchemy import Select, func, select

from services.access.scope import Scope
from services.contracts.lifecycle import (
    get_visible_contract,
)
from services.core import clock
from services.core.db import db, flush_or_conflict
from services.core.errors import Conflict, Forbidden
from services.core.pagination import paginate
from services.models import (
    Evaluation,
    Team,
)


def add_evaluation(contract_id: int, score: int, comment: str | None, scope: Scope) -> Evaluation:
    if scope.kind != "resident":
        raise Forbidden("满意度评价须由签约居民本人提交")
    contract = get_visible_contract(contract_id, scope)
    if contract.status not in ("active", "expired", "terminated"):
        raise Conflict("签约生效后才能评价", code="CONTRACT_NOT_ACTIVE")
    month = clock.today().strftime("%Y-%m")
    exists = db.session.scalar(select(Evaluation.id).where(Evaluation.contract_id == contract.id,
                                                           Evaluation.month == month))
    if exists is not None:
        raise Conflict("本月已评价过，每份签约每月可评价一次", code="EVALUATION_ALREADY_SUBMITTED")
    evaluation = Evaluation(contract_id=contract.id, resident_id=contract.resident_id, team_id=contract.team_id,
                            month=month, score=score, comment=comment, proxy_resident_id=scope.proxy_id,
                            created_at=clock.now())
    db.session.add(evaluation)
    flush_or_conflict(Conflict("本月已评价过，每份签约每月可评价一次", code="EVALUATION_ALREADY_SUBMITTED"))
    return evaluation


def evaluations_query(scope: Scope, team_id: int | None = None) -> Select:
    if not scope.is_staff:
        raise Forbidden()
    stmt = select(Evaluation).order_by(Evaluation.created_at.desc(), Evaluation.id.desc())
    if scope.role == "doctor":
        stmt = stmt.where(Evaluation.team_id == scope.team_id)
    else:
        stmt = stmt.where(Evaluation.team_id.in_(
            select(Team.id).where(Team.institution_id.in_(sorted(scope.institution_ids)))))
    if team_id is not None:
        stmt = stmt.where(Evaluation.team_id == team_id)
    return stmt


def evaluation_summary(stmt: Select) -> dict:
    sub = stmt.order_by(None).subquery()
    count, avg = db.session.execute(select(func.count(), func.avg(sub.c.score))).one()
    return {"count": count, "average_score": round(float(avg), 2) if avg is not None else None}


def evaluations_page(scope: Scope, team_id: int | None, page: int, page_size: int) -> dict:
    """One page of evaluations, with the count and average score of all of them."""
    stmt = evaluations_query(scope, team_id)
    return {**paginate(stmt, page, page_size).as_dict(), "summary": evaluation_summary(stmt)}
