"""Services delivered under a contract (履约): each one uses up one promised time of an entitlement."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Select, select, update

from services.access.scope import Scope
from services.contracts.lifecycle import (
    check_staff_may_manage,
    get_visible_contract,
)
from services.core import clock
from services.core.db import db
from services.core.errors import Conflict, ValidationFailed
from services.core.pagination import Page, paginate
from services.models import (
    Contract,
    ContractEntitlement,
    RoundPoint,
    ServiceDelivery,
    Staff,
)


def effective_end(contract: Contract) -> dt.date | None:
    if contract.terminated_on is not None:
        return min(contract.terminated_on, contract.ends_on) if contract.ends_on else contract.terminated_on
    return contract.ends_on


def record_service(contract_id: int, data: dict, scope: Scope) -> ServiceDelivery:
    contract = get_visible_contract(contract_id, scope)
    check_staff_may_manage(contract, scope)
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


def deliveries_page(contract_id: int, scope: Scope, page: int, page_size: int) -> Page:
    return paginate(deliveries_query(contract_id, scope), page, page_size)
