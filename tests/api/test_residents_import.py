"""Residents in from a spreadsheet: POST /residents/import, the template and the CLI."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from services.core.db import db
from services.core.idcard import make_id_number
from services.models import Resident, RoundPoint
from tests.factories import login, make_resident

HEADERS = ["姓名", "身份证号", "手机号", "住址", "村/社区", "人群标签", "居住起始日期", "所属机构", "巡诊点"]


def person(n: int) -> list:
    number = make_id_number("131122", dt.date(1950, 1, 1) + dt.timedelta(days=n * 37), n % 100, "female")
    return [f"居民{n}", number, f"139{n:08d}", f"东街{n}号", "东村", "高血压患者、低保" if n % 2 else "",
            "", "", ""]


def workbook(rows: list[list], headers: list[str] = HEADERS) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client, headers, data: bytes, filename="居民.xlsx", **query):
    return client.post("/api/v1/residents/import", query_string=query, headers=headers,
                       data={"file": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


def hundred_with_three_bad():
    rows = [person(n) for n in range(1, 101)]
    rows[9][1] = rows[9][1][:-1] + ("0" if rows[9][1][-1] != "0" else "1")  # row 11: checksum
    rows[39][2] = "12345"                                                   # row 41: phone
    rows[69][5] = "高血压、会员"                                             # row 71: unknown tag
    return rows


def count_residents() -> int:
    return db.session.scalar(select(func.count()).select_from(Resident))


@pytest.fixture
def admin(client, world):
    return login(client, "admin_a")


def test_three_bad_rows_among_a_hundred(client, world, admin):
    data = workbook(hundred_with_three_bad())
    before = count_residents()
    dry = upload(client, admin, data, dry_run="true")
    assert dry.status_code == 200, dry.get_json()
    body = dry.get_json()
    assert (body["total_rows"], body["created"], body["updated"], body["failed"], body["written"]) == (
        100, 97, 0, 3, False)
    assert [(e["row"], e["column"], e["code"]) for e in body["errors"]] == [
        (11, "身份证号", "INVALID_ID_NUMBER"), (41, "手机号", "INVALID_PHONE"), (71, "人群标签", "VALIDATION_ERROR")]
    assert all(e["message"] for e in body["errors"])
    assert count_residents() == before  # a dry run writes nothing

    real = upload(client, admin, data)
    body = real.get_json()
    assert real.status_code == 200 and (body["created"], body["failed"], body["written"]) == (97, 3, True)
    assert len(body["rows"]) == 97 and {r["status"] for r in body["rows"]} == {"created"}
    assert count_residents() == before + 97
    first = db.session.get(Resident, body["rows"][0]["resident_id"])
    cipher = client.application.extensions["pii_cipher"]
    assert cipher.decrypt(first.id_number_encrypted) == person(1)[1]
    assert first.institution_id == world.thc_a.id  # blank 所属机构: the admin's own
    assert sorted(first.recorded_tags) == ["hypertension", "minimum_living_allowance"]
    assert first.phone == "13900000001"


def test_reimport_updates_instead_of_doubling(client, world, admin):
    rows = [person(n) for n in range(1, 6)]
    assert upload(client, admin, workbook(rows)).get_json()["created"] == 5
    rows[0][3] = "新地址1号"
    rows[1][2] = ""  # blank: left as it is
    body = upload(client, admin, workbook(rows)).get_json()
    assert (body["created"], body["updated"], body["failed"]) == (0, 5, 0)
    assert count_residents() == 5
    moved = db.session.scalar(select(Resident).where(Resident.name == "居民1"))
    kept = db.session.scalar(select(Resident).where(Resident.name == "居民2"))
    assert moved.address == "新地址1号" and kept.phone == "13900000002"


def test_all_or_nothing_and_duplicates_in_the_file(client, world, admin):
    rows = [person(1), person(2), person(1)]
    body = upload(client, admin, workbook(rows), all_or_nothing="true").get_json()
    assert body["failed"] == 1 and body["written"] is False
    assert body["errors"][0]["row"] == 4 and body["errors"][0]["code"] == "DUPLICATE_IN_FILE"
    assert "第 2 行" in body["errors"][0]["message"]
    assert count_residents() == 0


def test_institution_out_of_scope_and_round_points(client, world, admin):
    db.session.add(RoundPoint(institution_id=world.village_a.id, name="东村二组", village="东村"))
    db.session.commit()
    a, b, c, d = person(1), person(2), person(3), person(4)
    b[7] = "西镇卫生院"                    # another institution's: not in admin_a's scope
    c[7], c[8] = "东村卫生室", "东村二组"     # a village clinic below thc_a, by name, with its round point
    d[7], d[8] = "vil-a", "不存在的点"
    body = upload(client, admin, workbook([a, b, c, d])).get_json()
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(3, "所属机构"), (5, "巡诊点")]
    placed = db.session.scalar(select(Resident).where(Resident.name == "居民3"))
    assert placed.institution_id == world.village_a.id and placed.round_point_id is not None


def test_registered_outside_scope_is_a_row_error(client, world, admin):
    other = make_resident(world.thc_b, name="西镇居民")
    row = person(9)
    row[1] = other.id_number
    body = upload(client, admin, workbook([row])).get_json()
    assert body["errors"][0]["code"] == "RESIDENT_EXISTS" and body["created"] == 0
    assert db.session.get(Resident, other.id).name == "西镇居民"


def test_csv_in_utf8_bom_and_gbk(client, world, admin):
    for encoding, n in (("utf-8-sig", 1), ("gbk", 2)):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        row = person(n)
        row[6] = "2020/05/01"
        writer.writerow(row)
        body = upload(client, admin, out.getvalue().encode(encoding), filename="居民.csv").get_json()
        assert body["created"] == 1, (encoding, body)
    floating = db.session.scalar(select(Resident).where(Resident.name == "居民2"))
    assert floating.floating and floating.residence_since == dt.date(2020, 5, 1)


def test_bad_files_are_clear_422s(client, world, admin):
    resp = upload(client, admin, workbook([person(1)], headers=["姓名", "电话"]))
    body = resp.get_json()
    assert resp.status_code == 422 and body["code"] == "IMPORT_BAD_HEADER"
    assert body["details"]["missing_columns"] == ["身份证号"] and body["details"]["unknown_columns"] == ["电话"]
    for data, name in ((b"not a spreadsheet", "x.xlsx"), (b"\x00\x01", "x.csv"), (b"a,b", "x.pdf")):
        resp = upload(client, admin, data, filename=name)
        assert resp.status_code == 422 and resp.get_json()["code"] == "IMPORT_UNREADABLE", name
    resp = client.post("/api/v1/residents/import", headers=admin, data={}, content_type="multipart/form-data")
    assert resp.status_code == 422 and "file" in resp.get_json()["errors"]
    assert count_residents() == 0


def test_only_admins_import(client, world):
    resp = upload(client, login(client, "doctor_a"), workbook([person(1)]))
    assert resp.status_code == 403 and count_residents() == 0


def test_template(client, world):
    resp = client.get("/api/v1/residents/import/template.xlsx", headers=login(client, "doctor_a"))
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(resp.data))
    sheet = book["居民导入"]
    assert [c.value for c in sheet[1]] == HEADERS and sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["B"].width >= 20
    assert "说明" in book.sheetnames
    # The template itself imports (header only: nothing to do, nothing wrong).
    body = upload(client, login(client, "admin_a"), resp.data).get_json()
    assert (body["total_rows"], body["failed"]) == (0, 0)


def test_cli(app, world, tmp_path):
    path = tmp_path / "居民.xlsx"
    path.write_bytes(workbook(hundred_with_three_bad()))
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["residents", "import", str(path), "--dry-run", "--as", "admin_a"])
    assert dry.exit_code == 1, dry.output
    assert "第 11 行 [身份证号]" in dry.output and "将新建 97" in dry.output
    assert count_residents() == 0
    real = runner.invoke(args=["residents", "import", str(path), "--as", "admin_a"])
    assert "新建 97" in real.output and count_residents() == 97
    nobody = runner.invoke(args=["residents", "import", str(path), "--as", "doctor_a"])
    assert nobody.exit_code == 2 and count_residents() == 97
