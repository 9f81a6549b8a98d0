"""Residents import: a spreadsheet of BENCH_IMPORT_ROWS (default 10,000) valid rows, dry run
and real run, on SQLite (a fresh file) or BENCH_DATABASE_URL (a fresh PostgreSQL schema).

    .venv/bin/python -m bench.residents_import
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.residents_import

The issue's goal: 10,000 rows in under 60 s. The baseline, measured in the same run, is
reading the same file's cells with openpyxl (what any import must at least do).
"""
from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
import time
from contextlib import nullcontext

from openpyxl import Workbook, load_workbook

from bench.run import make_app

HEADERS = ["姓名", "身份证号", "手机号", "住址", "村/社区", "人群标签", "居住起始日期", "所属机构", "巡诊点"]
TAGS = ["", "高血压患者", "低保、脱贫人口", "2型糖尿病患者", "残疾人"]


def spreadsheet(n: int, institution: str) -> bytes:
    from services.core.idcard import make_id_number

    book = Workbook(write_only=True)
    sheet = book.create_sheet("居民导入")
    sheet.append(HEADERS)
    for i in range(n):
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=(i * 7) % 25000)
        number = make_id_number("131122", birth, i % 100, "male" if i % 2 else "female")
        sheet.append([f"居民{i}", number, f"139{i:08d}", f"城关镇{i % 300}号", f"村{i % 40}", TAGS[i % 5],
                      "2020-05-01" if i % 10 == 0 else "", institution, ""])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def main() -> None:
    from bench.worklist import private_schema

    n = int(os.environ.get("BENCH_IMPORT_ROWS", "10000"))
    url = os.environ.get("BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        ctx = private_schema(url, "impbench", "bench.residents_import") if url else nullcontext((None, None))
        with ctx as (schema, _shown):
            if url:
                app = make_app(url, {"connect_args": {"options": f"-csearch_path={schema}"}})
            else:
                app = make_app(f"sqlite:///{tmp}/import.db", None)
            _run(app, n, url or "SQLite (file)")


def _run(app, n: int, where: str) -> None:
    from services import residents
    from services.access.scope import scope_for_staff
    from services.core.db import db
    from services.demo.seed import seed_demo
    from services.models import Institution, Staff

    cipher = app.extensions["pii_cipher"]
    with app.app_context():
        seed_demo(cipher)
        db.session.commit()
        admin = db.session.query(Staff).filter_by(username="demo_admin").one()
        scope = scope_for_staff(admin)
        township = db.session.query(Institution).filter_by(type="township_health_center").order_by(Institution.id)
        data = spreadsheet(n, township.first().name)  # 所属机构 by name: the community admin has no own
        t0 = time.perf_counter()
        book = load_workbook(io.BytesIO(data), read_only=True)
        cells = sum(1 for _ in book.worksheets[0].iter_rows(values_only=True))
        book.close()
        read_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        dry = residents.import_residents("居民.xlsx", io.BytesIO(data), scope, cipher, dry_run=True)
        db.session.rollback()
        dry_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        real = residents.import_residents("居民.xlsx", io.BytesIO(data), scope, cipher, dry_run=False)
        db.session.commit()
        real_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = residents.import_residents("居民.xlsx", io.BytesIO(data), scope, cipher, dry_run=False)
        db.session.commit()
        again_s = time.perf_counter() - t0
    print(f"\nResidents import of {n:,} rows ({len(data) / 1e6:.1f} MB .xlsx) on {where}")
    print(f"{'run':34} | {'seconds':>8} | {'rows/s':>8} | {'÷ reading the file':>18}")
    for name, s, report in (("read the cells only (baseline)", read_s, None), ("dry run (validate)", dry_s, dry),
                            ("real run (create)", real_s, real), ("same file again (update)", again_s, again)):
        extra = f"  created {report.created}, updated {report.updated}, failed {report.failed}" if report else \
            f"  {cells - 1:,} rows"
        print(f"{name:34} | {s:8.2f} | {n / s:8.0f} | {s / read_s:18.1f}{extra}")
    print(f"goal: {n:,} rows in under 60 s: {'met' if real_s < 60 and again_s < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
