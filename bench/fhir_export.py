"""County-scale benchmark of the FHIR Bulk Data export (PostgreSQL).

    .venv/bin/python -m bench.fhir_export
    BENCH_SCALE=0.02 .venv/bin/python -m bench.fhir_export      # quick run

Builds the county of bench.overview (400,000 residents, 120 teams, a year of
visits, contracts with their entitlements and deliveries; all times
BENCH_SCALE) in a throwaway schema, then runs one whole-county export
(services.exports.fhir.bulk.run_export, every resource type, as the worker
does) and prints per type the resources, bytes and rate, the total time, and
the peak memory of the process before and after the export (maximum RSS). The baseline, measured in the same run, is PostgreSQL
writing the same tables' rows as JSON lines (`row_to_json`) to files: reading
and serialising without any mapping. Goal: the whole county in under 5 minutes
with memory flat.
"""
from __future__ import annotations

import datetime as dt
import os
import resource
import shutil
import tempfile
import time

import sqlalchemy as sa

from bench.overview import build_county
from bench.worklist import DEFAULT_URL, _make_app, _sizes, private_schema

BASELINE_TABLES = ("institutions", "staff", "teams", "residents", "program_enrolments", "followups", "slots",
                   "appointments", "contracts")


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    scale = float(os.environ.get("BENCH_SCALE", "1.0"))
    started = time.perf_counter()
    with private_schema(url, "fhbench", "bench.fhir_export") as (schema, shown):
        _run(_make_app(url, schema), _sizes(scale), scale, shown)
    print(f"\ntotal runtime {time.perf_counter() - started:.1f}s (schema {schema} dropped)")


def _run(app, sizes: dict, scale: float, shown: str) -> None:
    from services.core import clock
    from services.core.db import db
    from services.exports.fhir import bulk
    from services.models import FhirExport

    today = clock.today()
    out_dir = tempfile.mkdtemp(prefix="fhir-bench-")
    try:
        with app.app_context():
            engine = db.engine
            t0 = time.perf_counter()
            steps = build_county(engine, sizes, today)
            cipher = app.extensions["pii_cipher"]
            with engine.begin() as conn:  # one real ciphertext for every resident (the generator writes a placeholder)
                conn.execute(sa.text("UPDATE residents SET id_number_encrypted = :c"),
                             {"c": cipher.encrypt("131122195005170012")})
            gen_s = time.perf_counter() - t0
            with engine.connect() as conn:
                counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                          for t in ("residents", "program_enrolments", "followups", "contracts",
                                    "contract_entitlements")}
            print(f"\nFHIR Bulk Data export on {shown} (scale {scale:g}), today {today.isoformat()}")
            print(f"generated in {gen_s:.1f}s (" + ", ".join(f"{n} {s:.1f}s" for n, s in steps) + ")")
            print("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))

            # baseline: PostgreSQL writes each table's rows as JSON lines, read over the wire to a file
            t0 = time.perf_counter()
            base_bytes = 0
            raw = engine.raw_connection()
            try:
                cur = raw.cursor()
                for table in BASELINE_TABLES:
                    path = os.path.join(out_dir, f"baseline-{table}.ndjson")
                    with open(path, "wb") as f, cur.copy(f"COPY (SELECT row_to_json(t) FROM {table} t) TO STDOUT") \
                            as copy:
                        for data in copy:
                            f.write(data)
                    base_bytes += os.path.getsize(path)
            finally:
                raw.close()
            base_s = time.perf_counter() - t0

            # the export, as the worker runs it
            settings = bulk.BulkSettings(directory=os.path.join(out_dir, "exports"))
            export = FhirExport(id="b" * 32, status="queued", requested_by_id=1, community_id=1,
                                institution_ids=list(db.session.scalars(sa.text("SELECT id FROM institutions"))),
                                types=list(bulk.RESOURCE_TYPES), request_url="bench", transaction_time=clock.now(),
                                expires_at=clock.now() + dt.timedelta(hours=1))
            db.session.add(export)
            db.session.commit()
            rss_before = _maxrss_mb()
            t0 = time.perf_counter()
            status = bulk.run_export(export.id, settings, cipher)
            export_s = time.perf_counter() - t0
            rss_after = _maxrss_mb()
            db.session.expire_all()
            export = db.session.get(FhirExport, "b" * 32)
            folder = os.path.join(settings.directory, export.id)
            total_n = total_b = 0
            print(f"\nexport status: {status}")
            print(f"{'type':18} | {'resources':>10} | {'MB':>8}")
            print(f"{'-' * 18}-+-{'-' * 10}-+-{'-' * 8}")
            for o in export.output:
                size = os.path.getsize(os.path.join(folder, o["file"]))
                total_n += o["count"]
                total_b += size
                print(f"{o['type']:18} | {o['count']:10,} | {size / 1e6:8.1f}")
            print(f"{'total':18} | {total_n:10,} | {total_b / 1e6:8.1f}")
            print(f"\nexport: {export_s:.1f}s, {total_n / export_s:,.0f} resources/s, {total_b / 1e6 / export_s:.1f} MB/s")
            print(f"baseline (PostgreSQL row_to_json of the same tables): {base_s:.1f}s, {base_bytes / 1e6:.1f} MB")
            print(f"export / baseline: {export_s / base_s:.1f}x")
            print(f"peak memory of the process (max RSS): {rss_before:.0f} MB before the export, "
                  f"{rss_after:.0f} MB after (growth {rss_after - rss_before:.0f} MB)")
            print(f"goal: the whole county in under 300 s: {'met' if export_s < 300 else 'NOT met'}")
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
