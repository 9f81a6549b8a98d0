"""Excel exports: GET /worklist.xlsx and GET /contracts.xlsx hold exactly what
their JSON lists show for the same query (same rows in the same order, same
values, every page), with the same scope, masking and audit; and the
streaming writer under them (headers, frozen pane, widths, kinds of cells)."""
from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
from urllib.parse import quote

import openpyxl
import pytest
from sqlalchemy import event, select

from services.access.scope import scope_for_staff
from services.core.db import db
from services.exports import registers
from services.exports.xlsx import XLSX_MIMETYPE, Column, Sheet, write_workbook
from services.models import AuditLog, Contract, Resident, RoundPoint, Staff
from tests.factories import load_catalog, login, make_contract, make_resident, make_staff, resident_headers

TODAY = "2026-03-02"  # the frozen clock
WORKLIST_HEADERS = ["管理编号", "慢病项目", "应随访日期", "逾期天数", "分组", "居民编号", "姓名", "身份证号", "性别", "年龄",
                    "村（居）", "巡诊点", "联系电话", "上次随访日期", "上次评估", "转诊建议"]
REGISTER_HEADERS = ["签约编号", "姓名", "身份证号", "联系电话", "村（居）", "签约团队", "服务包", "状态", "起始日期", "到期日期",
                    "标准价值（元）", "个人自付（元）", "医保基金（元）", "基本公共卫生服务经费（元）", "财政补助（元）",
                    "合作医院让利（元）", "缴费方式", "收据号"]
FUNDERS = ("medical_insurance", "public_health", "fiscal", "partner_discount")
PROGRAMS = {"hypertension": "高血压", "diabetes": "2型糖尿病", "mental_disorder": "严重精神障碍"}
SECTIONS = {"overdue": "逾期", "due": "近期到期", "urgent_referral": "紧急转诊待随访"}
SEXES = {"male": "男", "female": "女"}
CLASSIFICATIONS = {"controlled": "控制满意", "uncontrolled": "控制不满意", None: None}
REFERRALS = {"none": "无需转诊", "advised": "建议转诊", "urgent": "紧急转诊", None: None}
METHODS = {"cash": "现金", "wechat": "微信支付", "medical_insurance_card": "医保卡", None: None}


@pytest.fixture
def county(world, frozen_clock):
    load_catalog()
    make_staff("admin_b", "admin", world.community, institution=world.thc_b, name="西镇管理员")
    db.session.commit()
    return world


# --- reading a file back --------------------------------------------------------------

def workbook_of(resp) -> openpyxl.Workbook:
    assert resp.status_code == 200, resp.get_json(silent=True)
    assert resp.mimetype == XLSX_MIMETYPE
    assert resp.headers["Cache-Control"] == "no-store, private"
    assert int(resp.headers["Content-Length"]) == len(resp.data)
    return openpyxl.load_workbook(io.BytesIO(resp.data))


def cells(value):
    """A cell as read back: dates come back as midnight datetimes."""
    return value.date() if isinstance(value, dt.datetime) else value


def table(resp) -> tuple[list, list[tuple]]:
    ws = workbook_of(resp).active
    rows = [tuple(cells(v) for v in row) for row in ws.iter_rows(values_only=True)]
    return list(rows[0]), rows[1:]


