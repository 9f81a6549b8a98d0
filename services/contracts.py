"""Signing (家庭医生签约): quotes, the contract lifecycle, entitlements (履约),
delivered services and satisfaction evaluations.

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

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from services import clock, org, packages
from services.catalog_types import PackageDefinition
from services.db import db
from services.eligibility import ResidentFacts, check_eligibility
from services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.models import (
    Contract,
    ContractEntitlement,
    ContractEvent,
    ContractPackage,
    Evaluation,
    PackageVersion,
    ProgramEnrolment,
    Resident,
    RoundPoint,
    ServiceDelivery,
    Staff,
    Team,
)
from services.models.contract import LIVE_CONTRACT_STATUSES, OPEN_CONTRACT_STATUSES
from services.pricing import Quote, build_quote, check_package_selection
from services.residents import all_tags, get_visible_resident
from services.scope import Scope, resident_visible


@dataclass(frozen=True)
class ContractSettings:
    term_months: int = 12
    min_residence_months: int = 6
    capacity_per_doctor: int = 2000


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


# --- quotes -------------------------------------------------------------------

def resident_facts(resident: Resident, on: dt.date) -> ResidentFacts:
    """Tags as of `on`; programmes are the chronic-disease enrolments active then."""
    tags = frozenset(all_tags(resident, on))
    programs = db.session.scalars(select(ProgramEnrolment.program).where(
        ProgramEnrolment.resident_id == resident.id, ProgramEnrolment.status == "active",
        ProgramEnrolment.enrolled_on <= on)).all()
    return ResidentFacts(birth_date=resident.birth_date, sex=resident.sex, tags=tags, programs=frozenset(programs))


def eligibility_marks(resident: Resident, versions: list[PackageVersion], on: dt.date):
    """Each package version with whether this resident may take it on `on`, and why not."""
    facts = resident_facts(resident, on)
    return [(v, check_eligibility(packages.definition_of(v), facts, on)) for v in versions]


@dataclass
class PreparedQuote:
    quote: Quote
    versions: list[PackageVersion]
    definitions: list[PackageDefinition]


def prepare_quote(resident: Resident, codes: list[str], on: dt.date) -> PreparedQuote:
    if len(set(codes)) != len(codes):
        raise ValidationFailed.field("package_codes", "服务包不能重复选择", code="DUPLICATE_PACKAGE")
    versions = packages.current_by_codes(codes, on)
    definitions = [packages.definition_of(v) for v in versions]
    check_package_selection(definitions)
    facts = resident_facts(resident, on)
    for defn in definitions:
        result = check_eligibility(defn, facts, on)
        if not result.eligible:
            message = f"「{defn.name}」不符合签约条件：{result.reason}"
            raise ValidationFailed(message, code="PACKAGE_NOT_ELIGIBLE", errors={"package_codes": [message]},
                                   extra={"package_code": defn.code, "rule": result.rule})
    return PreparedQuote(build_quote(definitions, facts.tags), versions, definitions)


def quote_for(resident_id: int, codes: list[str], scope: Scope, on: dt.date | None = None) -> Quote:
    resident = get_visible_resident(resident_id, scope)
    return prepare_quote(resident, codes, on or clock.today()).quote


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
    stmt = select(Contract).where(Contract.id == contract_id, contract_visible(scope))
    if for_update:
        stmt = stmt.with_for_update()
    contract = db.session.scalar(stmt)
    if contract is None:
        raise NotFound("签约记录不存在", code="CONTRACT_NOT_FOUND")
    return contract


def _staff_may_manage(contract: Contract, scope: Scope) -> None:
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
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        if "open" in str(exc.orig).lower():
            raise Conflict("该居民已有待处理的签约申请或待生效的续约", code="CONTRACT_APPLICATION_OPEN") from exc
        raise Conflict("该居民已有生效中的签约", code="CONTRACT_ALREADY_ACTIVE") from exc


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

def create_contract(data: dict, scope: Scope, settings: ContractSettings) -> Contract:
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
                        created_at=clock.now())
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
    return contract


def _require_status(contract: Contract, allowed: tuple[str, ...], action: str) -> None:
    if contract.status not in allowed:
        raise Conflict(f"签约当前状态为「{contract.status}」，不能{action}", code="INVALID_CONTRACT_STATUS",
                       extra={"status": contract.status})


def _load_for_change(contract_id: int, scope: Scope, allowed: tuple[str, ...], action: str) -> Contract:
    """The contract, locked, if the caller's team manages it and its status allows `action`."""
    contract = get_visible_contract(contract_id, scope, for_update=True)
    _staff_may_manage(contract, scope)
    _require_status(contract, allowed, action)
    return contract


def accept_contract(contract_id: int, scope: Scope, settings: ContractSettings) -> Contract:
    contract = _load_for_change(contract_id, scope, ("pending",), "受理")
    before = contract.status
    _lock_resident(contract.resident_id)
    if contract.self_pay_fen > 0:
        contract.status = "awaiting_payment"
    else:
        _activate(contract, clock.today(), settings)
    _flush_or_conflict()
    _event(contract, before, scope)
    return contract


def reject_contract(contract_id: int, reason: str, scope: Scope) -> Contract:
    contract = _load_for_change(contract_id, scope, ("pending",), "拒绝")
    before, contract.status, contract.reject_reason = contract.status, "rejected", reason
    db.session.flush()
    _event(contract, before, scope, reason)
    return contract


