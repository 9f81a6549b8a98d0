"""County-scale benchmark of the statistics overview (PostgreSQL).

    .venv/bin/python -m bench.overview
    BENCH_SCALE=0.02 .venv/bin/python -m bench.overview      # quick run
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test BENCH_REPEAT=9 ...

Builds the county of bench.worklist (organisation, residents, enrolments,
follow-ups) in a throwaway PostgreSQL schema, then adds with set-based SQL
key-population tags, registration dates over three years, family-doctor
contracts (about 60% of residents, first terms started in the last two years,
renewals, terminations, renewals in waiting), their entitlements and the
services delivered under them, one year of SMS reminders and satisfaction
ratings. It times (median of BENCH_REPEAT runs) services.stats.figures.overview
for the whole county over the 365 days ending today, and each of its figure
groups, next to hand-written SQL computing the same figures in the same run,
and checks the figures match exactly. Groups slower than twice the hand SQL
(or an overview over 1 s) get the EXPLAIN ANALYZE of the app's statements.
The schema is dropped at the end, also on failure.
"""
from __future__ import annotations

import datetime as dt
import os
import time

import sqlalchemy as sa

from bench.run import median_ms
from bench.worklist import (
    DEFAULT_URL,
    HAND_INDICATORS,
    _generate,
    _h,
    _indicators_from_sql,
    _make_app,
    _sizes,
    _vacuum_analyze,
    private_schema,
)

SIGNED = "('active', 'expired', 'scheduled', 'terminated')"
NEW_TABLES = ("resident_tags", "residents", "contracts", "contract_entitlements", "service_deliveries",
              "outbox_messages", "evaluations")


# --- generation -----------------------------------------------------------------------

