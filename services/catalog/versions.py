"""The catalog in the database: loading versions and finding the current ones.

Loading is idempotent: a file whose content is unchanged changes nothing; a
changed file becomes a new version (its declared version if higher than
the stored one, else the next number); old versions stay because signed
contracts refer to them.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select

from services.catalog.files import content_hash
from services.catalog.types import PackageDefinition
from services.core import clock
from services.core.db import db
from services.core.errors import ValidationFailed
from services.models import PackageVersion


@dataclass
class LoadResult:
    created: list[tuple[str, int]] = field(default_factory=list)
    unchanged: list[tuple[str, int]] = field(default_factory=list)


def load_catalog(definitions: list[PackageDefinition]) -> LoadResult:
    result = LoadResult()
    for defn in definitions:
        digest = content_hash(defn)
        latest = db.session.scalar(
            select(PackageVersion).where(PackageVersion.code == defn.code)
            .order_by(PackageVersion.version.desc()).limit(1))
        if latest is not None and latest.content_hash == digest:
            result.unchanged.append((defn.code, latest.version))
            continue
        version = defn.version if latest is None or defn.version > latest.version else latest.version + 1
        db.session.add(PackageVersion(
            code=defn.code, version=version, kind=defn.kind, name=defn.name,
            effective_from=defn.effective_from, list_value_fen=defn.list_value_fen,
            self_pay_fen=defn.self_pay_fen, content_hash=digest,
            definition={**defn.to_dict(), "version": version}, source_file=defn.source_file or None,
            loaded_at=clock.now()))
        db.session.flush()
        result.created.append((defn.code, version))
    return result


def current_versions(on: dt.date | None = None) -> list[PackageVersion]:
    """For each code, the newest version already in effect on `on` (basic first)."""
    on = on or clock.today()
    newest = (select(PackageVersion.code, func.max(PackageVersion.version).label("v"))
              .where(PackageVersion.effective_from <= on).group_by(PackageVersion.code).subquery())
    rows = db.session.scalars(
        select(PackageVersion).join(newest, (PackageVersion.code == newest.c.code)
                                    & (PackageVersion.version == newest.c.v))
    ).all()
    return sorted(rows, key=lambda p: (p.kind != "basic", p.code))


def current_by_codes(codes: list[str], on: dt.date | None = None) -> list[PackageVersion]:
    current = {p.code: p for p in current_versions(on)}
    unknown = [c for c in codes if c not in current]
    if unknown:
        raise ValidationFailed.field("package_codes", "服务包不存在或尚未生效：" + "、".join(unknown),
                                     code="UNKNOWN_PACKAGE")
    return [current[c] for c in codes]


def definition_of(version: PackageVersion) -> PackageDefinition:
    return PackageDefinition.from_dict(version.definition)
