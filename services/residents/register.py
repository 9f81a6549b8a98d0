"""Residents: registration, search, changes and the audited reveal of an ID number.

ID numbers are validated (GB 11643), stored encrypted plus a keyed hash for
exact lookup and uniqueness, and only ever leave masked, except through
`reveal_resident`, which writes an audit row.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import joinedload, lazyload

from services.access.scope import Scope, institution_visible, resident_visible
from services.core import audit, clock
from services.core.crypto import PiiCipher
from services.core.db import db, flush_or_conflict, one_or_404
from services.core.errors import Conflict, NotFound, ValidationFailed
from services.core.idcard import IdNumberError, age_on, normalize_id_number, validate_id_number
from services.core.masking import mask_phone
from services.core.pagination import Page, paginate
from services.core.phones import PhoneError, normalize_mobile
from services.models import Institution, Resident, ResidentTag, RoundPoint
from services.models.resident import CONSENT_SCOPES, DERIVED_TAGS, RECORDED_TAGS, TAG_LABELS

ELDERLY_AGE = 65
CHILD_MAX_AGE = 6


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a non-leap year
        return day.replace(year=day.year - years, day=28)


def derived_tags(birth_date: dt.date, on: dt.date) -> list[str]:
    """Age-based key-population tags, judged on the day asked."""
    age = age_on(birth_date, on) if birth_date <= on else 0
    tags = []
    if age >= ELDERLY_AGE:
        tags.append("elderly")
    if age <= CHILD_MAX_AGE:
        tags.append("child")
    return tags


def all_tags(resident: Resident, on: dt.date) -> list[str]:
    tags = set(derived_tags(resident.birth_date, on)) | set(resident.recorded_tags)
    return [t for t in TAG_LABELS if t in tags]


@dataclass
class ResidentView:
    """What a caller may see of a resident: identifiers masked, age as of today."""

    resident: Resident
    id_number: str
    phone: str | None
    age: int
    tags: list[str]
    tag_details: list[dict] = field(default_factory=list)


def view(resident: Resident, cipher: PiiCipher, today: dt.date | None = None) -> ResidentView:
    today = today or clock.today()
    tags = all_tags(resident, today)
    return ResidentView(
        resident=resident,
        id_number=cipher.masked_id_number(resident.id_number_encrypted),
        phone=mask_phone(resident.phone),
        age=age_on(resident.birth_date, today) if resident.birth_date <= today else 0,
        tags=tags,
        tag_details=[{"code": t, "label": TAG_LABELS[t]} for t in tags],
    )


def get_visible_resident(resident_id: int, scope: Scope) -> Resident:
    """The resident, or 404 when absent or outside the caller's scope (never which)."""
    # Tags are read only if the caller shows them (most writes never do).
    return one_or_404(select(Resident).where(Resident.id == resident_id, resident_visible(scope))
                      .options(lazyload(Resident.tag_rows)),
                      NotFound("居民不存在", code="RESIDENT_NOT_FOUND"))


def _parse_id(raw: str) -> tuple[str, dt.date, str]:
    try:
        parsed = validate_id_number(raw, today=clock.today())
    except IdNumberError as exc:
        raise ValidationFailed.field("id_number", exc.message, code="INVALID_ID_NUMBER") from exc
    return parsed.number, parsed.birth_date, parsed.sex


def _parse_phone(raw: str | None) -> str | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        return normalize_mobile(raw)
    except PhoneError as exc:
        raise ValidationFailed.field("phone", str(exc), code="INVALID_PHONE") from exc


def _check_institution(institution_id: int | None, scope: Scope) -> int:
    if institution_id is None:
        raise ValidationFailed.field("institution_id", "请指定居民所属机构")
    if not institution_visible(scope, institution_id) or db.session.get(Institution, institution_id) is None:
        raise ValidationFailed.field("institution_id", "机构不存在或不在您的管辖范围内")
    return institution_id


def _clean_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name:
        raise ValidationFailed.field("name", "姓名不能为空")
    return name


def _check_residence(floating: bool, since: dt.date | None, birth_date: dt.date) -> None:
    if since is not None and since > clock.today():
        raise ValidationFailed.field("residence_since", "居住起始日期不能晚于今天")
    if since is not None and since < birth_date:
        raise ValidationFailed.field("residence_since", "居住起始日期不能早于出生日期")
    if floating and since is None:
        raise ValidationFailed.field("residence_since", "流动人口须填写在本地居住的起始日期")


def _set_tags(resident: Resident, tags: list[str]) -> None:
    wanted = [t for t in dict.fromkeys(tags) if t in RECORDED_TAGS]
    current = {row.tag: row for row in resident.tag_rows}
    for tag, row in current.items():
        if tag not in wanted:
            resident.tag_rows.remove(row)
    for tag in wanted:
        if tag not in current:
            resident.tag_rows.append(ResidentTag(tag=tag))


