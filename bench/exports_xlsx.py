"""The contract register as Excel (GET /contracts.xlsx) at county scale: time,
rows per second and peak memory, next to the plain SELECT of the same rows.

    .venv/bin/python -m bench.exports_xlsx                                   # SQLite, 5,000 contracts
    BENCH_EXPORT_CONTRACTS=100000 .venv/bin/python -m bench.exports_xlsx
    BENCH_EXPORT_CONTRACTS=100000 BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m bench.exports_xlsx

Builds a fresh database through the migrations (SQLite in a temporary
directory, or a temporary schema of BENCH_DATABASE_URL, dropped at the end),
loads the package catalog and one county (4 townships, 40 teams), then
BENCH_EXPORT_CONTRACTS residents with real encrypted ID numbers and phones,
each with one contract of one to three packages (basic plus personalised ones,
every money column filled; half active, half expired), in batches of plain
INSERTs. Then, median of BENCH_REPEAT runs each, as the community admin
(every row):

  baseline   the register's own SELECT (same columns, joins, scope and order),
             streamed and every row touched: what reading the rows costs;
  rows       that plus each batch's package names and the masked ID number
             and phone of every row, not written (the writer swapped out);
  export     the whole export: rows written as a workbook to a temporary file;
  HTTP       GET /contracts.xlsx through the app (sign-in, audit, send_file).

Each with rows/s and its time as a multiple of the baseline; then the peak
memory Python allocated (tracemalloc, a separate run: it slows Python down)
for the export of the active half and of every row, with the file's size.
Flat memory means the peak hardly moves between the two: the rows are
streamed, only the audit's list of resident ids grows with them (the register
decrypts every ID number each time, past the cipher's cache of masked numbers).
Compare the ratios, not the seconds, between machines.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import statistics
import tempfile
import time
import tracemalloc
from contextlib import contextmanager

import sqlalchemy as sa

from bench.run import make_app
from bench.worklist import private_schema

BATCH_INSERT = 5000
PASSWORD = "bench-export-password"
PERSONALISED = ("elderly", "hypertension", "diabetes", "tcm", "disabled")


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


# --- the county ---------------------------------------------------------------------

def _generate(app, n: int) -> dict:
    """One community, 4 townships with 10 teams each, the community admin; n residents
    with one contract each. Returns what the runs need."""
    from werkzeug.security import generate_password_hash

    from services.catalog import versions as catalog
    from services.catalog.files import CATALOG_DIR, load_directory
    from services.catalog.types import FUNDERS
    from services.core.db import db
    from services.models import (
        Contract,
        ContractPackage,
        Institution,
        MedicalCommunity,
        PackageVersion,
        Resident,
        Staff,
        Team,
    )

    rng = random.Random(20261202)
    cipher = app.extensions["pii_cipher"]
    catalog.load_catalog(load_directory(CATALOG_DIR))
    community = MedicalCommunity(code="bench", name="基准县医共体")
    db.session.add(community)
    db.session.flush()
    county = Institution(community_id=community.id, code="county", name="基准县人民医院", type="county_hospital")
    db.session.add(county)
    db.session.flush()
    townships = [Institution(community_id=community.id, parent_id=county.id, code=f"thc-{i}", name=f"第{i}镇卫生院",
                             type="township_health_center") for i in range(1, 5)]
    db.session.add_all(townships)
    db.session.flush()
    teams = [Team(institution_id=t.id, code=f"team-{t.id}-{k}", name=f"{t.name}家庭医生{k}队")
             for t in townships for k in range(1, 11)]
    db.session.add_all(teams)
    db.session.add(Staff(username="bench_admin", name="基准管理员", password_hash=generate_password_hash(PASSWORD),
                         role="admin",
                         community_id=community.id, active=True))
    db.session.flush()
    versions = {v.code: v for v in db.session.scalars(sa.select(PackageVersion))}
    funding = {code: v.definition.get("funding", {}) for code, v in versions.items()}

    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    given = "秀英桂兰建国建华志强丽娟明军红梅玉兰淑珍海燕春梅小红伟芳娜敏静磊洋勇艳杰娟涛超霞平刚"
    now = dt.datetime.now(dt.timezone.utc)
    start_day = dt.date(2026, 1, 1)
    loaded = 0
    for first in range(0, n, BATCH_INSERT):
        size = min(BATCH_INSERT, n - first)
        residents, contracts, packages = [], [], []
        for i in range(first, first + size):
            rid = i + 1
            birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 34000))
            sex = rng.choice(("male", "female"))
            number = _id_number(i, birth, sex)
            team = teams[i % len(teams)]
            residents.append({
                "id": rid, "institution_id": team.institution_id,
                "name": rng.choice(surnames) + "".join(rng.choice(given) for _ in range(rng.choice((1, 2)))),
                "id_number_encrypted": cipher.encrypt(number), "id_number_hash": cipher.lookup_hash(number),
                "birth_date": birth, "sex": sex, "phone": f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
                "village": f"第{i % 200}村", "floating": False, "sms_opt_out": False, "created_at": now,
                "updated_at": now})
            codes = ["basic", *rng.sample(PERSONALISED, rng.randrange(0, 3))]
            chosen = [versions[c] for c in codes]
            split = {f: sum(int(funding[c].get(f, 0)) for c in codes) for f in FUNDERS}
            list_value = sum(v.list_value_fen for v in chosen)
            self_pay = list_value - sum(split.values())
            active = i % 2 == 0
            starts = start_day if active else dt.date(2025, 1, 1)
            contracts.append({
                "id": rid, "resident_id": rid, "team_id": team.id, "status": "active" if active else "expired",
                "starts_on": starts, "ends_on": starts.replace(year=starts.year + 1) - dt.timedelta(days=1),
                "created_at": now, "updated_at": now, "term_months": 12, "applied_by": "staff",
                "list_value_fen": list_value, "self_pay_fen": self_pay, "funding": split,
                "payment_amount_fen": self_pay, "payment_method": rng.choice(("cash", "wechat")),
                "receipt_no": f"R-{rid:07d}", "paid_at": now})
            for v in chosen:
                packages.append({
                    "contract_id": rid, "package_version_id": v.id, "code": v.code, "version": v.version,
                    "name": v.name, "kind": v.kind, "list_value_fen": v.list_value_fen,
                    "funding": funding[v.code], "self_pay_fen": v.self_pay_fen, "waiver": None,
                    "definition": {}})
        db.session.execute(sa.insert(Resident), residents)
        db.session.execute(sa.insert(Contract), contracts)
        db.session.execute(sa.insert(ContractPackage), packages)
        loaded += size
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("residents", "contracts", "contract_packages", "teams", "institutions"):
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
            for table in ("residents", "contracts"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    return {"loaded": loaded}


def _id_number(i: int, birth: dt.date, sex: str) -> str:
    """A valid ID number, unique per i: the area code counts i's hundreds, the sequence its units."""
    from services.core.idcard import make_id_number

    return make_id_number(f"{100000 + i // 100:06d}", birth, i % 100, sex)


