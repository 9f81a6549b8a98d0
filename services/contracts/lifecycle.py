"""The contract lifecycle (家庭医生签约): applying, accepting, paying, renewing,
terminating and expiring, and who may see or change a contract.

Lifecycle: a resident applies (pending) -> the team accepts (awaiting_payment,
or active when nothing is due) or rejects with a reason -> payment makes it
active; staff may sign on site in one step with payment. Active contracts
expire at their end date (daily job) or are terminated with a reason. A
renewal starts the day after the old end date; paid before then, it waits as
`scheduled` and the daily job activates it.
"""
from __future__ import annotations

import calendar
import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select

from services.access.scope import Scope, resident_visible
from services.contracts.quotes import PreparedQuote, prepare_quote
from services.core import clock
from services.core.db import db, flush_or_conflict, one_or_404
from services.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.core.pagination import Page, paginate
from services.core.views import ModelView
from services.models import (
    Contract,
    ContractEntitlement,
    ContractEvent,
    ContractPackage,
    Resident,
    Team,
)
from services.models.contract import LIVE_CONTRACT_STATUSES, OPEN_CONTRACT_STATUSES
from services.org import directory as org
from services.residents.register import get_visible_resident


@dataclass(frozen=True)
class ContractSettings:
    term_months: int = 12
    min_residence_months: int = 6
    capacity_per_doctor: int = 2000
    start_horizon_days: int = 366  # a quote or contract starts at most this far from today, either way


# --- dates --------------------------------------------------------------------

def add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def term_end(start: dt.date, months: int) -> dt.date:
    """A 12-month term from 2026-03-02 ends on 2027-03-01."""
    return add_months(start, months) - dt.timedelta(days=1)


def promised_times(times_per_year: int, term_months: int) -> int:
    """Yearly counts scale with the term, rounded up (a 6-month term of a 4x item promises 2)."""
    return math.ceil(times_per_year * term_months / 12)


# --- visibility ---------------------------------------------------------------

def contract_visible(scope: Scope):
    if scope.kind == "resident":
        return Contract.resident_id == scope.resident_id
    clauses = [Contract.resident_id.in_(select(Resident.id).where(resident_visible(scope)))]
    if scope.team_id is not None:
        clauses.append(Contract.team_id == scope.team_id)
    if scope.role == "admin" and scope.institution_ids:
        clauses.append(Contract.team_id.in_(
            select(Team.id).where(Team.institution_id.in_(sorted(scope.institution_ids)))))
    return or_(*clauses)


def get_visible_contract(contract_id: int, scope: Scope, *, for_update: bool = False) -> Contract:
    return one_or_404(select(Contract).where(Contract.id == contract_id, contract_visible(scope)),
                      NotFound("签约记录不存在", code="CONTRACT_NOT_FOUND"), for_update=for_update)


def check_staff_may_manage(contract: Contract, scope: Scope) -> None:
    """Only the contract's own team (or an admin over it) changes a contract."""
    if not scope.is_staff:
        raise Forbidden("仅签约团队或管理员可以执行此操作")
    if scope.role == "doctor" and contract.team_id != scope.team_id:
        raise Forbidden("仅签约团队可以执行此操作")
    if scope.role == "admin":
        team = db.session.get(Team, contract.team_id)
        if team is None or team.institution_id not in scope.institution_ids:
            raise Forbidden("该团队不在您的管辖范围内")


def contracts_query(scope: Scope, *, status: str | None = None, team_id: int | None = None,
                    resident_id: int | None = None, expiring_within_days: int | None = None) -> Select:
    stmt = select(Contract).where(contract_visible(scope)).order_by(Contract.id.desc())
    if status:
        stmt = stmt.where(Contract.status == status)
    if team_id is not None:
        stmt = stmt.where(Contract.team_id == team_id)
    if resident_id is not None:
        stmt = stmt.where(Contract.resident_id == resident_id)
    if expiring_within_days is not None:
        today = clock.today()
        stmt = stmt.where(Contract.status == "active", Contract.ends_on >= today,
                          Contract.ends_on <= today + dt.timedelta(days=expiring_within_days)
                          ).order_by(None).order_by(Contract.ends_on, Contract.id)
    return stmt


# --- shared checks ------------------------------------------------------------

def _lock_resident(resident_id: int) -> None:
    """Serialise signing for one resident (a row lock on PostgreSQL; SQLite
    serialises writers anyway)."""
    db.session.execute(select(Resident.id).where(Resident.id == resident_id).with_for_update())


