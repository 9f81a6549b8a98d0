"""Residents in from a county's spreadsheet (columns in Chinese).

Every row is validated exactly as `POST /residents` validates (the same
functions of `register.py` do the work); the report names row, column and
reason for each error. A dry run writes nothing. A real run writes every
valid row in the caller's one transaction, or nothing when `all_or_nothing`
and any row failed. A row whose ID number is already registered in the
caller's scope updates that resident (its non-blank cells; a blank cell
leaves the value as it is) instead of registering them twice.

Choices: a row with 居住起始日期 is a floating resident (流动人口) living here
since that day; 所属机构 is an institution's name or code in the caller's
scope, blank meaning the importing staff member's own institution; 巡诊点 is
a round point's name at that institution, or its id; 人群标签 takes codes or
the Chinese labels separated by 、，,; or spaces, the age tags being derived
and ignored as POST /residents ignores them.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from sqlalchemy import select

from services.access.scope import Scope, resident_visible
from services.core import audit
from services.core.crypto import PiiCipher
from services.core.db import db
from services.core.errors import ValidationFailed
from services.models import Institution, Resident, RoundPoint
from services.models.resident import DERIVED_TAGS, TAG_LABELS
from services.residents import register
from services.residents.import_files import read_sheet

MAX_ROWS = 50_000
# Column header -> the field of POST /residents it fills.
COLUMNS = {
    "姓名": "name", "身份证号": "id_number", "手机号": "phone", "住址": "address", "村/社区": "village",
    "人群标签": "tags", "居住起始日期": "residence_since", "所属机构": "institution_id", "巡诊点": "round_point_id",
}
REQUIRED = ("姓名", "身份证号")
HEADER_OF = {f: h for h, f in COLUMNS.items()}
LIMITS = {"name": 60, "address": 200, "village": 100}
_TAG_SPLIT = re.compile(r"[、，,;；\s]+")
_TAG_BY_LABEL = {**{code: code for code in TAG_LABELS}, **{label: code for code, label in TAG_LABELS.items()}}


@dataclass
class ImportReport:
    dry_run: bool
    all_or_nothing: bool
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    written: bool = False
    errors: list[dict] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)


def _error(report: ImportReport, row: int, column: str, code: str, message: str) -> None:
    report.errors.append({"row": row, "column": column, "code": code, "message": message})


def _date(value) -> dt.date:
    if isinstance(value, dt.date):
        return value
    for pattern in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(str(value), pattern).date()
        except ValueError:
            continue
    raise ValidationFailed.field("residence_since", "日期格式应为 YYYY-MM-DD")


def _tags(value: str) -> list[str]:
    tags = []
    for word in _TAG_SPLIT.split(str(value)):
        if not word:
            continue
        code = _TAG_BY_LABEL.get(word)
        if code is None:
            raise ValidationFailed.field("tags", f"未知的人群标签「{word}」")
        if code not in DERIVED_TAGS:
            tags.append(code)
    return tags


class _Places:
    """The caller's institutions (by id, code and name) and their active round points, loaded once."""

    def __init__(self, scope: Scope):
        ids = sorted(scope.institution_ids)
        self.institutions: dict[str, int] = {}
        for iid, code, name in db.session.execute(
                select(Institution.id, Institution.code, Institution.name).where(Institution.id.in_(ids))):
            self.institutions.setdefault(name, iid)
            self.institutions[code] = iid
            self.institutions[str(iid)] = iid
        self.points: dict[tuple[int, str], int] = {}
        for pid, iid, name in db.session.execute(
                select(RoundPoint.id, RoundPoint.institution_id, RoundPoint.name)
                .where(RoundPoint.institution_id.in_(ids), RoundPoint.active.is_(True))):
            self.points[(iid, name)] = pid
            self.points[(iid, str(pid))] = pid
        self.home = scope.home_institution_id
        # Held here so the register's checks find them in the session's (weak) identity map.
        self._pinned = [*db.session.scalars(select(Institution).where(Institution.id.in_(ids))),
                        *db.session.scalars(select(RoundPoint).where(RoundPoint.institution_id.in_(ids)))]

    def institution(self, value: str) -> int:
        if not value:
            if self.home is None:
                raise ValidationFailed.field("institution_id", "请填写所属机构（医共体管理员导入时必填）")
            return self.home
        if value not in self.institutions:
            raise ValidationFailed.field("institution_id", "机构不存在或不在您的管辖范围内")
        return self.institutions[value]

    def point(self, institution_id: int, value: str) -> int:
        if (institution_id, value) not in self.points:
            raise ValidationFailed.field("round_point_id", "巡诊点不存在、已停用或不属于该机构")
        return self.points[(institution_id, value)]