def day(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def yuan(fen: int) -> float:
    return fen / 100


def all_pages(client, path: str, headers: dict, **query) -> list[dict]:
    items, page = [], 1
    while True:
        resp = client.get(path, headers=headers, query_string={**query, "page": page, "page_size": 2})
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        items += body["items"]
        if page * 2 >= body["total"]:
            return items
        page += 1


# --- the worklist -----------------------------------------------------------------------

def enrol(client, headers, resident_id, enrolled_on, program="hypertension"):
    resp = client.post(f"/api/v1/residents/{resident_id}/programs", headers=headers,
                       json={"program": program, "enrolled_on": enrolled_on})
    assert resp.status_code == 201, resp.get_json()


def visit(client, headers, resident_id, **readings):
    resp = client.post("/api/v1/followups", headers=headers, json={
        "resident_id": resident_id, "program": "hypertension", "visit_date": TODAY, "visit_mode": "clinic",
        **readings})
    assert resp.status_code == 201, resp.get_json()


@pytest.fixture
def worklist_world(client, county):
    doctor = login(client, "doctor_a")
    point = db.session.scalars(select(RoundPoint)).one()
    a = make_resident(county.thc_a, name="逾期久", birth=dt.date(1950, 1, 1), phone="13700000001", village="东村")
    b = make_resident(county.thc_a, name="=1+2", birth=dt.date(1951, 1, 1), sex="female", village="西头")
    c = make_resident(county.thc_a, name="本周到期", birth=dt.date(1952, 1, 1), village="东村")
    d = make_resident(county.thc_a, name="下月到期", birth=dt.date(1953, 1, 1))
    u = make_resident(county.thc_a, name="紧急转诊", birth=dt.date(1954, 1, 1), phone="13700000005")
    db.session.get(Resident, a.id).round_point_id = point.id
    db.session.commit()
    enrol(client, doctor, a.id, "2026-01-01")                   # due 01-15: 46 days overdue
    enrol(client, doctor, b.id, "2026-02-10")                   # due 02-24: 6 days overdue
    enrol(client, doctor, c.id, "2026-02-20", "diabetes")       # due 03-06
    enrol(client, doctor, d.id, "2026-03-01")                   # due 03-15: outside 7 days
    enrol(client, doctor, u.id, "2026-02-01")
    visit(client, doctor, u.id, sbp=185, dbp=100)               # urgent, due 03-16
    other = make_resident(county.thc_b, name="别队", birth=dt.date(1950, 5, 5))
    enrol(client, login(client, "doctor_b"), other.id, "2026-01-01")
    return {"a": a.id, "b": b.id, "c": c.id, "d": d.id, "u": u.id, "other": other.id, "point": point}


def worklist_expected(item: dict, point_names: dict) -> tuple:
    r, last = item["resident"], item["last_assessment"] or {}
    return (item["enrolment_id"], PROGRAMS[item["program"]], day(item["next_due_date"]), item["days_overdue"],
            SECTIONS[item["section"]], r["id"], r["name"], r["id_number"], SEXES[r["sex"]], r["age"], r["village"],
            point_names.get(r["round_point_id"]), item["phone"], day(item["last_visit_date"]),
            CLASSIFICATIONS[last.get("classification")], REFERRALS[last.get("referral")])


@pytest.mark.parametrize("query", [{}, {"status": "overdue"}, {"status": "due"}, {"village": "东村"},
                                   {"program": "diabetes"}, {"within_days": 14}, {"due_before": "2026-03-31"}])
def test_worklist_xlsx_is_the_json_list_all_pages(client, worklist_world, query):
    doctor = login(client, "doctor_a")
    shown = all_pages(client, "/api/v1/worklist", doctor, **query)
    header, rows = table(client.get("/api/v1/worklist.xlsx", headers=doctor, query_string=query))
    assert header == WORKLIST_HEADERS
    point = worklist_world["point"]
    assert rows == [worklist_expected(item, {point.id: point.name}) for item in shown]


def test_worklist_xlsx_values_layout_and_download_name(client, worklist_world):
    w = worklist_world
    resp = client.get("/api/v1/worklist.xlsx", headers=login(client, "doctor_a"))
    wb = workbook_of(resp)
    ws = wb.active
    assert (wb.sheetnames, ws.freeze_panes, ws.auto_filter.ref) == (["随访工作清单"], "A2", "A1:P5")
    assert [ws.column_dimensions[letter].width for letter in "ABCDEFGHIJKLMNOP"] == [
        c.width for c in registers.WORKLIST_COLUMNS]
    assert all(cell.font.b for cell in ws[1])
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert [r[5] for r in rows] == [w["a"], w["b"], w["c"], w["u"]]
    first = rows[0]
    assert first[1:5] == ["高血压", dt.datetime(2026, 1, 15), 46, "逾期"]
    assert first[6] == "逾*久" and first[7].startswith("131122********") and len(first[7]) == 18
    assert first[8:13] == ["男", 76, "东村", "东村巡诊点", "13700000001"]
    assert ws.cell(2, 3).number_format == "yyyy-mm-dd" and ws.cell(2, 3).is_date
    # A name that looks like a formula stays text (masked "=**2").
    assert ws.cell(3, 7).value == "=**2" and ws.cell(3, 7).data_type == "s"
    assert rows[3][4] == "紧急转诊待随访" and rows[3][13:] == [dt.datetime(2026, 3, 2), "控制不满意", "紧急转诊"]
    disposition = resp.headers["Content-Disposition"]
    assert disposition == (f"attachment; filename=\"worklist_{TODAY}.xlsx\"; "
                           f"filename*=UTF-8''{quote(f'随访工作清单_{TODAY}.xlsx')}")


def test_worklist_xlsx_scope_is_the_json_lists(client, worklist_world, county):
    w = worklist_world
    theirs = table(client.get("/api/v1/worklist.xlsx", headers=login(client, "doctor_b")))[1]
    assert [r[5] for r in theirs] == [w["other"]]
    doctor = login(client, "doctor_a")
    for path in ("/api/v1/worklist", "/api/v1/worklist.xlsx"):
        resp = client.get(path, headers=doctor, query_string={"team_id": county.team_b.id})
        assert resp.status_code == 404 and resp.get_json()["code"] == "TEAM_NOT_FOUND"
        admin = login(client, "admin_a")
        assert client.get(path, headers=admin).status_code == 422
        outsider = client.get(path, headers=login(client, "admin_b"), query_string={"team_id": county.team_a.id})
        assert outsider.status_code == 404 and outsider.get_json()["code"] == "TEAM_NOT_FOUND"
        assert client.get(path, headers=resident_headers(w["a"])).status_code == 403
    admin_rows = table(client.get("/api/v1/worklist.xlsx", headers=login(client, "admin_a"),
                                  query_string={"team_id": county.team_a.id}))[1]
    assert [r[5] for r in admin_rows] == [w["a"], w["b"], w["c"], w["u"]]
    # Pagination is not an export's parameter: like any unknown query parameter it changes nothing.
    paged = table(client.get("/api/v1/worklist.xlsx", headers=doctor, query_string={"page": 2, "page_size": 1}))[1]
    assert [r[5] for r in paged] == [w["a"], w["b"], w["c"], w["u"]]


def test_worklist_xlsx_is_audited_like_the_list(client, worklist_world):
    w = worklist_world
    client.get("/api/v1/worklist.xlsx", headers=login(client, "doctor_a"))
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "search")).one()
    assert row.detail == {"list": "worklist", "export": "xlsx", "resident_ids": [w["a"], w["b"], w["c"], w["u"]]}
    assert row.actor_id == db.session.scalar(select(Staff.id).where(Staff.username == "doctor_a"))