def _check_no_conflicting_contract(resident_id: int, *, allow_active: bool = False) -> None:
    rows = db.session.execute(
        select(Contract.id, Contract.status).where(Contract.resident_id == resident_id,
                                                   Contract.status.in_(LIVE_CONTRACT_STATUSES))).all()
    for _id, status in rows:
        if status == "active" and not allow_active:
            raise Conflict("该居民已有生效中的签约", code="CONTRACT_ALREADY_ACTIVE")
        if status in OPEN_CONTRACT_STATUSES:
            raise Conflict("该居民已有待处理的签约申请或待生效的续约", code="CONTRACT_APPLICATION_OPEN")


def _check_residence(resident: Resident, start: dt.date, settings: ContractSettings) -> None:
    if not resident.floating:
        return
    needed_since = add_months(start, -settings.min_residence_months)
    if resident.residence_since is None or resident.residence_since > needed_since:
        raise ValidationFailed(
            f"流动人口须在本地居住满{settings.min_residence_months}个月方可签约", code="RESIDENCE_TOO_SHORT",
            errors={"resident_id": [f"居住起始日期须不晚于 {needed_since.isoformat()}"]})


def _team_for(scope: Scope, team_id: int | None) -> Team:
    if team_id is None:
        if scope.team_id is None:
            raise ValidationFailed.field("team_id", "请选择签约的家庭医生团队")
        team_id = scope.team_id
    team = db.session.get(Team, team_id)
    if team is None:
        raise ValidationFailed.field("team_id", "家庭医生团队不存在", code="TEAM_NOT_FOUND")
    if scope.role == "doctor" and team.id != scope.team_id:
        raise ValidationFailed.field("team_id", "医生只能为本团队签约")
    if scope.role == "admin" and team.institution_id not in scope.institution_ids:
        raise ValidationFailed.field("team_id", "该团队不在您的管辖范围内")
    return team


def _check_capacity(team_id: int, settings: ContractSettings) -> None:
    """409 TEAM_FULL when the team's active contracts reached its capacity.
    The team row is locked so two signings cannot both take the last place."""
    team = db.session.scalar(select(Team).where(Team.id == team_id).with_for_update())
    card = org.team_cards([team], settings.capacity_per_doctor)[0]
    if card.signed >= card.capacity:
        raise Conflict(f"「{team.name}」签约人数已满（上限 {card.capacity} 人）", code="TEAM_FULL",
                       extra={"capacity": card.capacity})


def _check_payment(payment: dict | None, due: int, *, required: bool) -> None:
    if payment is None:
        if required and due > 0:
            raise ValidationFailed(f"需缴纳个人自付费用 {due} 分，请提供缴费信息", code="PAYMENT_REQUIRED",
                                   errors={"payment": [f"个人自付 {due} 分，须提供缴费信息"]},
                                   extra={"self_pay_fen": due})
        return
    if payment["amount_fen"] != due:
        raise ValidationFailed(f"缴费金额须等于个人自付金额 {due} 分", code="PAYMENT_AMOUNT_MISMATCH",
                               errors={"payment.amount_fen": [f"应为 {due}"]}, extra={"self_pay_fen": due})


def _event(contract: Contract, from_status: str | None, scope: Scope | None, reason: str | None = None) -> None:
    db.session.add(ContractEvent(contract_id=contract.id, at=clock.now(), from_status=from_status,
                                 to_status=contract.status, actor_type=scope.kind if scope else "system",
                                 actor_id=scope.actor_id if scope else None, reason=reason))


def _set_payment(contract: Contract, payment: dict | None) -> None:
    if payment is None:
        return
    contract.payment_amount_fen = payment["amount_fen"]
    contract.payment_method = payment["method"]
    contract.receipt_no = payment.get("receipt_no")
    contract.paid_at = clock.now()


def _flush_or_conflict() -> None:
    """The partial unique indexes have the last word under concurrency."""
    flush_or_conflict(lambda exc: Conflict("该居民已有待处理的签约申请或待生效的续约", code="CONTRACT_APPLICATION_OPEN")
                      if "open" in str(exc.orig).lower() else
                      Conflict("该居民已有生效中的签约", code="CONTRACT_ALREADY_ACTIVE"))


def _snapshot(contract: Contract, prepared: PreparedQuote) -> None:
    contract.list_value_fen = prepared.quote.list_value_fen
    contract.self_pay_fen = prepared.quote.self_pay_fen
    contract.funding = dict(prepared.quote.funding)
    merged: dict[str, ContractEntitlement] = {}
    for version, defn, pq in zip(prepared.versions, prepared.definitions, prepared.quote.packages, strict=True):
        contract.packages.append(ContractPackage(
            package_version_id=version.id, code=version.code, version=version.version, name=defn.name,
            kind=defn.kind, list_value_fen=pq.list_value_fen, funding=dict(pq.funding),
            self_pay_fen=pq.self_pay_fen, waiver=pq.waiver, definition=version.definition))
        for item in defn.items:
            promised = promised_times(item.times_per_year, contract.term_months)
            if item.code in merged:
                ent = merged[item.code]
                ent.promised += promised
                ent.package_codes = [*ent.package_codes, defn.code]
            else:
                merged[item.code] = ContractEntitlement(item_code=item.code, name=item.name, promised=promised,
                                                        used=0, unit_value_fen=item.unit_value_fen,
                                                        package_codes=[defn.code])
    contract.entitlements.extend(merged.values())