def _generate_contracts(conn, sizes: dict[str, int], today: dt.date) -> list[tuple[str, float]]:
    """Tags, registration dates, contracts, entitlements, deliveries, reminders and ratings."""
    steps: list[tuple[str, float]] = []
    p = {"today": today, "teams": sizes["teams"], "n": sizes["residents"]}

    def step(name: str, *sqls: str) -> None:
        t0 = time.perf_counter()
        for sql in sqls:
            conn.execute(sa.text(sql), p)
        steps.append((name, time.perf_counter() - t0))

    step("tags", f"""
        INSERT INTO resident_tags (resident_id, tag)
        SELECT i, t.tag
        FROM generate_series(1, :n) i
             CROSS JOIN (VALUES ('poverty_alleviation', 80, 31), ('minimum_living_allowance', 30, 32),
                                ('disabled', 20, 33)) AS t(tag, permille, salt)
        WHERE {_h('i', 't.salt')} < t.permille""", """
        INSERT INTO resident_tags (resident_id, tag)
        SELECT DISTINCT resident_id, program FROM program_enrolments
        ON CONFLICT DO NOTHING""")

    # registered at some instant of the last three years (94,608,000 s)
    step("registration dates", f"""
        UPDATE residents SET created_at = now() - make_interval(secs => {_h('id', 34)} * 94608 + id % 86400),
                             updated_at = now()""")

    # First contracts of about 60% of residents: id = resident id, a one-year term started in the last
    # two years; ~3% terminated inside the term (on or before today), the others expired or active.
    cols = ("id, resident_id, team_id, status, starts_on, ends_on, created_at, term_months, applied_by, "
            "created_by_staff_id, renewed_from_id, list_value_fen, self_pay_fen, funding, payment_amount_fen, "
            "payment_method, paid_at, terminate_reason, terminated_on, updated_at")
    step("contracts", f"""
        INSERT INTO contracts ({cols})
        SELECT i, i, 1 + i % :teams,
               CASE WHEN term THEN 'terminated' WHEN ends_on < CAST(:today AS date) THEN 'expired' ELSE 'active' END,
               starts_on, ends_on, now(), 12, 'staff', 1 + i % :teams, NULL, 12000, 0, CAST('{{}}' AS json),
               0, 'cash', now(), CASE WHEN term THEN 'bench' END,
               CASE WHEN term THEN starts_on + {_h('i', 24)} % (least(ends_on, CAST(:today AS date)) - starts_on + 1)
               END, now()
        FROM (
            SELECT i, starts_on, CAST(starts_on + interval '1 year' - interval '1 day' AS date) AS ends_on,
                   {_h('i', 23)} < 30 AS term
            FROM (SELECT i, CAST(:today AS date) - {_h('i', 22)} * 730 / 1000 AS starts_on
                  FROM generate_series(1, :n) i WHERE {_h('i', 21)} < 600) a
        ) b""",
        # ~70% of expired ones renewed from the day after (id = n + first id); 5% of renewals terminated,
        # some of them on their first day (terminated before they began: not a renewal).
        f"""
        INSERT INTO contracts ({cols})
        SELECT :n + id, resident_id, team_id,
               CASE WHEN term THEN 'terminated' WHEN ends_on < CAST(:today AS date) THEN 'expired' ELSE 'active' END,
               starts_on, ends_on, now(), 12, 'staff', team_id, id, 12000, 0, CAST('{{}}' AS json),
               0, 'cash', now(), CASE WHEN term THEN 'bench' END,
               CASE WHEN term THEN starts_on + {_h('id', 27)} % 3
                                   * ((least(ends_on, CAST(:today AS date)) - starts_on) / 2) END, now()
        FROM (
            SELECT id, resident_id, team_id, ends_on + 1 AS starts_on,
                   CAST(ends_on + 1 + interval '1 year' - interval '1 day' AS date) AS ends_on,
                   {_h('id', 26)} < 50 AS term
            FROM contracts WHERE status = 'expired' AND {_h('id', 25)} < 700
        ) a""",
        # Active contracts ending within 60 days: 40% renewed in advance (scheduled), 10% applied for (pending).
        f"""
        INSERT INTO contracts ({cols})
        SELECT 2 * :n + resident_id, resident_id, team_id, CASE WHEN q < 400 THEN 'scheduled' ELSE 'pending' END,
               ends_on + 1, CAST(ends_on + 1 + interval '1 year' - interval '1 day' AS date), now(), 12, 'staff',
               team_id, id, 12000, 0, CAST('{{}}' AS json), CASE WHEN q < 400 THEN 0 END,
               CASE WHEN q < 400 THEN 'cash' END, CASE WHEN q < 400 THEN now() END, NULL, NULL, now()
        FROM (SELECT id, resident_id, team_id, ends_on, {_h('id', 28)} AS q FROM contracts
              WHERE status = 'active' AND ends_on < CAST(:today AS date) + 60) a
        WHERE q < 500""")

    # Three items per signed contract, promised 1..4; nothing used under a term not begun.
    step("entitlements", f"""
        INSERT INTO contract_entitlements (id, contract_id, item_code, name, package_codes, promised, used,
                                           unit_value_fen)
        SELECT c.id * 3 + k, c.id, 'ITEM' || k, 'item ' || k, CAST('["BENCH"]' AS json), x.pr,
               CASE WHEN c.starts_on > CAST(:today AS date) THEN 0 ELSE x.q % (x.pr + 1) END, 1000
        FROM contracts c CROSS JOIN generate_series(0, 2) AS k(k)
             CROSS JOIN LATERAL (SELECT 1 + {_h('c.id * 3 + k', 29)} % 4 AS pr, {_h('c.id * 3 + k', 30)} AS q) x
        WHERE c.status IN {SIGNED}""")

    # One delivery per unit used, spread over the part of the term up to today (and termination).
    step("deliveries", """
        INSERT INTO service_deliveries (contract_id, entitlement_id, item_code, delivered_on, staff_id, place,
                                        recorded_by_id, created_at)
        SELECT e.contract_id, e.id, e.item_code, c.starts_on + s.span * j / (e.used + 1), c.team_id, 'clinic',
               c.team_id, now()
        FROM contract_entitlements e JOIN contracts c ON c.id = e.contract_id
             CROSS JOIN LATERAL generate_series(1, e.used) AS j(j)
             CROSS JOIN LATERAL (SELECT least(c.ends_on, CAST(:today AS date), coalesce(c.terminated_on, c.ends_on))
                                        - c.starts_on AS span) s
        WHERE e.used > 0""")

    # Two reminders per signed resident over the last 400 days (34,560,000 s): 8% still planned, the
    # others sent: delivered 85%, failed 10%, sent (no report yet) 5%.
    step("reminders", f"""
        INSERT INTO outbox_messages (dedupe_key, kind, resident_id, channel, template_code, text, status, attempts,
                                     sent_at, delivered_at, created_at, updated_at)
        SELECT 'bench-' || i || '-' || j, 'followup_due', i, 'sms', 't', 'x', st,
               CASE WHEN st = 'planned' THEN 0 ELSE 1 END, CASE WHEN st <> 'planned' THEN at END,
               CASE WHEN st = 'delivered' THEN at + interval '1 minute' END, at, at
        FROM (
            SELECT i, j, now() - make_interval(secs => {_h('i * 2 + j', 41)} * 34560 + (i * 2 + j) % 3600) AS at,
                   CASE WHEN {_h('i * 2 + j', 42)} < 80 THEN 'planned'
                        WHEN {_h('i * 2 + j', 43)} < 850 THEN 'delivered'
                        WHEN {_h('i * 2 + j', 43)} < 950 THEN 'failed' ELSE 'sent' END AS st
            FROM generate_series(1, :n) i CROSS JOIN generate_series(1, 2) AS g(j)
            WHERE {_h('i', 21)} < 600
        ) a""")

    # One rating for ~30% of active contracts, some time in the last 365 days (31,536,000 s).
    step("ratings", f"""
        INSERT INTO evaluations (contract_id, resident_id, team_id, month, score, created_at)
        SELECT id, resident_id, team_id, to_char(at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM'),
               1 + {_h('id', 52)} % 5, at
        FROM (SELECT id, resident_id, team_id,
                     now() - make_interval(secs => {_h('id', 51)} * 31536 + id % 1000) AS at
              FROM contracts WHERE status = 'active' AND {_h('id', 50)} < 300) a""")

    for table in ("contracts", "contract_entitlements", "service_deliveries", "outbox_messages", "evaluations"):
        conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                             f"(SELECT coalesce(max(id), 1) FROM {table}))"))
    return steps