def _row_data(cells: dict, places: _Places) -> dict:
    """The body POST /residents would receive for this row (only non-blank cells), checked
    by the register's own validators; raises ValidationFailed naming the field."""
    data: dict = {}
    for header, field_name in COLUMNS.items():
        value = cells.get(header, "")
        if value in ("", None):
            continue
        if field_name in LIMITS:
            value = str(value)
            if len(value) > LIMITS[field_name]:
                raise ValidationFailed.field(field_name, f"长度不能超过 {LIMITS[field_name]} 个字符")
            data[field_name] = register._clean_name(value) if field_name == "name" else value
        elif field_name == "id_number":
            data["id_number"], data["_birth_date"], _sex = register._parse_id(str(value))
        elif field_name == "phone":
            data["phone"] = register._parse_phone(str(value))
        elif field_name == "tags":
            data["tags"] = _tags(value)
        elif field_name == "residence_since":
            data["residence_since"], data["floating"] = _date(value), True
    named = str(cells.get("所属机构", "") or "")
    data["institution_id"] = places.institution(named)
    data["_institution_named"] = bool(named)
    if cells.get("巡诊点"):
        data["round_point_id"] = places.point(data["institution_id"], str(cells["巡诊点"]))
    for required in ("name", "id_number"):
        if required not in data:
            raise ValidationFailed.field(required, "必填")
    register._check_residence(bool(data.get("floating")), data.get("residence_since"), data.pop("_birth_date"))
    return data


def _existing(hashes: list[str], scope: Scope) -> dict[str, tuple[int, bool]]:
    """id_number_hash -> (resident id, visible to the caller) for those already registered."""
    found: dict[str, tuple[int, bool]] = {}
    for i in range(0, len(hashes), 500):
        chunk = hashes[i:i + 500]
        rows = db.session.execute(select(Resident.id_number_hash, Resident.id).where(
            Resident.id_number_hash.in_(chunk))).all()
        visible = set(db.session.scalars(select(Resident.id).where(
            Resident.id.in_([r.id for r in rows]), resident_visible(scope))))
        found.update({h: (rid, rid in visible) for h, rid in rows})
    return found


