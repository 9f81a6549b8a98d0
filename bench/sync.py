"""Offline sync at county scale (PostgreSQL): pull and push, each next to the
bare SQL that reads or writes the same rows, measured in the same run.

    .venv/bin/python -m bench.sync
    BENCH_SCALE=0.05 .venv/bin/python -m bench.sync          # quick run
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test BENCH_REPEAT=15 ...

On the county of `bench.worklist` (400,000 residents, 120 teams, a year of
visits; times BENCH_SCALE) it adds an active contract with three
entitlements for nine residents in ten (a team's panel is then about 3,000
residents), a fortnight of sessions and bookings for the measured team,
real encrypted ID numbers, phones and addresses for its residents, and the
package catalog; then writes the sync feed from the tables (`sync.rebuild`).
It measures, through the app's HTTP stack in-process (a signed-in doctor of
the team):

1. the first full pull of the team's panel: pages of 1,000, bytes with and
   without gzip, server time, next to the bare SELECTs of the same rows;
2. an empty delta pull (median of BENCH_REPEAT), next to the bare feed query;
3. a delta after 50 residents changed, next to the feed query plus reading
   those 50 rows;
4. a push of 200 follow-ups for 200 patients of the team, next to the bare
   path per record: lock the enrolment, read its earlier visits, judge with
   the same rules engine, INSERT the visit, UPDATE the enrolment, COMMIT.

The schema is dropped at the end, also on failure.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import time
import uuid

import sqlalchemy as sa

from bench.run import median_ms
from bench.worklist import DEFAULT_URL, _generate, _make_app, _sizes, private_schema

PUSH_RECORDS = 200
CHANGED_RESIDENTS = 50


def _contracts_and_bookings(conn, team: int, today: dt.date) -> None:
    """Contracts for 9 residents in 10 (their enrolment's team), three entitlements each,
    and a fortnight of the measured team's sessions, half of them booked."""
    text = sa.text
    conn.execute(text("""
        INSERT INTO contracts (resident_id, team_id, status, starts_on, ends_on, created_at, term_months,
                               applied_by, list_value_fen, self_pay_fen, funding, updated_at)
        SELECT r.id, 1 + r.id % (SELECT count(*) FROM teams), 'active', CAST(:today AS date) - (r.id % 300),
               CAST(:today AS date) - (r.id % 300) + 364, now(), 12, 'staff', 4000, 800,
               CAST('{"medical_insurance": 1600, "public_health": 1600}' AS json), now()
        FROM residents r WHERE r.id % 10 <> 0"""), {"today": today})
    conn.execute(text("""
        INSERT INTO contract_entitlements (contract_id, item_code, name, package_codes, promised, used,
                                           unit_value_fen)
        SELECT c.id, i.code, i.name, CAST('["basic"]' AS json), i.promised, c.id % (i.promised + 1), 200
        FROM contracts c CROSS JOIN (VALUES ('bp_check', '血压测量', 4), ('health_assessment', '年度健康评估', 1),
                                            ('health_consultation', '健康咨询与健康教育', 4)) AS i(code, name, promised)
        """))
    conn.execute(text("""
        INSERT INTO slots (team_id, staff_id, kind, starts_at, ends_at, capacity, booked, audience, status,
                           created_at)
        SELECT :t, :t, 'clinic', d + time '08:30', d + time '11:30', 30, 15, 'everyone', 'open', now()
        FROM generate_series(CAST(:today AS date) + 1, CAST(:today AS date) + 14, interval '1 day') AS d"""),
        {"t": team, "today": today})
    conn.execute(text("""
        INSERT INTO appointments (slot_id, resident_id, status, booked_by, created_at, updated_at)
        SELECT s.id, c.resident_id, 'booked', 'staff', now(), now()
        FROM slots s JOIN LATERAL (SELECT resident_id FROM contracts WHERE team_id = :t AND status = 'active'
                                   ORDER BY resident_id OFFSET (s.id % 50) * 15 LIMIT 15) c ON true
        WHERE s.team_id = :t"""), {"t": team})
    conn.execute(text("""
        INSERT INTO round_points (institution_id, name, village, address, active, created_at)
        SELECT (SELECT institution_id FROM teams WHERE id = :t), 'V' || g || ' 巡诊点', 'V' || g,
               '某镇 V' || g || ' 村委会', true, now()
        FROM generate_series(1, 6) g"""), {"t": team})


def _real_identities(app, conn, team: int) -> int:
    """The measured team's residents get real encrypted ID numbers, phones and addresses."""
    from services.core.idcard import make_id_number

    cipher = app.extensions["pii_cipher"]
    rows = conn.execute(sa.text("""
        SELECT r.id, r.birth_date, r.sex FROM residents r
        WHERE r.id IN (SELECT resident_id FROM contracts WHERE team_id = :t AND status = 'active'
                       UNION SELECT resident_id FROM program_enrolments WHERE team_id = :t AND status = 'active')"""),
        {"t": team}).all()
    params = []
    for r in rows:
        number = make_id_number(f"13{1100 + (r.id // 100) % 8900:04d}", r.birth_date, r.id % 100, r.sex)
        params.append({"id": r.id, "enc": cipher.encrypt(number), "h": cipher.lookup_hash(number),
                       "phone": f"139{r.id % 100_000_000:08d}", "addr": f"青禾县某镇 V{r.id % 600} 村 {r.id % 9 + 1} 组 "
                                                                          f"{r.id % 97 + 1} 号"})
    conn.execute(sa.text("UPDATE residents SET id_number_encrypted = :enc, id_number_hash = :h, phone = :phone, "
                         "address = :addr WHERE id = :id"), params)
    return len(rows)


def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    scale = float(os.environ.get("BENCH_SCALE", "1.0"))
    repeat = int(os.environ.get("BENCH_REPEAT", "15"))
    started = time.perf_counter()
    with private_schema(url, "syncbench", "bench.sync") as (schema, shown):
        _run(_make_app(url, schema), _sizes(scale), scale, repeat, shown)
    print(f"\ntotal runtime {time.perf_counter() - started:.1f}s (schema {schema} dropped)")


def _run(app, sizes: dict[str, int], scale: float, repeat: int, shown: str) -> None:
    from app.auth import issue_tokens
    from services import sync
    from services.core import clock
    from services.core.db import db
    from tests.factories import load_catalog

    today = clock.today()
    with app.app_context():
        engine = db.engine
        t0 = time.perf_counter()
        with engine.begin() as conn:
            _generate(conn, sizes, today)
            # the measured team: the one with the most hypertension patients (the push needs 400)
            team = conn.execute(sa.text(
                "SELECT team_id FROM program_enrolments WHERE status = 'active' AND program = 'hypertension' "
                "GROUP BY team_id ORDER BY count(*) DESC, team_id LIMIT 1")).scalar_one()
            _contracts_and_bookings(conn, team, today)
            real = _real_identities(app, conn, team)
        load_catalog()
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        sync.rebuild(db.session)
        db.session.commit()
        feed_rows = db.session.scalar(sa.text("SELECT count(*) FROM sync_feed"))
        rebuild_s = time.perf_counter() - t0
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("residents", "program_enrolments", "followups", "contracts", "contract_entitlements",
                          "slots", "appointments", "sync_feed"):
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
            counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                      for t in ("residents", "contracts", "contract_entitlements", "program_enrolments",
                                "followups", "appointments", "sync_feed")}
        print(f"\nOffline sync on {shown} (scale {scale:g}), today {today.isoformat()}, median of {repeat} runs")
        print(f"generated in {gen_s:.1f}s; feed written from the tables in {rebuild_s:.1f}s ({feed_rows:,} rows)")
        print("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))

        client = app.test_client()
        token = issue_tokens("staff", team, "doctor")["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        gz_headers = {**headers, "Accept-Encoding": "gzip"}

        # 1. the first full pull
        def full_pull():
            cursor, pages, raw, packed, changes = None, 0, 0, 0, []
            while True:
                resp = client.get("/api/v1/sync/pull", headers=gz_headers,
                                  query_string={"limit": 1000, **({"cursor": cursor} if cursor else {})})
                assert resp.status_code == 200, resp.data[:300]
                body = gzip.decompress(resp.data) if resp.headers.get("Content-Encoding") == "gzip" else resp.data
                packed, raw, pages = packed + len(resp.data), raw + len(body), pages + 1
                page = json.loads(body)
                changes += page["changes"]
                cursor = page["cursor"]
                if not page["has_more"]:
                    return cursor, pages, raw, packed, changes

        bare_full = [
            ("residents", "SELECT r.* FROM residents r WHERE r.id IN (SELECT resident_id FROM contracts WHERE "
                          "team_id = :t AND status IN ('pending','awaiting_payment','scheduled','active') UNION "
                          "SELECT resident_id FROM program_enrolments WHERE team_id = :t AND status = 'active')"),
            ("enrolments", "SELECT * FROM program_enrolments WHERE team_id = :t AND status = 'active'"),
            ("contracts", "SELECT c.*, e.* FROM contracts c JOIN contract_entitlements e ON e.contract_id = c.id "
                          "WHERE c.team_id = :t AND c.status = 'active'"),
            ("appointments", "SELECT a.*, s.starts_at, r.name FROM appointments a JOIN slots s ON s.id = a.slot_id "
                             "JOIN residents r ON r.id = a.resident_id WHERE s.team_id = :t "
                             "AND a.status <> 'cancelled' AND s.starts_at >= :lo AND s.starts_at < :hi"),
        ]
        lo, hi = clock.day_bounds(today, today + dt.timedelta(days=14))

        def bare_full_read():
            with engine.connect() as conn:
                return {name: len(conn.execute(sa.text(sql), {"t": team, "lo": lo, "hi": hi}).all())
                        for name, sql in bare_full}

        t0 = time.perf_counter()
        cursor, pages, raw, packed, changes = full_pull()
        full_ms = (time.perf_counter() - t0) * 1000
        bare_counts = bare_full_read()
        bare_full_ms = median_ms(bare_full_read, max(3, repeat // 3))
        kinds: dict[str, int] = {}
        for c in changes:
            kinds[c["type"]] = kinds.get(c["type"], 0) + 1
        panel = kinds.get("resident", 0)
        print(f"\nteam {team}: panel of {panel:,} residents ({real:,} given real identities); first pull: "
              f"{len(changes):,} changes in {pages} pages (" + ", ".join(f"{k} {n:,}" for k, n in kinds.items()) + ")")
        print(f"  bytes: {raw / 1e6:.2f} MB as JSON, {packed / 1e6:.3f} MB with gzip "
              f"({packed / max(panel, 1):.0f} B gzip per resident)")
        matches = (panel == bare_counts["residents"] and kinds.get("enrolment", 0) == bare_counts["enrolments"]
                   and kinds.get("contract", 0) * 3 == bare_counts["contracts"]
                   and kinds.get("appointment", 0) == bare_counts["appointments"])
        print(f"  same rows as the bare SELECTs: {'yes' if matches else 'no'} {bare_counts}")

        # 2. an empty delta
        def empty_delta():
            body = client.get("/api/v1/sync/pull", headers=headers, query_string={"cursor": cursor}).get_json()
            assert body["changes"] == [], body["changes"][:2]

        position = json.loads(_b64(cursor))
        feed_sql = sa.text("""
            SELECT kind, entity_id, version, xid, deleted FROM sync_feed
            WHERE team_id IN (:t, 0) AND (xid, version) > (:x, :v)
              AND xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
            ORDER BY xid, version LIMIT 1000""")

        def bare_feed():
            with engine.connect() as conn:
                return conn.execute(feed_sql, {"t": team, "x": position["x"], "v": position["v"]}).all()

        def healthz():
            client.get("/healthz")

        empty_ms, bare_empty_ms, health_ms = (median_ms(empty_delta, repeat), median_ms(bare_feed, repeat),
                                              median_ms(healthz, repeat))

        # 3. a delta after 50 residents changed (one transaction each, through the ORM as the app writes)
        from services.models import Resident
        panel_ids = [c["id"] for c in changes if c["type"] == "resident"][:CHANGED_RESIDENTS]
        for rid in panel_ids:
            db.session.get(Resident, rid).address = f"改过的地址 {rid}"
            db.session.commit()

        def delta_50():
            body = client.get("/api/v1/sync/pull", headers=headers, query_string={"cursor": cursor}).get_json()
            assert len([c for c in body["changes"] if c["type"] == "resident"]) == len(panel_ids)

        def bare_delta_50():
            rows = bare_feed()
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT * FROM residents WHERE id = ANY(:ids)"),
                             {"ids": [r.entity_id for r in rows if r.kind == "resident"]}).all()

        delta_ms, bare_delta_ms = median_ms(delta_50, repeat), median_ms(bare_delta_50, repeat)

        # 4. a push of 200 follow-ups, and the bare path for 200 others
        with engine.connect() as conn:
            patients = conn.execute(sa.text(
                "SELECT id, resident_id FROM program_enrolments WHERE team_id = :t AND status = 'active' "
                "AND program = 'hypertension' ORDER BY id LIMIT :n"), {"t": team, "n": PUSH_RECORDS * 2}).all()
        pushed, bare = patients[:PUSH_RECORDS], patients[PUSH_RECORDS:]
        records = [{"uuid": str(uuid.uuid4()), "type": "followup", "client_time": clock.now().isoformat(),
                    "data": {"resident_id": p.resident_id, "program": "hypertension",
                             "visit_date": today.isoformat(), "visit_mode": "home",
                             "sbp": 128 + i % 30, "dbp": 80 + i % 15}} for i, p in enumerate(pushed)]
        t0 = time.perf_counter()
        resp = client.post("/api/v1/sync/push", headers=headers, json={"records": records})
        push_ms = (time.perf_counter() - t0) * 1000
        assert resp.status_code == 200, resp.get_json()
        statuses = [r["status"] for r in resp.get_json()["results"]]
        t0 = time.perf_counter()
        _bare_push(app, engine, bare, today)
        bare_push_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        again = client.post("/api/v1/sync/push", headers=headers, json={"records": records}).get_json()["results"]
        replay_ms = (time.perf_counter() - t0) * 1000
        print(f"push: {statuses.count('created')} of {len(records)} created; pushed again: "
              f"{sum(r['status'] == 'duplicate' for r in again)} duplicates")

        print(f"\n{'operation':52} | {'app ms':>9} | {'bare SQL ms':>11} | {'app / SQL':>9}")
        print(f"{'-' * 52}-+-{'-' * 9}-+-{'-' * 11}-+-{'-' * 9}")
        for name, a, h in (
                (f"first full pull, {panel:,} residents, {pages} pages", full_ms, bare_full_ms),
                ("empty delta pull (HTTP)", empty_ms, bare_empty_ms),
                (f"delta pull after {len(panel_ids)} changed residents (HTTP)", delta_ms, bare_delta_ms),
                (f"push of {len(records)} follow-ups, judged (HTTP)", push_ms, bare_push_ms),
                (f"the same push again: {len(records)} duplicates (HTTP)", replay_ms, bare_push_ms)):
            print(f"{name:52} | {a:9.2f} | {h:11.2f} | {a / h:9.2f}")
        print(f"(GET /healthz through the same stack: {health_ms:.2f} ms; the empty delta is "
              f"{empty_ms / health_ms:.2f}x it)")


def _b64(token: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _bare_push(app, engine, patients, today: dt.date) -> None:
    """Per record, what storing a judged visit needs at the least, each in its own transaction."""
    from services.core.idcard import age_on
    from services.followup.judgement.engine import assess_visit
    from services.followup.judgement.types import Visit
    from services.followup.visits import _assessment_of, _visit_from_row

    rules = app.extensions["followup_rules"]
    for i, p in enumerate(patients):
        with engine.begin() as conn:
            e = conn.execute(sa.text(
                "SELECT e.id, e.team_id, e.system_due_date, r.birth_date FROM program_enrolments e "
                "JOIN residents r ON r.id = e.resident_id WHERE e.id = :e FOR UPDATE OF e"), {"e": p.id}).one()
            earlier = conn.execute(sa.text(
                "SELECT * FROM followups WHERE enrolment_id = :e AND visit_date <= :d "
                "ORDER BY visit_date DESC, id DESC"), {"e": p.id, "d": today}).all()
            visit = Visit(program="hypertension", visit_date=today, visit_mode="home", not_reached=False,
                          symptoms=frozenset(), sbp=128 + i % 30, dbp=80 + i % 15)
            previous = [(_visit_from_row(r), _assessment_of(r)) for r in earlier]
            a = assess_visit(visit, previous, age_on(e.birth_date, today), rules,
                             earlier[0].next_due_date if earlier else e.system_due_date)
            conn.execute(sa.text("""
                INSERT INTO followups (enrolment_id, resident_id, team_id, program, visit_date, visit_mode,
                    not_reached, sbp, dbp, details, classification, at_target, referral, reasons, next_due_date,
                    rules_version, recorded_by_id, created_at)
                VALUES (:e, :r, :t, 'hypertension', :d, 'home', false, :sbp, :dbp, CAST('{}' AS json), :c, :at,
                        :ref, CAST(:reasons AS json), :due, :rv, :t, now())"""),
                {"e": p.id, "r": p.resident_id, "t": e.team_id, "d": today, "sbp": visit.sbp, "dbp": visit.dbp,
                 "c": a.classification, "at": a.at_target, "ref": a.referral, "reasons": json.dumps(list(a.reasons)),
                 "due": a.next_due_date, "rv": a.rules_version})
            conn.execute(sa.text(
                "UPDATE program_enrolments SET system_due_date = :due, next_due_date = :due, last_visit_date = :d, "
                "last_assessment = CAST(:a AS json), last_referral = :ref, updated_at = now() WHERE id = :e"),
                {"due": a.next_due_date, "d": today, "a": json.dumps(a.to_dict(), default=str), "ref": a.referral,
                 "e": p.id})


if __name__ == "__main__":
    main()