def build_county(engine, sizes: dict[str, int], today: dt.date) -> list[tuple[str, float]]:
    """The whole county (bench.worklist's, then this module's contracts and the rest), analysed."""
    with engine.begin() as conn:
        steps = _generate(conn, sizes, today)
    with engine.begin() as conn:
        steps += _generate_contracts(conn, sizes, today)
    steps.append(("vacuum analyze", _vacuum_analyze(engine) + _vacuum_new(engine)))
    return steps


def _vacuum_new(engine) -> float:
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in NEW_TABLES:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
    return time.perf_counter() - t0


# --- hand-written SQL ---------------------------------------------------------------

# Population: registered at a unit institution before the end of the day (Asia/Shanghai); signed: a
# contract with a unit team in force that day (begun, not ended, not terminated on or before it).
HAND_COVERAGE = f"""
WITH pop AS MATERIALIZED (
    SELECT r.id,
           r.birth_date <= CAST(CAST(:day AS date) - interval '65 years' AS date) AS elderly,
           r.birth_date > CAST(CAST(:day AS date) - interval '7 years' AS date) AND r.birth_date <= :day AS child,
           EXISTS (SELECT 1 FROM contracts c
                   WHERE c.resident_id = r.id AND c.team_id = ANY(:teams) AND c.status IN {SIGNED}
                     AND c.starts_on <= :day AND c.ends_on >= :day
                     AND (c.status <> 'terminated' OR c.terminated_on > :day)) AS signed
    FROM residents r
    WHERE r.institution_id = ANY(:insts)
      AND r.created_at < CAST(CAST(:day AS date) + 1 AS timestamp) AT TIME ZONE 'Asia/Shanghai'
)
SELECT '' AS tag, count(*) AS n, count(*) FILTER (WHERE signed) AS s FROM pop
UNION ALL
SELECT 'elderly', count(*) FILTER (WHERE elderly), count(*) FILTER (WHERE elderly AND signed) FROM pop
UNION ALL
SELECT 'child', count(*) FILTER (WHERE child), count(*) FILTER (WHERE child AND signed) FROM pop
UNION ALL
SELECT t.tag, count(*), count(*) FILTER (WHERE pop.signed)
FROM pop JOIN resident_tags t ON t.resident_id = pop.id GROUP BY t.tag"""