def _activate(contract: Contract, today: dt.date, settings: ContractSettings) -> None:
    """Payment done (or nothing due): active from today, or scheduled until a later start."""
    if contract.starts_on is not None and contract.starts_on > today:
        contract.status = "scheduled"
        contract.ends_on = term_end(contract.starts_on, contract.term_months)
        return
    _check_capacity(contract.team_id, settings)
    contract.starts_on = today
    contract.ends_on = term_end(today, contract.term_months)
    contract.status = "active"


# --- lifecycle ----------------------------------------------------------------

def create_contract(data: dict, scope: Scope, settings: ContractSettings) -> ContractDetail:
    """A resident's application (pending), or staff signing on site (active, with payment)."""
    resident_id = data.get("resident_id") or scope.resident_id
    if resident_id is None:
        raise ValidationFailed.field("resident_id", "必填字段")
    resident = get_visible_resident(resident_id, scope)
    if scope.kind == "resident":
        team = db.session.get(Team, data.get("team_id")) if data.get("team_id") else None
        if team is None:
            raise ValidationFailed.field("team_id", "请选择签约的家庭医生团队", code="TEAM_NOT_FOUND")
        if data.get("payment") is not None:
            raise ValidationFailed.field("payment", "居民申请签约无需提交缴费信息，团队审核后缴费")
    else:
        team = _team_for(scope, data.get("team_id"))
    _lock_resident(resident.id)
    _check_no_conflicting_contract(resident.id)
    today = clock.today()
    _check_residence(resident, today, settings)
    prepared = prepare_quote(resident, data["package_codes"], today)
    contract = Contract(resident_id=resident.id, team_id=team.id, term_months=settings.term_months,
                        applied_by=scope.kind, created_by_staff_id=scope.actor_id if scope.is_staff else None,
                        proxy_resident_id=scope.proxy_id, created_at=clock.now())
    _snapshot(contract, prepared)
    if scope.kind == "resident":
        contract.status = "pending"
    else:
        _check_payment(data.get("payment"), contract.self_pay_fen, required=True)
        _set_payment(contract, data.get("payment"))
        _activate(contract, today, settings)
    db.session.add(contract)
    _flush_or_conflict()
    _event(contract, None, scope)
    return contract_detail(contract)


def _require_status(contract: Contract, allowed: tuple[str, ...], action: str) -> None:
    if contract.status not in allowed:
        raise Conflict(f"签约当前状态为「{contract.status}」，不能{action}", code="INVALID_CONTRACT_STATUS",
                       extra={"status": contract.status})


def _load_for_change(contract_id: int, scope: Scope, allowed: tuple[str, ...], action: str) -> Contract:
    """The contract, locked, if the caller's team manages it and its status allows `action`."""
    contract = get_visible_contract(contract_id, scope, for_update=True)
    check_staff_may_manage(contract, scope)
    _require_status(contract, allowed, action)
    return contract


def accept_contract(contract_id: int, scope: Scope, settings: ContractSettings) -> ContractDetail:
    contract = _load_for_change(contract_id, scope, ("pending",), "受理")
    before = contract.status
    _lock_resident(contract.resident_id)
    if contract.self_pay_fen > 0:
        contract.status = "awaiting_payment"
    else:
        _activate(contract, clock.today(), settings)
    _flush_or_conflict()
    _event(contract, before, scope)
    return contract_detail(contract)


def reject_contract(contract_id: int, reason: str, scope: Scope) -> ContractDetail:
    contract = _load_for_change(contract_id, scope, ("pending",), "拒绝")
    before, contract.status, contract.reject_reason = contract.status, "rejected", reason
    db.session.flush()
    _event(contract, before, scope, reason)
    return contract_detail(contract)


def pay_contract(contract_id: int, payment: dict, scope: Scope, settings: ContractSettings) -> ContractDetail:
    contract = _load_for_change(contract_id, scope, ("awaiting_payment",), "缴费")
    _check_payment(payment, contract.self_pay_fen, required=True)
    before = contract.status
    _lock_resident(contract.resident_id)
    _set_payment(contract, payment)
    _activate(contract, clock.today(), settings)
    _flush_or_conflict()
    _event(contract, before, scope)
    return contract_detail(contract)