def pay_contract(contract_id: int, payment: dict, scope: Scope, settings: ContractSettings) -> Contract:
    contract = _load_for_change(contract_id, scope, ("awaiting_payment",), "缴费")
    _check_payment(payment, contract.self_pay_fen, required=True)
    before = contract.status
    _lock_resident(contract.resident_id)
    _set_payment(contract, payment)
    _activate(contract, clock.today(), settings)
    _flush_or_conflict()
    _event(contract, before, scope)
    return contract


def terminate_contract(contract_id: int, reason: str, scope: Scope) -> Contract:
    contract = _load_for_change(contract_id, scope, ("active", "scheduled", "awaiting_payment"), "解约")
    before = contract.status
    contract.status, contract.terminate_reason = "terminated", reason
    contract.terminated_on = clock.today()
    db.session.flush()
    _event(contract, before, scope, reason)
    return contract


def renew_contract(contract_id: int, data: dict, scope: Scope, settings: ContractSettings) -> Contract:
    """The next contract starts the day after the old one ends (or today, if that has passed)."""
    old = get_visible_contract(contract_id, scope, for_update=True)
    switching = data.get("team_id") not in (None, old.team_id)
    if scope.is_staff and not switching:
        # Renewing with the same team is that team's (or its admin's) act; switching
        # is done by the new team, which must be the caller's own (checked in _team_for).
        _staff_may_manage(old, scope)
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
                        renewed_from_id=old.id, starts_on=start, created_at=clock.now())
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
    return contract


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


# --- entitlements and services -------------------------------------------------

def effective_end(contract: Contract) -> dt.date | None:
    if contract.terminated_on is not None:
        return min(contract.terminated_on, contract.ends_on) if contract.ends_on else contract.terminated_on
    return contract.ends_on


def record_service(contract_id: int, data: dict, scope: Scope) -> ServiceDelivery:
    contract = get_visible_contract(contract_id, scope)
    _staff_may_manage(contract, scope)
    delivered_on = data["delivered_on"]
    if delivered_on > clock.today():
        raise ValidationFailed.field("delivered_on", "服务日期不能晚于今天")
    end = effective_end(contract)
    if (contract.status not in ("active", "expired", "terminated") or contract.starts_on is None
            or delivered_on < contract.starts_on or (end is not None and delivered_on > end)):
        raise Conflict("服务日期不在签约有效期内，或签约尚未生效", code="CONTRACT_NOT_ACTIVE",
                       extra={"starts_on": contract.starts_on.isoformat() if contract.starts_on else None,
                              "ends_on": end.isoformat() if end else None})
    entitlement = next((e for e in contract.entitlements if e.item_code == data["item_code"]), None)
    if entitlement is None:
        raise ValidationFailed.field("item_code", "签约服务包中没有该服务项目", code="UNKNOWN_ITEM")
    staff_id = data.get("staff_id") or scope.actor_id
    staff = db.session.get(Staff, staff_id)
    if staff is None or not staff.active or (staff.role == "doctor" and staff.team_id != contract.team_id) \
            or (staff.role == "admin" and staff_id != scope.actor_id):
        raise ValidationFailed.field("staff_id", "服务人员须为签约团队的在岗成员")
    round_point_id = data.get("round_point_id")
    if data["place"] == "round_point":
        point = db.session.get(RoundPoint, round_point_id) if round_point_id else None
        if point is None:
            raise ValidationFailed.field("round_point_id", "巡诊点不存在")
    elif round_point_id is not None:
        raise ValidationFailed.field("round_point_id", "仅在巡诊点提供的服务需要填写巡诊点")
    taken = db.session.execute(
        update(ContractEntitlement)
        .where(ContractEntitlement.id == entitlement.id, ContractEntitlement.used < ContractEntitlement.promised)
        .values(used=ContractEntitlement.used + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken == 0:
        raise Conflict(f"「{entitlement.name}」已用完（共 {entitlement.promised} 次）", code="ENTITLEMENT_EXHAUSTED")
    db.session.refresh(entitlement)
    delivery = ServiceDelivery(contract_id=contract.id, entitlement_id=entitlement.id,
                               item_code=entitlement.item_code, delivered_on=delivered_on, staff_id=staff_id,
                               place=data["place"], round_point_id=round_point_id, note=data.get("note"),
                               recorded_by_id=scope.actor_id, created_at=clock.now())
    db.session.add(delivery)
    db.session.flush()
    return delivery


def deliveries_query(contract_id: int, scope: Scope) -> Select:
    get_visible_contract(contract_id, scope)
    return select(ServiceDelivery).where(ServiceDelivery.contract_id == contract_id).order_by(
        ServiceDelivery.delivered_on.desc(), ServiceDelivery.id.desc())


def fulfilment_rate(contract: Contract) -> float:
    promised = sum(e.promised for e in contract.entitlements)
    used = sum(e.used for e in contract.entitlements)
    return round(used / promised, 4) if promised else 0.0


def history(contract_id: int) -> list[ContractEvent]:
    return list(db.session.scalars(select(ContractEvent).where(ContractEvent.contract_id == contract_id)
                                   .order_by(ContractEvent.at, ContractEvent.id)))


# --- evaluations ----------------------------------------------------------------

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
                            month=month, score=score, comment=comment, created_at=clock.now())
    db.session.add(evaluation)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict("本月已评价过，每份签约每月可评价一次", code="EVALUATION_ALREADY_SUBMITTED") from exc
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