# Contracts of unit teams whose term's last day is in the period (not terminated), and those of them
# with a successor that was paid or in force (terminated only after it began).
HAND_RENEWAL = """
SELECT count(*) AS ending, count(s.renewed_from_id) AS renewed
FROM contracts c
LEFT JOIN (SELECT DISTINCT renewed_from_id FROM contracts
           WHERE renewed_from_id IS NOT NULL AND ends_on IS NOT NULL
             AND (status IN ('scheduled', 'active', 'expired')
                  OR (status = 'terminated' AND terminated_on > starts_on))) s ON s.renewed_from_id = c.id
WHERE c.team_id = ANY(:teams) AND c.status IN ('active', 'expired') AND c.ends_on BETWEEN :d0 AND :d1"""

# Contracts of unit teams in force on some day of the period: the days they are in force,
# [starts_on, ends_on] cut at the day before termination, meet [d0, d1].
HAND_FULFILMENT = f"""
WITH k AS MATERIALIZED (
    SELECT id FROM contracts
    WHERE team_id = ANY(:teams) AND status IN {SIGNED} AND starts_on IS NOT NULL AND ends_on IS NOT NULL
      AND (status <> 'terminated' OR terminated_on IS NOT NULL)
      AND greatest(starts_on, CAST(:d0 AS date))
          <= least(ends_on, CAST(:d1 AS date),
                   CASE WHEN status = 'terminated' THEN terminated_on - 1 ELSE ends_on END)
)
SELECT (SELECT count(*) FROM service_deliveries d JOIN k ON k.id = d.contract_id
        WHERE d.delivered_on <= :d1) AS delivered,
       (SELECT coalesce(sum(e.promised), 0) FROM contract_entitlements e JOIN k ON k.id = e.contract_id)
           AS promised"""

# Messages to residents of unit institutions sent in the period (local days), and those delivered.
HAND_REMINDERS = """
SELECT count(*) AS sent, count(*) FILTER (WHERE m.status = 'delivered') AS delivered
FROM outbox_messages m JOIN residents r ON r.id = m.resident_id
WHERE r.institution_id = ANY(:insts)
  AND m.sent_at >= CAST(CAST(:d0 AS date) AS timestamp) AT TIME ZONE 'Asia/Shanghai'
  AND m.sent_at < CAST(CAST(:d1 AS date) + 1 AS timestamp) AT TIME ZONE 'Asia/Shanghai'"""

HAND_SATISFACTION = """
SELECT coalesce(sum(score), 0) AS total, count(*) AS ratings
FROM evaluations
WHERE team_id = ANY(:teams)
  AND created_at >= CAST(CAST(:d0 AS date) AS timestamp) AT TIME ZONE 'Asia/Shanghai'
  AND created_at < CAST(CAST(:d1 AS date) + 1 AS timestamp) AT TIME ZONE 'Asia/Shanghai'"""


def _frac(numerator, denominator, digits: int = 4) -> dict:
    numerator, denominator = int(numerator or 0), int(denominator or 0)
    return {"numerator": numerator, "denominator": denominator,
            "rate": round(numerator / denominator, digits) if denominator else None}


