"""Referrals (转诊) up or down the medical community: created -> received ->
completed, or cancelled before completion."""
from __future__ import annotations

from sqlalchemy import Select, or_, select

from services.access.scope import Scope, institution_subtree
from services.core import clock
from services.core.db import db, one_or_404
from services.core.errors import Conflict, NotFound, ValidationFailed
from services.core.pagination import Page, paginate
from services.models import FollowUp, Institution, Referral
from services.residents.register import get_visible_resident

TRANSITIONS = {"created": ("received", "cancelled"), "received": ("completed", "cancelled")}


def _ancestors(institution_id: int) -> list[int]:
    chain, current = [], db.session.get(Institution, institution_id)
    while current is not None and current.parent_id is not None:
        chain.append(current.parent_id)
        current = db.session.get(Institution, current.parent_id)
    return chain


def create_referral(data: dict, scope: Scope) -> Referral:
    resident = get_visible_resident(data["resident_id"], scope)
    from_id = scope.home_institution_id or resident.institution_id
    to = db.session.get(Institution, data["to_institution_id"])
    if to is None or to.community_id != scope.community_id:
        raise ValidationFailed.field("to_institution_id", "接收机构不存在")
    if to.id in _ancestors(from_id):
        direction = "up"
    elif to.id in institution_subtree(from_id) and to.id != from_id:
        direction = "down"
    else:
        raise ValidationFailed.field("to_institution_id", "转诊须转往上级或下级机构")
    followup_id = data.get("followup_id")
    enrolment_id = None
    if followup_id is not None:
        followup = db.session.get(FollowUp, followup_id)
        if followup is None or followup.resident_id != resident.id:
            raise ValidationFailed.field("followup_id", "随访记录不存在或不属于该居民")
        enrolment_id = followup.enrolment_id
    referral = Referral(resident_id=resident.id, followup_id=followup_id, enrolment_id=enrolment_id,
                        from_institution_id=from_id, to_institution_id=to.id, direction=direction,
                        urgent=bool(data.get("urgent")), reason=data["reason"], status="created",
                        created_by_id=scope.actor_id, created_at=clock.now(),
                        history=[{"at": clock.now().isoformat(), "status": "created", "by": scope.actor_id}])
    db.session.add(referral)
    db.session.flush()
    return referral


def _visible(scope: Scope):
    ids = sorted(scope.institution_ids)
    return or_(Referral.from_institution_id.in_(ids), Referral.to_institution_id.in_(ids),
               Referral.created_by_id == scope.actor_id)


def referrals_query(scope: Scope, status: str | None = None, resident_id: int | None = None) -> Select:
    stmt = select(Referral).where(_visible(scope)).order_by(Referral.id.desc())
    if status:
        stmt = stmt.where(Referral.status == status)
    if resident_id is not None:
        stmt = stmt.where(Referral.resident_id == resident_id)
    return stmt


def update_referral(referral_id: int, data: dict, scope: Scope) -> Referral:
    referral = one_or_404(select(Referral).where(Referral.id == referral_id, _visible(scope)),
                          NotFound("转诊记录不存在", code="REFERRAL_NOT_FOUND"), for_update=True)
    new = data["status"]
    if new not in TRANSITIONS.get(referral.status, ()):
        raise Conflict(f"转诊当前状态为「{referral.status}」，不能变更为「{new}」", code="INVALID_REFERRAL_STATUS",
                       extra={"status": referral.status})
    if new == "cancelled" and not data.get("note"):
        raise ValidationFailed.field("note", "取消转诊须填写原因")
    referral.status, referral.status_note = new, data.get("note")
    referral.history = [*referral.history, {"at": clock.now().isoformat(), "status": new, "by": scope.actor_id,
                                            "note": data.get("note")}]
    db.session.flush()
    return referral


def referrals_page(scope: Scope, status: str | None, resident_id: int | None, page: int, page_size: int) -> Page:
    return paginate(referrals_query(scope, status, resident_id), page, page_size)