def test_empty_worklist_is_a_file_with_only_the_header(client, county):
    wb = workbook_of(client.get("/api/v1/worklist.xlsx", headers=login(client, "doctor_a")))
    ws = wb.active
    assert [[c.value for c in row] for row in ws.iter_rows()] == [WORKLIST_HEADERS]
    assert (ws.freeze_panes, ws.auto_filter.ref) == ("A2", "A1:P1")


# --- the contract register ----------------------------------------------------------------

def sign(client, headers, resident_id, codes=("basic",), payment=None, **extra):
    body = {"resident_id": resident_id, "package_codes": list(codes), **extra}
    if payment:
        body["payment"] = payment
    resp = client.post("/api/v1/contracts", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


@pytest.fixture
def register_world(client, county):
    doctor_a, doctor_b = login(client, "doctor_a"), login(client, "doctor_b")
    elder = make_resident(county.thc_a, name="王秀英", birth=dt.date(1950, 1, 1), sex="female", phone="13812345678",
                          village="东村")
    poor = make_resident(county.thc_a, name="=HYPERLINK(\"http://x\")", birth=dt.date(1980, 1, 1),
                         tags=("minimum_living_allowance",), village="东村")
    applicant = make_resident(county.thc_a, name="李四", birth=dt.date(1985, 3, 3), phone="13900001111")
    leaver = make_resident(county.thc_a, name="赵五", birth=dt.date(1970, 7, 7), village="西头")
    west = make_resident(county.thc_b, name="西村人", birth=dt.date(1960, 2, 2), phone="13600002222", village="西村")
    ids = {
        "elder": sign(client, doctor_a, elder.id, ("basic", "elderly"),
                      {"amount_fen": 8800, "method": "cash", "receipt_no": "R-0001"}),
        "poor": sign(client, doctor_a, poor.id),
        "applicant": sign(client, resident_headers(applicant.id), applicant.id, team_id=county.team_a.id),
        "leaver": sign(client, doctor_a, leaver.id, payment={"amount_fen": 800, "method": "medical_insurance_card",
                                                             "receipt_no": "R-0002"}),
        "west": sign(client, doctor_b, west.id, payment={"amount_fen": 800, "method": "wechat", "receipt_no": "W-1"}),
    }
    resp = client.post(f"/api/v1/contracts/{ids['leaver']}/terminate", headers=doctor_a, json={"reason": "迁出"})
    assert resp.status_code == 200, resp.get_json()
    # A contract with no package rows (as an old register's import would leave it).
    ids["bare"] = make_contract(west.id, county.team_b, status="expired").id
    return ids


def register_expected(client, contract: dict, residents: dict) -> tuple:
    r = residents[contract["resident_id"]]
    payment = contract["payment"] or {}
    totals = contract["totals"]
    return (contract["id"], r["name"], r["id_number"], r["phone"], r["village"], contract["team_name"],
            "、".join(p["name"] for p in contract["packages"]) or None, contract["status_label"],
            day(contract["starts_on"]), day(contract["ends_on"]), yuan(totals["list_value_fen"]),
            yuan(totals["self_pay_fen"]), *(yuan(totals["funding"].get(f, 0)) for f in FUNDERS),
            METHODS[payment.get("method")], payment.get("receipt_no"))


def residents_shown(client, contracts: list[dict]) -> dict:
    """Each resident as GET /residents/{id} shows them (masked) to the community admin."""
    admin = login(client, "admin_all")
    return {rid: client.get(f"/api/v1/residents/{rid}", headers=admin).get_json()
            for rid in {c["resident_id"] for c in contracts}}


@pytest.mark.parametrize("caller", ["admin_all", "admin_a", "admin_b", "doctor_a", "doctor_b"])
@pytest.mark.parametrize("query", [{}, {"status": "active"}, {"team_id": "team_a"}, {"team_id": "team_b"},
                                   {"resident_id": "elder"}, {"expiring_within_days": 400},
                                   {"status": "terminated", "team_id": "team_a"}])
def test_contracts_xlsx_is_the_json_list_all_pages(client, county, register_world, caller, query):
    params = {k: (getattr(county, v).id if k == "team_id" else v) for k, v in query.items()}
    if query.get("resident_id"):
        params["resident_id"] = db.session.get(Contract, register_world[query["resident_id"]]).resident_id
    headers = login(client, caller)
    shown = all_pages(client, "/api/v1/contracts", headers, **params)
    header, rows = table(client.get("/api/v1/contracts.xlsx", headers=headers, query_string=params))
    assert header == REGISTER_HEADERS
    residents = residents_shown(client, shown)
    assert rows == [register_expected(client, c, residents) for c in shown]


def test_contracts_xlsx_scope_and_order(client, county, register_world):
    ids = register_world
    everything = [r[0] for r in table(client.get("/api/v1/contracts.xlsx", headers=login(client, "admin_all")))[1]]
    assert everything == sorted(ids.values(), reverse=True)
    team_b_only = [ids["bare"], ids["west"]]
    assert [r[0] for r in table(client.get("/api/v1/contracts.xlsx", headers=login(client, "doctor_b")))[1]] == \
        team_b_only
    assert [r[0] for r in table(client.get("/api/v1/contracts.xlsx", headers=login(client, "admin_b")))[1]] == \
        team_b_only
    # Another team's filter shows nothing of theirs, as the JSON list (200, no rows).
    header, rows = table(client.get("/api/v1/contracts.xlsx", headers=login(client, "doctor_b"),
                                    query_string={"team_id": county.team_a.id}))
    assert (header, rows) == (REGISTER_HEADERS, [])
    resp = client.get("/api/v1/contracts.xlsx", headers=resident_headers(db.session.get(Contract, ids["elder"])
                                                                           .resident_id))
    assert resp.status_code == 403 and resp.get_json()["code"] == "FORBIDDEN"
    assert client.get("/api/v1/contracts.xlsx").status_code == 401
    assert client.get("/api/v1/contracts.xlsx", headers=login(client, "admin_all"),
                      query_string={"status": "nonsense"}).status_code == 422


def test_contracts_xlsx_values_and_layout(client, county, register_world):
    ids = register_world
    resp = client.get("/api/v1/contracts.xlsx", headers=login(client, "admin_a"))
    wb = workbook_of(resp)
    ws = wb.active
    assert (wb.sheetnames, ws.freeze_panes, ws.auto_filter.ref) == (["签约花名册"], "A2", "A1:R5")
    letters = [openpyxl.utils.get_column_letter(i) for i in range(1, 19)]
    assert [ws.column_dimensions[x].width for x in letters] == [c.width for c in registers.CONTRACT_REGISTER_COLUMNS]
    assert all(c.font.b for c in ws[1])
    by_id = {row[0].value: row for row in ws.iter_rows(min_row=2)}
    elder = by_id[ids["elder"]]
    assert elder[1].value == "王秀英" and elder[3].value == "138****5678" and elder[7].value == "生效中"
    assert elder[2].value.startswith("131122") and "*" * 8 in elder[2].value
    assert elder[6].value.startswith("基础") and "、" in elder[6].value
    assert (elder[8].value, elder[9].value) == (dt.datetime(2026, 3, 2), dt.datetime(2027, 3, 1))
    assert elder[8].number_format == "yyyy-mm-dd"
    money = [c.value for c in elder[10:16]]
    assert round(money[0] * 100) == 24000 and round(money[1] * 100) == 8800
    assert round(sum(money[2:]) * 100) + round(money[1] * 100) == round(money[0] * 100)
    assert all(c.number_format == "#,##0.00" for c in elder[10:16])
    assert [c.value for c in elder[16:]] == ["现金", "R-0001"]
    poor = by_id[ids["poor"]]
    assert poor[1].value == "=HYPERLINK(\"http://x\")" and poor[1].data_type == "s"   # text, never a formula
    assert (poor[3].value, poor[11].value, poor[16].value, poor[17].value) == (None, 0, None, None)
    assert by_id[ids["applicant"]][7].value == "待团队审核" and by_id[ids["leaver"]][7].value == "已解约"
    assert by_id[ids["leaver"]][16].value == "医保卡"
    assert resp.headers["Content-Disposition"] == (
        f"attachment; filename=\"contracts_{TODAY}.xlsx\"; filename*=UTF-8''{quote(f'签约花名册_{TODAY}.xlsx')}")


def test_contracts_xlsx_is_audited_with_every_resident(client, county, register_world):
    client.get("/api/v1/contracts.xlsx", headers=login(client, "doctor_b"), query_string={"status": "active"})
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "search")).one()
    west = db.session.get(Contract, register_world["west"]).resident_id
    assert row.detail == {"list": "contract_register", "export": "xlsx", "filters": {"status": "active"},
                          "resident_ids": [west]}