class Hand:
    """The overview's figures from hand-written SQL, on one connection."""

    def __init__(self, engine, teams: list[int], insts: list[int], d0: dt.date, d1: dt.date, day: dt.date):
        self.engine = engine
        self.p = {"teams": teams, "insts": insts, "d0": d0, "d1": d1, "day": day, "vpy": 4}

    def coverage(self, conn):
        from services.models.resident import RECORDED_TAGS, TAG_LABELS

        rows = {r.tag: (r.n, r.s) for r in conn.execute(sa.text(HAND_COVERAGE), self.p)}
        n, s = rows.pop("")
        tags = [{"tag": t, "label": TAG_LABELS[t], **_frac(rows.get(t, (0, 0))[1], rows.get(t, (0, 0))[0])}
                for t in ("elderly", "child", *RECORDED_TAGS)]
        return _frac(s, n), tags

    def renewal(self, conn):
        r = conn.execute(sa.text(HAND_RENEWAL), self.p).one()
        return _frac(r.renewed, r.ending)

    def fulfilment(self, conn):
        r = conn.execute(sa.text(HAND_FULFILMENT), self.p).one()
        return _frac(r.delivered, r.promised)

    def programs(self, conn):
        out = []
        for i in _indicators_from_sql(conn.execute(sa.text(HAND_INDICATORS), self.p).all()):
            out.append({"program": i.program, "under_management": i.under_management, "register": i.register,
                        "face_to_face_visits": i.face_to_face_visits,
                        "standard_management": _frac(i.standard_managed, i.under_management),
                        "control": _frac(i.at_target, i.register if i.program == "mental_disorder"
                                         else i.under_management)})
        return out

    def reminder_delivery(self, conn):
        r = conn.execute(sa.text(HAND_REMINDERS), self.p).one()
        return _frac(r.delivered, r.sent)

    def satisfaction(self, conn):
        r = conn.execute(sa.text(HAND_SATISFACTION), self.p).one()
        return _frac(r.total, r.ratings, digits=2)

    def run(self, name: str):
        with self.engine.connect() as conn:
            return getattr(self, name)(conn)

    def overview(self, unit) -> dict:
        with self.engine.connect() as conn:
            overall, by_tag = self.coverage(conn)
            return {"unit": {"kind": unit.kind, "id": unit.id, "name": unit.name},
                    "date_from": self.p["d0"], "date_to": self.p["d1"], "coverage_on": self.p["day"],
                    "team_count": len(self.p["teams"]), "coverage": overall, "coverage_by_tag": by_tag,
                    "renewal": self.renewal(conn), "fulfilment": self.fulfilment(conn),
                    "programs": self.programs(conn), "reminder_delivery": self.reminder_delivery(conn),
                    "satisfaction": self.satisfaction(conn)}


# --- main -------------------------------------------------------------------------------

def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    scale = float(os.environ.get("BENCH_SCALE", "1.0"))
    repeat = int(os.environ.get("BENCH_REPEAT", "5"))
    started = time.perf_counter()
    with private_schema(url, "ovbench", "bench.overview") as (schema, shown):
        _run(_make_app(url, schema), _sizes(scale), scale, repeat, shown)
    print(f"\ntotal runtime {time.perf_counter() - started:.1f}s (schema {schema} dropped)")