def terminate_contract(contract_id: int, reason: str, scope: Scope) -> ContractDetail:
    contract = _load_for_change(contract_id, scope, ("active", "scheduled", "awaiting_payment"), "解约")
    before = contract.status
    contract.status, contract.terminate_reason = "terminated", reason
    contract.terminated_on = clock.today()
    db.session.flush()
    _event(contract, before, scope, reason)
    return contract_detail(contract)


def renew_contract(contract_id: int, data: dict, scope: Scope, settings: ContractSettings) -> ContractDetail:
    """The next contract starts the day after the old one ends (or today, if that has passed)."""
    old = get_visible_contract(contract_id, scope, for_update=True)
    switching = data.get("team_id") not in (None, old.team_id)
    if scope.is_staff and not switching:
        # Renewing with the same team is that team's (or its admin's) act; switching
        # is done by the new team, which must be the caller's own (checked in _team_for).
        check_staff_may_manage(old, scope)
    _require_status(old, ("active", "expired"), "续约")
    latest = db.session.scalar(select(func.max(Contract.id)).where(Contract.resident_id == old.resident_id,
                                                                    Contract.status.in_(("active", "expired"))))
    if latest != old.id:
        raise Conflict("只能基于该居民最近一次签约续约", code="INVALID_CONTRACT_STATUS")
    resident = db.session.get(Resident, old.resident_id)
    if scope.kind == "resident":
        team = db.session.get(Team, data.get("team_id") or old.team_id)
        if team is None:
            raise ValidationFailed.field("team_id", "家庭医生团队不存在", code="TEAM_NOT_FOUND")
    else:
        team = _team_for(scope, data.get("team_id") or old.team_id)
    _lock_resident(resident.id)
    _check_no_conflicting_contract(resident.id, allow_active=True)
    today = clock.today()
    start = max(old.ends_on + dt.timedelta(days=1), today)
    _check_residence(resident, start, settings)
    codes = data.get("package_codes") or [p.code for p in old.packages]
    prepared = prepare_quote(resident, codes, start)
    contract = Contract(resident_id=resident.id, team_id=team.id, term_months=settings.term_months,
                        applied_by=scope.kind, created_by_staff_id=scope.actor_id if scope.is_staff else None,
                        renewed_from_id=old.id, starts_on=start, proxy_resident_id=scope.proxy_id,
                        created_at=clock.now())
    _snapshot(contract, prepared)
    if scope.kind == "resident":
        contract.status = "pending"
    else:
        _check_payment(data.get("payment"), contract.self_pay_fen, required=True)
        _set_payment(contract, data.get("payment"))
        if start > today:
            contract.status = "scheduled"
            contract.ends_on = term_end(start, contract.term_months)
        else:
            _activate(contract, today, settings)
    db.session.add(contract)
    _flush_or_conflict()
    _event(contract, None, scope, f"续约自签约 {old.id}")
    return contract_detail(contract)


def expire_and_start_contracts(today: dt.date | None = None) -> dict[str, int]:
    """Daily, idempotent: end contracts past their end date, then start renewals due today."""
    today = today or clock.today()
    ended = db.session.scalars(select(Contract).where(Contract.status == "active", Contract.ends_on < today)).all()
    for contract in ended:
        contract.status = "expired"
        _event(contract, "active", None, "到期")
    db.session.flush()
    started = 0
    due = db.session.scalars(select(Contract).where(Contract.status == "scheduled", Contract.starts_on <= today)
                             .order_by(Contract.starts_on)).all()
    for contract in due:
        has_active = db.session.scalar(select(Contract.id).where(Contract.resident_id == contract.resident_id,
                                                                 Contract.status == "active"))
        if has_active is not None:
            continue
        contract.status = "active"
        _event(contract, "scheduled", None, "续约生效")
        started += 1
    db.session.flush()
    return {"expired": len(ended), "started": started}


def history(contract_id: int) -> list[ContractEvent]:
    return list(db.session.scalars(select(ContractEvent).where(ContractEvent.contract_id == contract_id)
                                   .order_by(ContractEvent.at, ContractEvent.id)))


@dataclass
class ContractDetail(ModelView):
    """A contract with its status history, oldest first."""

    model: Contract
    history: list[ContractEvent]


def contract_detail(contract: Contract) -> ContractDetail:
    return ContractDetail(contract, history(contract.id))


def get_contract_detail(contract_id: int, scope: Scope) -> ContractDetail:
    return contract_detail(get_visible_contract(contract_id, scope))


def contracts_page(scope: Scope, filters: dict, page: int, page_size: int) -> Page:
    return paginate(contracts_query(scope, **filters), page, page_size)
