"""Family links (家庭成员): a resident links a registered member (a parent with
no smartphone, say) and, once the member consented, acts for them as for
themself. Consent is a one-time code sent to the member's own phone, or a team
member who sees the member confirming in person (recorded with who). Either side
may remove the link at any time; access ends at once. A proxy acts through
`acting_scope`: the member's own resident scope with the proxy as the actor, so
every service checks exactly what the member could do and every record and
audit entry names both people.
"""
from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass, replace

from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased

from services.access.scope import Scope, resident_visible, scope_for_resident
from services.core import audit, clock
from services.core.crypto import PiiCipher
from services.core.db import db
from services.core.errors import Conflict, NotFound, ValidationFailed
from services.core.idcard import IdNumberError, normalize_id_number
from services.core.masking import mask_name, mask_phone
from services.core.phones import to_e164
from services.models import Appointment, Contract, FamilyLink, Resident
from services.models.family import FAMILY_RELATIONS
from services.reminders.channels import SmsChannel


@dataclass(frozen=True)
class FamilySettings:
    max_active_links: int = 6          # per resident acting for others
    code_ttl_seconds: int = 600
    code_max_attempts: int = 5


@dataclass(frozen=True)
class LinkView:
    link: FamilyLink
    me: Resident          # the resident asking
    other: Resident       # the other side
    direction: str        # "member" (I act for them) | "proxy" (they act for me)


class LinkNotFound(NotFound):
    code = "FAMILY_LINK_NOT_FOUND"
    message = "家庭成员关联不存在"


def _code_hash(cipher: PiiCipher, link_id: int, code: str) -> str:
    return cipher.lookup_hash(f"family:{link_id}:{code}")


def _active_links(resident_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(FamilyLink).where(
        FamilyLink.resident_id == resident_id, FamilyLink.status == "active")) or 0