def test_empty_register_is_a_file_with_only_the_header(client, county):
    header, rows = table(client.get("/api/v1/contracts.xlsx", headers=login(client, "admin_all")))
    assert (header, rows) == (REGISTER_HEADERS, [])


def test_register_streams_columns_and_batches_package_names(app, client, county, register_world, monkeypatch):
    """No ORM contracts are loaded; package names come in one query per batch of contracts."""
    monkeypatch.setattr(registers, "BATCH", 2)
    admin = db.session.scalar(select(Staff).where(Staff.username == "admin_all"))
    scope = scope_for_staff(admin)
    db.session.expunge_all()
    seen: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        file = registers.contract_register_workbook(scope, {}, app.extensions["pii_cipher"])
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    with file:
        rows = list(openpyxl.load_workbook(file).active.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 6
    assert not [o for o in db.session.identity_map.values() if isinstance(o, Contract)]
    package_lookups = [s for s in seen if "contract_packages" in s]
    assert len(package_lookups) == 3  # 6 contracts, 2 per batch
    assert sum("INSERT INTO audit_logs" in s for s in seen) == 1


def test_openapi_documents_both_exports_as_xlsx(client):
    spec = client.get("/api/openapi.json").get_json()
    for path in ("/api/v1/worklist.xlsx", "/api/v1/contracts.xlsx"):
        ok = spec["paths"][path]["get"]["responses"]["200"]
        assert list(ok["content"]) == [XLSX_MIMETYPE]
        assert ok["content"][XLSX_MIMETYPE]["schema"] == {"type": "string", "format": "binary"}
        assert "Content-Disposition" in ok["headers"]
        params = {p["name"] for p in spec["paths"][path]["get"]["parameters"]}
        assert not params & {"page", "page_size"}
    assert "exports" in {t["name"] for t in spec["tags"]}


def test_every_code_shown_has_its_chinese_label():
    from services.catalog.types import FUNDER_LABELS
    from services.followup.judgement.types import CHRONIC_CLASSIFICATIONS, MENTAL_CLASSIFICATIONS
    from services.models.contract import PAYMENT_METHODS

    assert set(registers.CLASSIFICATION_LABELS) == {*CHRONIC_CLASSIFICATIONS, *MENTAL_CLASSIFICATIONS}
    assert set(registers.PAYMENT_METHOD_LABELS) == set(PAYMENT_METHODS)
    assert set(FUNDER_LABELS) == set(FUNDERS)


# --- the writer ---------------------------------------------------------------------------

def test_writer_kinds_heading_notes_and_frozen_header():
    columns = [Column("编号", 8, "int"), Column("名称"), Column("日期", 12, "date"), Column("时间", 18, "datetime"),
               Column("金额（元）", 14, "money"), Column("平均分", 10, "decimal"), Column("比率", 10, "rate")]
    at = dt.datetime(2026, 3, 2, 2, 30, tzinfo=dt.timezone.utc)
    rows = iter([(1, "甲", dt.date(2026, 3, 2), at, 123456789, 4.5, 0.875), (2, None, None, None, 1, None, None),
                 (3, "bad\x07text", None, None, 0, None, 1)])
    with write_workbook([Sheet("总览", columns, rows, heading="签约服务指标", notes=["统计期：2026-01-01 至 2026-03-02"]),
                         Sheet("空表", columns, iter(()))]) as file:
        wb = openpyxl.load_workbook(file)
    ws = wb["总览"]
    assert (ws.freeze_panes, ws.auto_filter.ref, ws.print_title_rows) == ("A4", "A3:G6", "$3:$3")
    assert ws["A1"].value == "签约服务指标" and ws["A1"].font.b and ws["A2"].value.startswith("统计期")
    assert [c.value for c in ws[3]] == [c.header for c in columns]
    assert ws.column_dimensions["B"].width == 8  # no width given: the header's, at least 8
    values = [c.value for c in ws[4]]
    assert values == [1, "甲", dt.datetime(2026, 3, 2), dt.datetime(2026, 3, 2, 10, 30), 1234567.89, 4.5, 0.875]
    assert [c.number_format for c in ws[4]][2:] == ["yyyy-mm-dd", "yyyy-mm-dd hh:mm", "#,##0.00", "0.00", "0.0%"]
    assert [c.value for c in ws[5]] == [2, None, None, None, 0.01, None, None]
    assert ws["B6"].value == "badtext"
    assert wb["空表"].freeze_panes == "A2" and wb["空表"].max_row == 1


def test_writer_refuses_bad_rows_and_leaves_no_files(monkeypatch):
    with pytest.raises(ValueError, match="unknown column kind"):
        Column("x", kind="yuan")
    before = set(os.listdir(tempfile.gettempdir()))

    def rows():
        yield (1, "a")
        yield (2,)

    with pytest.raises(ValueError, match="a row of 1 values for 2 columns"):
        write_workbook([Sheet("表", [Column("编号", kind="int"), Column("名称")], rows())])
    assert not {f for f in set(os.listdir(tempfile.gettempdir())) - before if f.startswith("openpyxl.")}
    with pytest.raises(ValueError, match="at least one sheet"):
        write_workbook([])