def _apply_consent(resident: Resident, consent: dict | None, scope: Scope) -> None:
    if not consent:
        return
    scopes = list(dict.fromkeys(consent.get("scope") or []))
    unknown = [s for s in scopes if s not in CONSENT_SCOPES]
    if unknown or not scopes:
        raise ValidationFailed.field("consent.scope", "同意范围须为：" + "、".join(CONSENT_SCOPES))
    given_at = consent.get("given_at") or clock.now()
    if given_at > clock.now() + dt.timedelta(minutes=5):
        raise ValidationFailed.field("consent.given_at", "同意时间不能晚于当前时间")
    resident.consent_given_at = given_at
    resident.consent_scope = scopes
    resident.consent_witness_id = scope.actor_id if scope.is_staff else None


def _ensure_unique(id_hash: str, except_id: int | None = None) -> None:
    stmt = select(Resident.id).where(Resident.id_number_hash == id_hash)
    if except_id is not None:
        stmt = stmt.where(Resident.id != except_id)
    if db.session.scalar(stmt) is not None:
        raise Conflict("该身份证号码的居民已建档", code="RESIDENT_EXISTS")


def flush_unique() -> None:
    """A concurrent registration of the same ID loses at the unique index: 409, not 500."""
    flush_or_conflict(Conflict("该身份证号码的居民已建档", code="RESIDENT_EXISTS"))


def _check_round_point(point_id: int | None, scope: Scope) -> int | None:
    """The round point (巡诊点) nearest the resident's home, for rounds and the worklist filter."""
    if point_id is None:
        return None
    point = db.session.get(RoundPoint, point_id)
    if point is None or not point.active or (scope.is_staff and point.institution_id not in scope.institution_ids):
        raise ValidationFailed.field("round_point_id", "巡诊点不存在、已停用或不在您的管辖范围内")
    return point.id


def build_resident(data: dict, scope: Scope, cipher: PiiCipher) -> Resident:
    """A new resident from the body of POST /residents, every field checked; not yet added or
    checked against the register (the unique index has the last word)."""
    number, birth_date, sex = _parse_id(data["id_number"])
    phone = _parse_phone(data.get("phone"))
    institution_id = _check_institution(data.get("institution_id") or scope.home_institution_id, scope)
    floating = bool(data.get("floating", False))
    _check_residence(floating, data.get("residence_since"), birth_date)
    resident = Resident(
        institution_id=institution_id,
        name=_clean_name(data["name"]),
        id_number_encrypted=cipher.encrypt(number),
        id_number_hash=cipher.lookup_hash(number),
        birth_date=birth_date,
        sex=sex,
        phone=phone,
        address=data.get("address"),
        village=data.get("village"),
        floating=floating,
        residence_since=data.get("residence_since"),
        round_point_id=_check_round_point(data.get("round_point_id"), scope),
        created_by_id=scope.actor_id if scope.is_staff else None,
    )
    _set_tags(resident, data.get("tags") or [])
    _apply_consent(resident, data.get("consent"), scope)
    return resident


def create_resident(data: dict, scope: Scope, cipher: PiiCipher,
                    ctx: audit.RequestContext | None = None) -> Resident:
    resident = build_resident(data, scope, cipher)
    _ensure_unique(resident.id_number_hash)
    db.session.add(resident)
    flush_unique()
    audit.record(scope, "create", resident=resident, ctx=ctx)
    return view(resident, cipher)


def update_resident(resident_id: int, data: dict, scope: Scope, cipher: PiiCipher,
                    ctx: audit.RequestContext | None = None) -> Resident:
    resident = get_visible_resident(resident_id, scope)
    changed: list[str] = []
    if "id_number" in data:
        number, birth_date, sex = _parse_id(data["id_number"])
        id_hash = cipher.lookup_hash(number)
        if id_hash != resident.id_number_hash:
            _ensure_unique(id_hash, except_id=resident.id)
            resident.id_number_encrypted = cipher.encrypt(number)
            resident.id_number_hash = id_hash
            resident.birth_date, resident.sex = birth_date, sex
            changed.append("id_number")
    if "phone" in data:
        phone = _parse_phone(data["phone"])
        if phone != resident.phone:
            resident.phone = phone
            changed.append("phone")
    if "institution_id" in data and data["institution_id"] != resident.institution_id:
        resident.institution_id = _check_institution(data["institution_id"], scope)
        changed.append("institution_id")
    if "round_point_id" in data and data["round_point_id"] != resident.round_point_id:
        resident.round_point_id = _check_round_point(data["round_point_id"], scope)
        changed.append("round_point_id")
    for key in ("name", "address", "village", "floating", "residence_since"):
        if key in data:
            value = _clean_name(data[key]) if key == "name" else data[key]
            if getattr(resident, key) != value:
                setattr(resident, key, value)
                changed.append(key)
    _check_residence(bool(resident.floating), resident.residence_since, resident.birth_date)
    if "tags" in data:
        before = resident.recorded_tags
        _set_tags(resident, data["tags"] or [])
        if sorted(before) != sorted(resident.recorded_tags):
            changed.append("tags")
    if data.get("consent"):
        _apply_consent(resident, data["consent"], scope)
        changed.append("consent")
    if changed:
        resident.updated_at = clock.now()
        flush_unique()
        audit.record(scope, "update", resident=resident, ctx=ctx, detail={"fields": changed})
    return view(resident, cipher)