# --- the runs -----------------------------------------------------------------------

def _median_s(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


@contextmanager
def _writer_swapped_out():
    """The register's rows consumed but not written (the masking and package names still run)."""
    from services.exports import registers

    real = registers.write_workbook

    def consume(sheets):
        for sheet in sheets:
            for _ in sheet.rows:
                pass
        return tempfile.TemporaryFile()

    registers.write_workbook = consume
    try:
        yield
    finally:
        registers.write_workbook = real


def _peak(fn) -> tuple[int, object]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def _run(app, n: int, repeat: int, where: str) -> None:
    from services.access.scope import scope_for_staff
    from services.core.db import db
    from services.exports import registers
    from services.models import Staff

    with app.app_context():
        t0 = time.perf_counter()
        _generate(app, n)
        load_s = time.perf_counter() - t0
        cipher = app.extensions["pii_cipher"]
        admin = db.session.scalar(sa.select(Staff).where(Staff.username == "bench_admin"))
        scope = scope_for_staff(admin)
        rows_total = db.session.scalar(sa.select(sa.func.count()).select_from(
            registers.contract_register_query(scope, {}).subquery()))

        def baseline():
            count = 0
            for row in registers._stream(registers.contract_register_query(scope, {})):
                count += row.id > 0
            db.session.rollback()
            return count

        def export(filters=None):
            def run():
                file = registers.contract_register_workbook(scope, filters or {}, cipher)
                size = os.fstat(file.fileno()).st_size
                file.close()
                db.session.rollback()  # the audit row
                return size
            return run

        def rows_only():
            with _writer_swapped_out():
                export()()

        baseline()  # warm-up (caches, statement compilation)
        base_s = _median_s(baseline, repeat)
        rows_s = _median_s(rows_only, repeat)
        export_s = _median_s(export(), repeat)

    client = app.test_client()
    token = client.post("/api/v1/auth/staff/login", json={"username": "bench_admin", "password": PASSWORD}
                        ).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def http():
        resp = client.get("/api/v1/contracts.xlsx", headers=headers)
        assert resp.status_code == 200, resp.status_code
        resp.close()

    http_s = _median_s(http, repeat)

    with app.app_context():
        half_peak, half_size = _peak(export({"status": "active"}))
        full_peak, full_size = _peak(export())
        base_peak, _ = _peak(baseline)

    print(f"\nContract register export (GET /contracts.xlsx): {rows_total} contracts on {where}, "
          f"generated in {load_s:.1f}s, median of {repeat} runs, every row (community admin)")
    print(f"{'operation':52} {'s':>8} {'rows/s':>10} {'x baseline':>11}")
    for name, secs in (("baseline: the register's SELECT, streamed", base_s),
                       ("rows: + package names, masked ID number and phone", rows_s),
                       ("export: + written as .xlsx (service)", export_s),
                       ("HTTP: GET /contracts.xlsx (test client)", http_s)):
        print(f"{name:52} {secs:8.2f} {rows_total / secs:10,.0f} {secs / base_s:11.1f}")
    print("\nPeak memory allocated by Python (tracemalloc)")
    print(f"{'baseline SELECT, every row':40} {base_peak / 2**20:8.1f} MB")
    print(f"{'export of the active half':40} {half_peak / 2**20:8.1f} MB  file {half_size / 2**20:6.1f} MB  "
          f"({rows_total // 2 + rows_total % 2} rows)")
    print(f"{'export of every row':40} {full_peak / 2**20:8.1f} MB  file {full_size / 2**20:6.1f} MB  "
          f"({rows_total} rows)")
    grown = max(0, full_peak - half_peak) / max(1, rows_total - rows_total // 2 - rows_total % 2)
    print(f"{'peak growth per extra row':40} {grown:8.0f} bytes")


def main() -> None:
    n = _env_int("BENCH_EXPORT_CONTRACTS", 5000)
    repeat = _env_int("BENCH_REPEAT", 3)
    url = os.environ.get("BENCH_DATABASE_URL")
    started = time.perf_counter()
    if url:
        with private_schema(url, "xlsxbench", "bench.exports_xlsx") as (schema, shown):
            app = make_app(url, {"connect_args": {"options": f"-csearch_path={schema}"}})
            _run(app, n, repeat, shown)
            with app.app_context():
                from services.core.db import db

                db.engine.dispose()
    else:
        tmp = tempfile.mkdtemp(prefix="fdbench-xlsx-")
        try:
            app = make_app(f"sqlite:///{tmp}/bench.db", None)
            _run(app, n, repeat, "SQLite")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ntotal runtime {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
