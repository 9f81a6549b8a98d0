"""The registers as spreadsheets: the team's follow-up worklist (随访工作清单)
and the contract register (签约花名册).

Each holds exactly the rows of its JSON list for the same filters and scope,
in the same order, with the same masking, only all of them instead of one
page: the same statement, read in batches (`yield_per`: a server-side cursor
on PostgreSQL) as plain columns, never ORM objects, each row shown and
written before the next is read. Codes become their Chinese labels; money
stays integer fen until the writer shows it in yuan. Reading a register is
audited like its list: one `search` row naming every resident exported.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any

from sqlalchemy import Select, select

from services.access.scope import Scope
from services.catalog.types import FUNDER_LABELS, FUNDERS
from services.contracts.lifecycle import contracts_query
from services.core import audit
from services.core.crypto import PiiCipher
from services.core.db import db
from services.core.masking import mask_id_number, mask_phone
from services.exports.xlsx import Column, Sheet, display_width, write_workbook
from services.followup.worklist import WorklistFilters, worklist_query, worklist_row
from services.models import Contract, ContractPackage, Resident, RoundPoint, Team
from services.models.contract import CONTRACT_STATUS_LABELS
from services.models.followup import PROGRAM_LABELS

BATCH = 1000  # rows per fetch from the database, and contracts per package-name lookup

SEX_LABELS = {"male": "男", "female": "女"}
SECTION_LABELS = {"overdue": "逾期", "due": "近期到期", "urgent_referral": "紧急转诊待随访"}
CLASSIFICATION_LABELS = {
    "controlled": "控制满意", "uncontrolled": "控制不满意", "adverse_reaction": "不良反应",
    "complication": "并发症", "stable": "稳定", "basically_stable": "基本稳定", "unstable": "不稳定",
}
REFERRAL_LABELS = {"none": "无需转诊", "advised": "建议转诊", "urgent": "紧急转诊"}
PAYMENT_METHOD_LABELS = {"cash": "现金", "wechat": "微信支付", "medical_insurance_card": "医保卡"}
PACKAGE_SEPARATOR = "、"


def _stream(stmt: Select) -> Iterator[Any]:
    """The statement's rows, fetched BATCH at a time on the session's connection
    (a server-side cursor on PostgreSQL; SQLite's cursor is incremental anyway)."""
    result = db.session.connection().execute(stmt, execution_options={"yield_per": BATCH})
    try:
        yield from result
    finally:
        result.close()


def _label(labels: dict[str, str], code: str | None) -> str | None:
    return None if code is None else labels.get(code, code)


# --- the worklist -----------------------------------------------------------------

# The columns of GET /worklist's rows, in its order (the resident's fields where
# the row nests them; the round point by name; the last assessment's
# classification and referral).
WORKLIST_COLUMNS = (
    Column("管理编号", 10, "int"),
    Column("慢病项目", 13),
    Column("应随访日期", 12, "date"),
    Column("逾期天数", 10, "int"),
    Column("分组", 16),
    Column("居民编号", 10, "int"),
    Column("姓名", 10),
    Column("身份证号", 21),
    Column("性别", 6),
    Column("年龄", 6, "int"),
    Column("村（居）", 14),
    Column("巡诊点", 18),
    Column("联系电话", 14),
    Column("上次随访日期", 14, "date"),
    Column("上次评估", 12),
    Column("转诊建议", 12),
)


def worklist_workbook(scope: Scope, f: WorklistFilters, cipher: PiiCipher,
                      ctx: audit.RequestContext | None = None) -> IO[bytes]:
    """The whole worklist of GET /worklist for `f` (every page) as a workbook;
    each row is `worklist_row`, the JSON list's own, so both show the same."""
    shown: list[int] = []
    point_names = _RoundPointNames()

    def rows() -> Iterator[tuple]:
        for r in _stream(worklist_query(f)):
            row = worklist_row(r, f, cipher)
            resident, last = row["resident"], row["last_assessment"] or {}
            shown.append(resident["id"])
            yield (row["enrolment_id"], _label(PROGRAM_LABELS, row["program"]), row["next_due_date"],
                   row["days_overdue"], _label(SECTION_LABELS, row["section"]), resident["id"], resident["name"],
                   resident["id_number"], _label(SEX_LABELS, resident["sex"]), resident["age"], resident["village"],
                   point_names.get(resident["round_point_id"]), row["phone"], row["last_visit_date"],
                   _label(CLASSIFICATION_LABELS, last.get("classification")),
                   _label(REFERRAL_LABELS, last.get("referral")))

    file = write_workbook([Sheet("随访工作清单", WORKLIST_COLUMNS, rows())])
    audit.record_read(scope, ctx, "worklist", listed=shown, detail={"export": "xlsx"})
    return file


class _RoundPointNames:
    """Round-point names by id, looked up on first sight (a team's rows share a few)."""

    def __init__(self) -> None:
        self._names: dict[int, str | None] = {}

    def get(self, point_id: int | None) -> str | None:
        if point_id is None:
            return None
        if point_id not in self._names:
            self._names[point_id] = db.session.scalar(select(RoundPoint.name).where(RoundPoint.id == point_id))
        return self._names[point_id]


# --- the contract register (签约花名册) --------------------------------------------

CONTRACT_REGISTER_COLUMNS = (
    Column("签约编号", 10, "int"),
    Column("姓名", 10),
    Column("身份证号", 21),
    Column("联系电话", 14),
    Column("村（居）", 14),
    Column("签约团队", 20),
    Column("服务包", 34),
    Column("状态", 12),
    Column("起始日期", 12, "date"),
    Column("到期日期", 12, "date"),
    Column("标准价值（元）", 16, "money"),
    Column("个人自付（元）", 16, "money"),
    *(Column(f"{FUNDER_LABELS[funder]}（元）", display_width(FUNDER_LABELS[funder]) + 8, "money")
      for funder in FUNDERS),
    Column("缴费方式", 12),
    Column("收据号", 16),
)

# What the register reads of each contract: plain columns, one row per contract.
_REGISTER_SELECT = (
    Contract.id, Contract.resident_id, Resident.name, Resident.id_number_encrypted, Resident.phone,
    Resident.village, Team.name.label("team_name"), Contract.status, Contract.starts_on, Contract.ends_on,
    Contract.list_value_fen, Contract.self_pay_fen, Contract.funding, Contract.payment_method, Contract.receipt_no,
)


def contract_register_query(scope: Scope, filters: dict) -> Select:
    """GET /contracts' statement for the same scope and filters (its WHERE and
    ORDER BY, so the same rows in the same order), selecting the register's
    columns with the resident and the team joined in."""
    return (contracts_query(scope, **filters)
            .with_only_columns(*_REGISTER_SELECT, maintain_column_froms=False)
            .select_from(Contract)
            .join(Resident, Resident.id == Contract.resident_id)
            .join(Team, Team.id == Contract.team_id))


def contract_register_workbook(scope: Scope, filters: dict, cipher: PiiCipher,
                               ctx: audit.RequestContext | None = None) -> IO[bytes]:
    """Every contract GET /contracts lists for `filters` (status, team_id,
    resident_id, expiring_within_days), as the register: the resident's name,
    masked ID number and phone, the packages by name, the money per funder."""
    shown: list[int] = []

    def rows() -> Iterator[tuple]:
        for batch in _batches(_stream(contract_register_query(scope, filters)), BATCH):
            packages = _package_names([r.id for r in batch])
            for r in batch:
                shown.append(r.resident_id)
                funding = r.funding or {}
                yield (r.id, r.name, _masked_id_number(cipher, r.id_number_encrypted), mask_phone(r.phone),
                       r.village, r.team_name, packages.get(r.id), _label(CONTRACT_STATUS_LABELS, r.status),
                       r.starts_on, r.ends_on, r.list_value_fen, r.self_pay_fen,
                       *(funding.get(funder, 0) for funder in FUNDERS),
                       _label(PAYMENT_METHOD_LABELS, r.payment_method), r.receipt_no)

    file = write_workbook([Sheet("签约花名册", CONTRACT_REGISTER_COLUMNS, rows())])
    audit.record_read(scope, ctx, "contract_register", listed=shown, detail={"export": "xlsx", "filters": filters})
    return file


def _masked_id_number(cipher: PiiCipher, token: str) -> str:
    """Masked as every list masks it, but not through the cipher's cache of masked
    numbers: a register is read once, front to back, and may be longer than the
    cache (an LRU of 50,000), so remembering it would only evict the numbers the
    teams' lists are showing, and keep the register's in memory."""
    return mask_id_number(cipher.decrypt(token))


def _batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _package_names(contract_ids: list[int]) -> dict[int, str]:
    """Each contract's package names in signing order (as its detail lists them), joined."""
    names: dict[int, list[str]] = {}
    for contract_id, name in db.session.connection().execute(
            select(ContractPackage.contract_id, ContractPackage.name)
            .where(ContractPackage.contract_id.in_(contract_ids))
            .order_by(ContractPackage.contract_id, ContractPackage.id)):
        names.setdefault(contract_id, []).append(name)
    return {contract_id: PACKAGE_SEPARATOR.join(parts) for contract_id, parts in names.items()}