def _diff(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            label = x.get("tag") or x.get("program") if isinstance(x, dict) else None
            out += _diff(x, y, f"{path}[{label or i}]")
        return out
    return [] if a == b and type(a) is type(b) else [f"{path}: app {a!r} | sql {b!r}"]


def _run(app, sizes: dict[str, int], scale: float, repeat: int, shown: str) -> None:
    from services.core import clock
    from services.core.db import db
    from services.stats import figures
    from services.stats.units import Unit

    today = clock.today()
    with app.app_context():
        engine = db.engine
        t0 = time.perf_counter()
        steps = build_county(engine, sizes, today)
        gen_s = time.perf_counter() - t0
        with engine.connect() as conn:
            counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                      for t in ("residents", "resident_tags", "program_enrolments", "followups", "contracts",
                                "contract_entitlements", "service_deliveries", "outbox_messages", "evaluations")}
            by_status = dict(conn.execute(sa.text(
                "SELECT status, count(*) FROM contracts GROUP BY status ORDER BY status")).all())
            team_ids = list(conn.execute(sa.text("SELECT id FROM teams ORDER BY id")).scalars())
            inst_ids = list(conn.execute(sa.text("SELECT id FROM institutions ORDER BY id")).scalars())

        unit = Unit("community", 1, "bench county", tuple(team_ids), tuple(inst_ids))
        d1 = today
        d0 = today - dt.timedelta(days=364)
        day = figures.coverage_day(d1)
        settings = figures.OverviewSettings()
        hand = Hand(engine, team_ids, inst_ids, d0, d1, day)

        print(f"\nStatistics overview on {shown} (scale {scale:g}), today {today.isoformat()}, "
              f"period {d0.isoformat()}..{d1.isoformat()}, {len(team_ids)} teams, {len(inst_ids)} institutions, "
              f"median of {repeat} runs")
        print(f"generated in {gen_s:.1f}s (" + ", ".join(f"{name} {s:.1f}s" for name, s in steps) + ")")
        print("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
        print("contracts: " + ", ".join(f"{s} {n:,}" for s, n in by_status.items()))

        def app_call(fn, *args):
            def run():
                try:
                    return fn(*args)
                finally:
                    db.session.rollback()  # the reads end their transaction, as a request does
            return run

        groups = [
            ("coverage (overall + by tag)", app_call(figures.coverage, unit, day), lambda: hand.run("coverage")),
            ("renewal", app_call(figures.renewal, unit, d0, d1), lambda: hand.run("renewal")),
            ("fulfilment", app_call(figures.fulfilment, unit, d0, d1), lambda: hand.run("fulfilment")),
            ("programs (follow-up indicators)", app_call(figures.programs, unit, d0, d1, settings.visits_per_year),
             lambda: hand.run("programs")),
            ("reminder delivery", app_call(figures.reminder_delivery, unit, d0, d1),
             lambda: hand.run("reminder_delivery")),
            ("satisfaction", app_call(figures.satisfaction, unit, d0, d1), lambda: hand.run("satisfaction")),
            ("whole overview", app_call(figures.overview, unit, d0, d1, settings), lambda: hand.overview(unit)),
        ]

        app_view, hand_view = groups[-1][1](), groups[-1][2]()
        diffs = _diff(app_view, hand_view)
        print(f"\nfigures match: {'yes' if not diffs else 'no'}")
        for line in diffs:
            print("  " + line)
        _print_figures(app_view)

        timings = []
        for name, app_fn, hand_fn in groups:
            timings.append((name, app_fn, median_ms(app_fn, repeat), median_ms(hand_fn, repeat)))

        print(f"\n{'operation':34} | {'app ms':>9} | {'hand SQL ms':>11} | {'app / SQL':>9}")
        print(f"{'-' * 34}-+-{'-' * 9}-+-{'-' * 11}-+-{'-' * 9}")
        for name, _fn, a, h in timings:
            print(f"{name:34} | {a:9.2f} | {h:11.2f} | {a / h:9.2f}")

        # The dashboard's monthly charts: coverage, 规范管理率 and 控制率 per programme, 12 months (one run;
        # each month is its own period, so this is about 12 overviews' worth of those groups).
        from services.stats import series

        dashboard_metrics = ["coverage", *(f"{k}.{p}" for k in ("standard_management", "control")
                                           for p in ("hypertension", "diabetes", "mental_disorder"))]
        t0 = time.perf_counter()
        app_call(series.monthly, unit, dashboard_metrics, 12, settings)()
        print(f"\nmonthly series for the dashboard's charts (7 metrics x 12 months, 1 run): "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms")

        slow = [(name, fn) for name, fn, a, h in timings[:-1] if a / h > 2]
        total_app = timings[-1][2]
        if total_app > 1000:
            print(f"\nwhole overview takes {total_app:.0f} ms (> 1 s)")
            worst = sorted(timings[:-1], key=lambda t: -t[2])[:2]
            slow += [(name, fn) for name, fn, _a, _h in worst if name not in {s[0] for s in slow}]
        for name, fn in slow:
            _explain_app(engine, name, fn)


def _print_figures(v: dict) -> None:
    def f(x):
        rate = "-" if x["rate"] is None else f"{x['rate']:.4f}"
        return f"{x['numerator']:>9,} / {x['denominator']:>9,} = {rate}"

    print(f"  coverage on {v['coverage_on']}: {f(v['coverage'])}")
    for t in v["coverage_by_tag"]:
        print(f"    {t['tag']:26} {f(t)}")
    for key in ("renewal", "fulfilment", "reminder_delivery", "satisfaction"):
        print(f"  {key:28} {f(v[key])}")
    for p in v["programs"]:
        print(f"  {p['program']:16} managed {p['under_management']:>7,} register {p['register']:>7,} "
              f"f2f {p['face_to_face_visits']:>8,}  standard {f(p['standard_management'])}  "
              f"control {f(p['control'])}")


def _explain_app(engine, name: str, run) -> None:
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    with engine.connect() as conn:
        for i, (statement, parameters) in enumerate(captured, 1):
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement,
                                                       parameters).all()]
            print(f"\nEXPLAIN ANALYZE app {name}, statement {i}:")
            print("    " + " ".join(statement.split())[:600])
            for line in plan:
                print("    " + line)


if __name__ == "__main__":
    main()
