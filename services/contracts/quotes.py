"""What a resident's chosen packages cost and whether they may take them, as of a day (报价)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from services.access.scope import Scope
from services.catalog import versions as packages
from services.catalog.eligibility import ResidentFacts, check_eligibility
from services.catalog.pricing import Quote, build_quote, check_package_selection
from services.catalog.types import PackageDefinition
from services.core import clock
from services.core.db import db
from services.core.errors import ValidationFailed
from services.models import (
    PackageVersion,
    ProgramEnrolment,
    Resident,
)
from services.residents.register import all_tags, get_visible_resident


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


def check_start(on: dt.date, horizon_days: int, field: str = "starts_on") -> None:
    """A start date within the configured horizon of today (a year by default): a
    quote for 9999-12-31 or 0001-01-01 answers nothing anyone can sign."""
    today = clock.today()
    if abs((on - today).days) > horizon_days:
        raise ValidationFailed.field(field, f"起始日期须在今天前后 {horizon_days} 天以内", code="START_OUT_OF_RANGE")


def quote_for(resident_id: int, codes: list[str], scope: Scope, on: dt.date | None = None,
              horizon_days: int = 366) -> Quote:
    resident = get_visible_resident(resident_id, scope)
    if on is not None:
        check_start(on, horizon_days)
    return prepare_quote(resident, codes, on or clock.today()).quote


def _package_view(version: PackageVersion, eligibility: dict | None = None) -> dict:
    d = version.definition
    return {**d, "version": version.version, "eligibility_rules": d.get("eligibility", {}),
            "eligibility": eligibility}


def packages_for(scope: Scope, resident_id: int | None, on: dt.date | None = None) -> list[dict]:
    """The packages in force; for a resident (staff naming one, or the resident
    themself) each marked with whether they may take it, and why not."""
    on = on or clock.today()
    versions = packages.current_versions(on)
    resident_id = resident_id or scope.resident_id
    if resident_id is None:
        return [_package_view(v) for v in versions]
    resident = get_visible_resident(resident_id, scope)
    return [_package_view(v, {"eligible": r.eligible, "rule": r.rule, "reason": r.reason})
            for v, r in eligibility_marks(resident, versions, on)]