def import_residents(filename: str, stream: IO[bytes], scope: Scope, cipher: PiiCipher, *, dry_run: bool,
                     all_or_nothing: bool = False, ctx: audit.RequestContext | None = None,
                     progress: Callable[[int], None] | None = None) -> ImportReport:
    headers, rows = read_sheet(filename, stream)
    missing = [h for h in REQUIRED if h not in headers]
    unknown = [h for h in headers if h and h not in COLUMNS]
    if missing or unknown:
        raise ValidationFailed("表头不符合模板：" + "；".join(
            filter(None, [missing and "缺少列 " + "、".join(missing), unknown and "未知列 " + "、".join(unknown)])),
            code="IMPORT_BAD_HEADER", errors={"file": ["表头不符合模板"]},
            extra={"missing_columns": missing, "unknown_columns": unknown, "expected_columns": list(COLUMNS)})
    report = ImportReport(dry_run=dry_run, all_or_nothing=all_or_nothing)
    places = _Places(scope)
    prepared: list[tuple[int, dict, str]] = []  # (row, body, id hash)
    seen: dict[str, int] = {}
    for number, cells in rows:
        report.total_rows += 1
        if progress:
            progress(1)
        if report.total_rows > MAX_ROWS:
            raise ValidationFailed(f"单次最多导入 {MAX_ROWS} 行", code="IMPORT_TOO_MANY_ROWS",
                                   errors={"file": [f"超过 {MAX_ROWS} 行"]}, extra={"max_rows": MAX_ROWS})
        by_header = dict(zip(headers, cells, strict=False))
        try:
            data = _row_data(by_header, places)
        except ValidationFailed as exc:
            for field_name, messages in (exc.errors or {"_row": [exc.message]}).items():
                _error(report, number, HEADER_OF.get(field_name, ""), exc.code, "；".join(messages))
            report.failed += 1
            continue
        id_hash = cipher.lookup_hash(data["id_number"])
        if id_hash in seen:
            _error(report, number, "身份证号", "DUPLICATE_IN_FILE", f"与第 {seen[id_hash]} 行的身份证号重复")
            report.failed += 1
            continue
        seen[id_hash] = number
        prepared.append((number, data, id_hash))
    existing = _existing([h for _, _, h in prepared], scope)
    plan: list[tuple[int, dict, int | None]] = []
    for number, data, id_hash in prepared:
        rid, visible = existing.get(id_hash, (None, True))
        if not visible:
            _error(report, number, "身份证号", "RESIDENT_EXISTS", "该身份证号的居民已在其他机构建档，请联系其所属机构")
            report.failed += 1
            continue
        plan.append((number, data, rid))
    report.errors.sort(key=lambda e: (e["row"], e["column"]))
    report.created = sum(1 for _, _, rid in plan if rid is None)
    report.updated = len(plan) - report.created
    if dry_run or (all_or_nothing and report.failed):
        return report
    # Every row was checked above, so what follows writes; a registration made meanwhile by someone
    # else (the unique index) fails the whole import with 409 and nothing is written.
    # New residents go in batches (one INSERT of many rows each), then their audit rows.
    created: list[tuple[int, Resident]] = []
    for number, data, rid in plan:
        if not data.pop("_institution_named") and rid is not None:
            data.pop("institution_id")  # a blank cell moves nobody
        if rid is None:
            resident = register.build_resident(data, scope, cipher)
            db.session.add(resident)
            created.append((number, resident))
            if len(created) % 1000 == 0:
                register.flush_unique()
        else:
            shown = register.update_resident(rid, data, scope, cipher, ctx)
            report.rows.append({"row": number, "status": "updated", "resident_id": shown.resident.id})
    register.flush_unique()
    for number, resident in created:
        audit.record(scope, "create", resident=resident, ctx=ctx, detail={"import_row": number})
        report.rows.append({"row": number, "status": "created", "resident_id": resident.id})
    report.rows.sort(key=lambda r: r["row"])
    report.written = bool(report.rows)
    return report


TEMPLATE_NOTES = (
    ("姓名", "必填，最多 60 个字符"),
    ("身份证号", "必填，18 位居民身份证号码（末位 X 可小写）；请将单元格设为文本，以免 Excel 丢失末尾数字。"
                "已建档的身份证号将更新该居民（空白单元格不改动原有信息）"),
    ("手机号", "中国大陆手机号，可空"),
    ("住址", "最多 200 个字符，可空"),
    ("村/社区", "最多 100 个字符，可空"),
    ("人群标签", "可填代码或中文名称，多个用顿号、逗号或空格分隔：" + "、".join(
        f"{label}（{code}）" for code, label in TAG_LABELS.items() if code not in DERIVED_TAGS)
     + "。65岁及以上老年人、0-6岁儿童按出生日期自动计算，无需填写"),
    ("居住起始日期", "流动人口（非本地户籍常住）在本地居住的起始日期，格式 YYYY-MM-DD；填写即登记为流动人口"),
    ("所属机构", "机构名称或机构编码，须在您的管辖范围内；空白为您所在机构"),
    ("巡诊点", "所属机构的巡诊点名称或编号，可空"),
)


def template_workbook(out: IO[bytes]) -> None:
    """The import template: the columns in Chinese with one example row, and a sheet explaining each."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "居民导入"
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in sheet.iter_rows(min_row=2, max_row=2000, min_col=2, max_col=3):
        for cell in row:
            cell.number_format = "@"  # ID and phone numbers as text
    for letter, width in zip("ABCDEFGHI", (10, 22, 14, 30, 14, 24, 14, 20, 16), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    notes = book.create_sheet("说明")
    notes.append(["列", "说明"])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for row in TEMPLATE_NOTES:
        notes.append(list(row))
    notes.column_dimensions["A"].width = 14
    notes.column_dimensions["B"].width = 100
    notes.freeze_panes = "A2"
    book.save(out)