def _send_code(link: FamilyLink, member: Resident, proxy: Resident, cipher: PiiCipher, channel: SmsChannel,
               signature: str, settings: FamilySettings) -> None:
    code = f"{secrets.randbelow(1_000_000):06d}"
    now = clock.now()
    link.code_hash = _code_hash(cipher, link.id, code)
    link.code_expires_at = now + dt.timedelta(seconds=settings.code_ttl_seconds)
    link.code_attempts = 0
    link.code_sent_at = now
    minutes = max(1, settings.code_ttl_seconds // 60)
    channel.send_sms(to_e164(member.phone),
                     f"【{signature}】{mask_name(proxy.name)}申请作为您的家庭成员，代您预约、签约和查看随访。"
                     f"同意请将验证码 {code} 告知对方，{minutes} 分钟内有效；如不同意请忽略。")


def add_member(scope: Scope, data: dict, cipher: PiiCipher, channel: SmsChannel, signature: str,
               settings: FamilySettings) -> LinkView:
    """A pending link to the registered resident with that ID number and name; the code goes to the
    member's own phone (a member without a mobile number is confirmed by staff in person)."""
    proxy = db.session.get(Resident, scope.resident_id)
    try:
        number = normalize_id_number(data["id_number"])
    except IdNumberError as exc:
        raise ValidationFailed.field("id_number", str(exc), code="INVALID_ID_NUMBER") from exc
    member = db.session.scalar(select(Resident).where(Resident.id_number_hash == cipher.lookup_hash(number)))
    if member is None or member.name != data["name"].strip():
        raise ValidationFailed.field("id_number", "没有与该身份证号和姓名相符的建档居民，请核对，或先到卫生院建档",
                                     code="FAMILY_MEMBER_NOT_FOUND")
    if member.id == proxy.id:
        raise ValidationFailed.field("id_number", "不能将本人添加为家庭成员", code="FAMILY_MEMBER_IS_SELF")
    live = db.session.scalar(select(FamilyLink).where(
        FamilyLink.resident_id == proxy.id, FamilyLink.member_id == member.id,
        FamilyLink.status.in_(("pending", "active"))))
    if live is not None:
        raise Conflict("已添加过该家庭成员" + ("" if live.status == "active" else "，正在等待确认"),
                       code="FAMILY_LINK_EXISTS", extra={"link_id": live.id, "status": live.status})
    if _active_links(proxy.id) >= settings.max_active_links:
        raise Conflict(f"最多可关联 {settings.max_active_links} 位家庭成员", code="FAMILY_LINK_LIMIT",
                       extra={"max_active_links": settings.max_active_links})
    link = FamilyLink(resident_id=proxy.id, member_id=member.id, relation=data["relation"], status="pending",
                      reminders_to_proxy=bool(data.get("reminders_to_proxy", False)), created_at=clock.now())
    db.session.add(link)
    db.session.flush()
    if member.phone:
        _send_code(link, member, proxy, cipher, channel, signature, settings)
    audit.record(scope, "family_link", resident=member, detail={"link_id": link.id, "relation": link.relation, "proxy_id": proxy.id})
    return LinkView(link, proxy, member, "member")


def resend_code(scope: Scope, link_id: int, cipher: PiiCipher, channel: SmsChannel, signature: str,
                settings: FamilySettings) -> LinkView:
    link = _own_link(scope, link_id, as_proxy=True)
    if link.status != "pending":
        raise Conflict("该关联已确认，无需验证码", code="FAMILY_LINK_NOT_PENDING", extra={"status": link.status})
    member, proxy = db.session.get(Resident, link.member_id), db.session.get(Resident, link.resident_id)
    if not member.phone:
        raise Conflict("该家庭成员未登记手机号，请到卫生院由家庭医生团队当面确认", code="FAMILY_MEMBER_NO_PHONE")
    _send_code(link, member, proxy, cipher, channel, signature, settings)
    return LinkView(link, proxy, member, "member")


def confirm_by_code(scope: Scope, link_id: int, code: str, cipher: PiiCipher,
                    settings: FamilySettings) -> tuple[LinkView | None, Exception | None]:
    """(the link now active, None), or (None, the error) with a wrong code counted: the caller commits
    either way, so five wrong codes kill it as they would a login code."""
    link = _own_link(scope, link_id, as_proxy=True)
    if link.status != "pending":
        raise Conflict("该关联已确认或已解除", code="FAMILY_LINK_NOT_PENDING", extra={"status": link.status})
    now = clock.now()
    if (link.code_hash is None or link.code_expires_at is None or link.code_expires_at <= now
            or link.code_attempts >= settings.code_max_attempts):
        return None, ValidationFailed.field("code", "验证码已过期或错误次数过多，请重新获取", code="FAMILY_CODE_EXPIRED")
    if not hmac.compare_digest(link.code_hash, _code_hash(cipher, link.id, code.strip())):
        link.code_attempts += 1
        return None, ValidationFailed("验证码错误", code="FAMILY_CODE_INVALID", errors={"code": ["验证码错误"]},
                                      extra={"attempts_left": settings.code_max_attempts - link.code_attempts})
    _activate(link, settings, via="sms")
    audit.record(scope, "family_confirm", resident=db.session.get(Resident, link.member_id),
                 detail={"link_id": link.id, "via": "sms", "proxy_id": link.resident_id})
    return LinkView(link, db.session.get(Resident, link.resident_id), db.session.get(Resident, link.member_id),
                    "member"), None


def confirm_by_staff(scope: Scope, member_id: int, link_id: int) -> LinkView:
    """A team member who sees the member confirms in person that they agree."""
    member = db.session.scalar(select(Resident).where(Resident.id == member_id, resident_visible(scope)))
    link = db.session.get(FamilyLink, link_id)
    if member is None or link is None or link.member_id != member.id or link.status == "removed":
        raise LinkNotFound()
    if link.status != "pending":
        raise Conflict("该关联已确认", code="FAMILY_LINK_NOT_PENDING", extra={"status": link.status})
    _activate(link, None, via="staff", staff_id=scope.actor_id)
    audit.record(scope, "family_confirm", resident=member,
                 detail={"link_id": link.id, "via": "staff", "proxy_id": link.resident_id})
    return LinkView(link, member, db.session.get(Resident, link.resident_id), "proxy")


def _activate(link: FamilyLink, settings: FamilySettings | None, *, via: str, staff_id: int | None = None) -> None:
    if settings is not None and _active_links(link.resident_id) >= settings.max_active_links:
        raise Conflict(f"最多可关联 {settings.max_active_links} 位家庭成员", code="FAMILY_LINK_LIMIT",
                       extra={"max_active_links": settings.max_active_links})
    link.status, link.confirmed_at, link.confirmed_via = "active", clock.now(), via
    link.confirmed_by_staff_id = staff_id
    link.code_hash = link.code_expires_at = None


def _own_link(scope: Scope, link_id: int, *, as_proxy: bool = False) -> FamilyLink:
    """A link the signed-in resident is a side of (as the proxy only, when asked)."""
    link = db.session.get(FamilyLink, link_id)
    if link is None or link.status == "removed" or scope.kind != "resident" or not (
            link.resident_id == scope.resident_id or (not as_proxy and link.member_id == scope.resident_id)):
        raise LinkNotFound()
    return link


def list_links(scope: Scope) -> list[LinkView]:
    """Both directions: the members I act for, and the residents who act for me."""
    me = db.session.get(Resident, scope.resident_id)
    links = db.session.scalars(select(FamilyLink).where(
        FamilyLink.status.in_(("pending", "active")),
        or_(FamilyLink.resident_id == me.id, FamilyLink.member_id == me.id)).order_by(FamilyLink.id)).all()
    out = []
    for link in links:
        mine = link.resident_id == me.id
        other = db.session.get(Resident, link.member_id if mine else link.resident_id)
        out.append(LinkView(link, me, other, "member" if mine else "proxy"))
    return out


def remove_link(scope: Scope, link_id: int) -> None:
    """Either side unlinks; from this moment the proxy can do nothing more for the member."""
    link = _own_link(scope, link_id)
    link.status, link.removed_at, link.removed_by = "removed", clock.now(), f"resident:{scope.resident_id}"
    link.code_hash = link.code_expires_at = None
    audit.record(scope, "family_unlink", resident=db.session.get(Resident, link.member_id),
                 detail={"link_id": link.id, "proxy_id": link.resident_id})


# --- acting for a member ---------------------------------------------------------------

def member_scope(proxy: Scope, member_id: int) -> Scope:
    base = scope_for_resident(member_id)
    return replace(base, actor_id=proxy.resident_id, proxy_id=proxy.resident_id,
                   actor_name=f"resident:{proxy.resident_id} for resident:{member_id}")


def is_linked(proxy_id: int, member_id: int) -> bool:
    return db.session.scalar(select(FamilyLink.id).where(
        FamilyLink.resident_id == proxy_id, FamilyLink.member_id == member_id,
        FamilyLink.status == "active")) is not None


def acting_scope(scope: Scope, resident_id: int | None) -> Scope:
    """The scope a request runs in: a resident naming an actively linked member acts as that member
    (the proxy recorded as the actor); naming anyone else is 404, as every record out of scope is.
    Staff, and residents naming nobody or themself, keep their own scope."""
    if scope.kind != "resident" or resident_id is None or resident_id == scope.resident_id:
        return scope
    if not is_linked(scope.resident_id, resident_id):
        raise NotFound("居民不存在", code="RESIDENT_NOT_FOUND")
    return member_scope(scope, resident_id)


def acting_scope_for(scope: Scope, resident_id: int | None) -> Scope:
    """For a record named by its own id (an appointment, a contract): the member's scope when the record
    is an actively linked member's, else the caller's own (which then finds nothing: 404)."""
    if scope.kind != "resident" or resident_id is None or resident_id == scope.resident_id:
        return scope
    return member_scope(scope, resident_id) if is_linked(scope.resident_id, resident_id) else scope


def acting_scope_for_record(scope: Scope, kind: str, record_id: int) -> Scope:
    if scope.kind != "resident":
        return scope
    model = {"appointment": Appointment, "contract": Contract}[kind]
    return acting_scope_for(scope, db.session.scalar(select(model.resident_id).where(model.id == record_id)))


def proxy_phones(member_ids: set[int]) -> dict[int, tuple[int, str]]:
    """member id → (proxy id, proxy's phone) for the given residents without a mobile number whose
    family member asked to receive their reminders (the earliest such active link) and takes SMS."""
    if not member_ids:
        return {}
    proxy = aliased(Resident)
    rows = db.session.execute(
        select(FamilyLink.member_id, proxy.id, proxy.phone)
        .join(proxy, proxy.id == FamilyLink.resident_id)
        .join(Resident, Resident.id == FamilyLink.member_id)
        .where(FamilyLink.member_id.in_(sorted(member_ids)), FamilyLink.status == "active",
               FamilyLink.reminders_to_proxy.is_(True), Resident.phone.is_(None),
               proxy.phone.is_not(None), proxy.sms_opt_out.is_(False))
        .order_by(FamilyLink.id)).all()
    out: dict[int, tuple[int, str]] = {}
    for member_id, proxy_id, phone in rows:
        out.setdefault(member_id, (proxy_id, phone))
    return out


def link_view_dict(view: LinkView) -> dict:
    link, other = view.link, view.other
    return {"id": link.id, "relation": link.relation, "relation_label": FAMILY_RELATIONS[link.relation],
            "status": link.status, "direction": view.direction,
            "resident": {"id": other.id, "name": mask_name(other.name) if view.direction == "proxy" else other.name,
                         "phone": mask_phone(other.phone) if other.phone else None},
            "reminders_to_proxy": link.reminders_to_proxy,
            "confirm_by": None if link.status != "pending" else ("sms" if other.phone or view.direction == "proxy"
                                                                  else "staff"),
            "code_sent_at": link.code_sent_at, "confirmed_at": link.confirmed_at, "confirmed_via": link.confirmed_via,
            "created_at": link.created_at}