def read_resident(resident_id: int, scope: Scope, cipher: PiiCipher,
                  ctx: audit.RequestContext | None = None) -> ResidentView:
    resident = get_visible_resident(resident_id, scope)
    audit.record_read(scope, ctx, resident=resident)
    return view(resident, cipher)


@dataclass
class Revealed:
    resident: Resident
    id_number: str
    phone: str | None


def reveal_resident(resident_id: int, scope: Scope, cipher: PiiCipher, reason: str | None,
                    ctx: audit.RequestContext | None = None) -> Revealed:
    resident = get_visible_resident(resident_id, scope)
    audit.record(scope, "reveal", resident=resident, ctx=ctx,
                 detail={"fields": ["id_number", "phone"], "reason": reason})
    return Revealed(resident, cipher.decrypt(resident.id_number_encrypted), resident.phone)


def search_residents(scope: Scope, cipher: PiiCipher, *, q: str | None = None,
                     village: str | None = None, tag: str | None = None,
                     id_number: str | None = None, institution_id: int | None = None) -> Select:
    """Residents in scope matching the filters, newest first.

    `q` matches part of the name or of the phone number; a `q` that is a
    whole ID number, or `id_number`, matches exactly through the keyed hash.
    """
    # Tags in the same statement as the page's rows (the list shows them).
    stmt = (select(Resident).where(resident_visible(scope)).options(joinedload(Resident.tag_rows))
            .order_by(Resident.id.desc()))
    if q:
        q = q.strip()
        conds = [Resident.name.contains(q, autoescape=True)]
        digits = q.replace(" ", "").replace("-", "")
        if digits.isdigit() and len(digits) >= 3:
            conds.append(Resident.phone.contains(digits, autoescape=True))
        if len(q) == 18:
            conds.append(Resident.id_number_hash == cipher.lookup_hash(normalize_id_number(q)))
        stmt = stmt.where(or_(*conds))
    if id_number:
        stmt = stmt.where(Resident.id_number_hash == cipher.lookup_hash(normalize_id_number(id_number)))
    if village:
        stmt = stmt.where(Resident.village == village)
    if institution_id is not None:
        stmt = stmt.where(Resident.institution_id == institution_id)
    if tag:
        today = clock.today()
        if tag == "elderly":
            stmt = stmt.where(Resident.birth_date <= years_before(today, ELDERLY_AGE))
        elif tag == "child":
            stmt = stmt.where(Resident.birth_date > years_before(today, CHILD_MAX_AGE + 1),
                              Resident.birth_date <= today)
        else:
            stmt = stmt.where(exists().where(ResidentTag.resident_id == Resident.id,
                                             ResidentTag.tag == tag))
    return stmt


def residents_page(scope: Scope, cipher: PiiCipher, filters: dict, page: int, page_size: int,
                   ctx: audit.RequestContext | None = None) -> Page:
    """One page of a search, as shown (masked); the search is audited without its
    terms (a name, phone or ID number searched for is itself personal data)."""
    result = paginate(search_residents(scope, cipher, **filters), page, page_size)
    audit.record_read(scope, ctx, listed=[r.id for r in result.items], detail={
        "filters": {k: v for k, v in filters.items() if k not in ("id_number", "q")},
        "has_q": bool(filters.get("q")), "has_id_number": bool(filters.get("id_number")),
        "count": len(result.items)})
    return result.with_items(lambda rows: [view(r, cipher) for r in rows])


def residents_with_phone(phone: str) -> list[Resident]:
    return list(db.session.scalars(select(Resident).where(Resident.phone == phone).order_by(Resident.id)))


__all__ = [
    "DERIVED_TAGS", "create_resident", "update_resident", "read_resident",
    "reveal_resident", "search_residents", "residents_page", "get_visible_resident", "view", "derived_tags",
]
