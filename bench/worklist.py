"""County-scale benchmark of the follow-up worklist and indicators (PostgreSQL).

    .venv/bin/python -m bench.worklist
    BENCH_SCALE=0.05 .venv/bin/python -m bench.worklist      # quick run
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test BENCH_REPEAT=15 ...

Builds a fresh schema through the migrations in a temporary PostgreSQL schema,
generates a county with set-based SQL (INSERT ... SELECT ... FROM
generate_series): 400,000 residents, 80,000 hypertension, 25,000 diabetes and
2,500 severe-mental-disorder patients, 120 teams and one year of visits (about
4 per enrolment), all multiplied by BENCH_SCALE. It then times (median of
BENCH_REPEAT runs) the app's worklist for one team and the county's
indicators, each next to the equivalent hand-written SQL measured in the same
run, checks that both give the same answer, and shows the worklist's plan.
The schema is dropped at the end, also on failure.
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import time
import uuid
from contextlib import contextmanager

import sqlalchemy as sa

from bench.run import make_app, median_ms

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PROGRAMS = ("hypertension", "diabetes", "mental_disorder")


def _h(expr: str, salt: int) -> str:
    """SQL for a deterministic pseudo-random integer 0..999 from an integer expression."""
    return f"CAST(mod(hashint8(({expr})::bigint * 7919 + {salt})::bigint + 2147483648, 1000) AS int)"


def _sizes(scale: float) -> dict[str, int]:
    def n(count: int, minimum: int = 1) -> int:
        return max(minimum, round(count * scale))

    sizes = {"residents": n(400_000, 10), "hypertension": n(80_000), "diabetes": n(25_000),
             "mental_disorder": n(2_500), "teams": n(120, 2), "townships": n(10), "villages": n(40)}
    for program in PROGRAMS:  # at most one active enrolment per (resident, program)
        sizes[program] = min(sizes[program], sizes["residents"])
    return sizes


# --- generation -----------------------------------------------------------------------

def _generate(conn, sizes: dict[str, int], today: dt.date) -> list[tuple[str, float]]:
    """Fill the county with set-based SQL; returns (step, seconds) pairs."""
    text = sa.text
    steps: list[tuple[str, float]] = []
    nt, nv, n_teams, n_res = sizes["townships"], sizes["villages"], sizes["teams"], sizes["residents"]
    p = {"today": today, "nt": nt, "nv": nv, "teams": n_teams, "n": n_res,
         "window_start": today - dt.timedelta(days=364)}

    def step(name: str, *sqls: str) -> None:
        t0 = time.perf_counter()
        for sql in sqls:
            conn.execute(text(sql), p)
        steps.append((name, time.perf_counter() - t0))

    # Organisation: one county hospital (id 1), townships (2..nt+1), village clinics after them.
    step("organisation", """
        INSERT INTO medical_communities (id, code, name, created_at) VALUES (1, 'BENCH', 'bench county', now())""", """
        INSERT INTO institutions (id, community_id, parent_id, code, name, type, created_at)
        VALUES (1, 1, NULL, 'BENCH-H', 'county hospital', 'county_hospital', now())""", """
        INSERT INTO institutions (id, community_id, parent_id, code, name, type, created_at)
        SELECT 1 + g, 1, 1, 'BENCH-T' || g, 'township ' || g, 'township_health_center', now()
        FROM generate_series(1, :nt) g""", """
        INSERT INTO institutions (id, community_id, parent_id, code, name, type, created_at)
        SELECT 1 + :nt + g, 1, 2 + (g - 1) % :nt, 'BENCH-V' || g, 'village clinic ' || g, 'village_clinic', now()
        FROM generate_series(1, :nv) g""", """
        INSERT INTO teams (id, institution_id, code, name, created_at)
        SELECT g, 2 + (g - 1) % :nt, 'BENCH-TEAM-' || g, 'team ' || g, now() FROM generate_series(1, :teams) g""",
        # one doctor per team; staff id = team id
        """
        INSERT INTO staff (id, username, name, password_hash, role, community_id, institution_id, team_id,
                           team_role, active, created_at)
        SELECT g, 'bench_doctor_' || g, 'doctor ' || g, 'x', 'doctor', 1, 2 + (g - 1) % :nt, g, 'doctor', true, now()
        FROM generate_series(1, :teams) g""", """
        UPDATE teams SET lead_doctor_id = id""")

    step("residents", f"""
        INSERT INTO residents (id, institution_id, name, id_number_encrypted, id_number_hash, birth_date, sex,
                               village, floating, sms_opt_out, created_at, updated_at)
        SELECT i, 2 + i % (:nt + :nv), 'R' || i, 'bench', md5(i::text),
               DATE '1930-01-01' + ({_h('i', 1)} * 33 + i % 33) % 33238,
               CASE WHEN i % 2 = 0 THEN 'male' ELSE 'female' END,
               'V' || (i % 600), false, false, now(), now()
        FROM generate_series(1, :n) i""")

    # Enrolments: distinct residents per program through k -> k * prime mod n (a bijection, n < prime).
    parts = []
    for program, prime, offset, disease in (("hypertension", 1_000_003, 0, "NULL"),
                                            ("diabetes", 1_000_033, 17, "NULL"),
                                            ("mental_disorder", 1_000_037, 101, "'schizophrenia'")):
        parts.append(f"""
            SELECT 1 + (k::bigint * {prime} + {offset}) % :n AS resident_id, '{program}' AS program,
                   {disease} AS disease, k, {len(parts)} AS p
            FROM generate_series(1, {sizes[program]}) k""")
    step("enrolments", f"""
        INSERT INTO program_enrolments (resident_id, team_id, program, disease, enrolled_on, status,
                                        status_changed_on, status_reason, system_due_date, next_due_date,
                                        last_visit_date, created_by_id, created_at, updated_at)
        SELECT resident_id, team_id, program, disease, enrolled_on, status, changed_on,
               CASE WHEN changed_on IS NOT NULL THEN 'bench' END, due, due,
               least(greatest(enrolled_on, due - 90), coalesce(changed_on, CAST(:today AS date))),
               team_id, now(), now()
        FROM (
            SELECT resident_id, team_id, program, disease, enrolled_on, status, due,
                   CASE WHEN status <> 'active'
                        THEN greatest(enrolled_on, CAST(:today AS date) - 1 - {_h('k * 3 + p', 5)} % 365) END
                        AS changed_on
            FROM (
                SELECT s.resident_id, 1 + s.resident_id % :teams AS team_id, s.program, s.disease, s.k, s.p,
                       CAST(:today AS date) - 1 - ({_h('s.k * 3 + s.p', 2)} * 1095 / 1000) AS enrolled_on,
                       CASE WHEN {_h('s.k * 3 + s.p', 3)} < 12 THEN 'moved_out'
                            WHEN {_h('s.k * 3 + s.p', 3)} < 21 THEN 'deceased'
                            WHEN {_h('s.k * 3 + s.p', 3)} < 30 THEN 'lost' ELSE 'active'
                       END AS status,
                       CAST(:today AS date) - 30 + ({_h('s.k * 3 + s.p', 4)} * 121 / 1000) AS due
                FROM ({' UNION ALL '.join(parts)}) s
            ) a
        ) b""")

    # Follow-ups: 4 per enrolment, evenly from max(enrolled_on, window start) to last_visit_date.
    m, q, r = _h("x.id * 4 + x.j", 11), _h("x.id * 4 + x.j", 12), _h("x.id * 4 + x.j", 13)
    step("follow-ups", f"""
        INSERT INTO followups (enrolment_id, resident_id, team_id, program, visit_date, visit_mode, not_reached,
                               not_reached_reason, sbp, dbp, heart_rate, fasting_glucose, risk_level, insight,
                               details, classification, at_target, referral, reasons, next_due_date,
                               rules_version, recorded_by_id, created_at)
        SELECT id, resident_id, team_id, program, visit_date,
               CASE WHEN nr THEN 'home' WHEN m < 150 THEN 'phone' WHEN m % 2 = 0 THEN 'clinic' ELSE 'home' END,
               nr, CASE WHEN nr THEN 'not at home' END,
               CASE WHEN nr THEN NULL WHEN program = 'hypertension' AND NOT good THEN 140 + r % 40
                    ELSE 110 + r % 30 END,
               CASE WHEN nr THEN NULL WHEN program = 'hypertension' AND NOT good THEN 90 + r % 20
                    ELSE 65 + r % 25 END,
               CASE WHEN nr THEN NULL ELSE 60 + r % 30 END,
               CASE WHEN nr OR program <> 'diabetes' THEN NULL WHEN good THEN 4.5 + (r % 25) / 10.0
                    ELSE 7.0 + (r % 50) / 10.0 END,
               CASE WHEN nr OR program <> 'mental_disorder' THEN NULL WHEN q < 650 THEN 0
                    WHEN q < 900 THEN 1 + r % 2 ELSE 3 + r % 3 END,
               CASE WHEN nr OR program <> 'mental_disorder' THEN NULL WHEN q < 650 THEN 'complete'
                    ELSE 'partial' END,
               CAST('{{}}' AS json),
               CASE WHEN nr THEN NULL
                    WHEN program = 'mental_disorder' THEN
                        CASE WHEN q < 650 THEN 'stable' WHEN q < 900 THEN 'basically_stable' ELSE 'unstable' END
                    WHEN good THEN 'controlled' ELSE 'uncontrolled' END,
               CASE WHEN nr OR program = 'mental_disorder' THEN NULL ELSE good END,
               CASE WHEN NOT nr AND program = 'mental_disorder' AND q >= 900 THEN 'urgent' ELSE 'none' END,
               CAST('[]' AS json), visit_date + 90, 'bench', team_id, now()
        FROM (
            SELECT x.id, x.resident_id, x.team_id, x.program, x.visit_date, {m} AS m, {m} >= 950 AS nr,
                   {q} AS q, {q} < 650 AS good, {r} AS r
            FROM (
                SELECT e.id, e.resident_id, e.team_id, e.program, e.enrolled_on, j.j,
                       e.last_visit_date - (CASE WHEN e.last_visit_date >= greatest(e.enrolled_on, :window_start)
                                                 THEN e.last_visit_date - greatest(e.enrolled_on, :window_start)
                                                 ELSE 270 END) * j.j / 3 AS visit_date
                FROM program_enrolments e CROSS JOIN generate_series(0, 3) AS j(j)
            ) x
            WHERE x.visit_date >= x.enrolled_on
        ) y""")

    # The enrolment's plan in force follows its latest reached visit (urgent referrals included).
    step("enrolment plans", """
        UPDATE program_enrolments e
        SET last_referral = v.referral,
            last_assessment = json_build_object('classification', v.classification, 'at_target', v.at_target,
                                                'referral', v.referral, 'rules_version', 'bench')
        FROM (SELECT DISTINCT ON (enrolment_id) enrolment_id, referral, classification, at_target
              FROM followups WHERE NOT not_reached ORDER BY enrolment_id, visit_date DESC, id DESC) v
        WHERE v.enrolment_id = e.id""")
    for table in ("medical_communities", "institutions", "teams", "staff", "residents"):
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    return steps


def _vacuum_analyze(engine) -> float:
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("medical_communities", "institutions", "teams", "staff", "residents",
                      "program_enrolments", "followups"):
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
    return time.perf_counter() - t0


# --- hand-written SQL ---------------------------------------------------------------

HAND_WORKLIST_WHERE = """
    FROM program_enrolments e JOIN residents r ON r.id = e.resident_id
    WHERE e.team_id = :t AND e.status = 'active'
      AND (e.next_due_date <= :h OR (e.last_referral = 'urgent' AND e.next_due_date > :h))"""
HAND_WORKLIST_COUNT = "SELECT count(*)" + HAND_WORKLIST_WHERE
HAND_WORKLIST_PAGE = ("SELECT e.*, r.*" + HAND_WORKLIST_WHERE + """
    ORDER BY CASE WHEN e.next_due_date <= :h THEN 0 ELSE 1 END, e.next_due_date, e.id
    LIMIT 20""")

# services/followup/indicators.py in SQL: one row per enrolment under management with its
# managed span [s, t], face-to-face visits in the span, and its latest reached visit.
HAND_INDICATORS = """
WITH e AS (
    SELECT id, program, enrolled_on, CASE WHEN status <> 'active' THEN status_changed_on END AS left_on
    FROM program_enrolments
    WHERE team_id = ANY(:teams) AND enrolled_on <= :d1 AND (status = 'active' OR status_changed_on >= :d0)
), w AS (
    SELECT id, program, greatest(CAST(:d0 AS date), enrolled_on) AS s,
           CASE WHEN left_on IS NULL THEN CAST(:d1 AS date) ELSE least(CAST(:d1 AS date), left_on) END AS t,
           (left_on IS NULL OR left_on > :d1) AS in_register
    FROM e
), v AS (
    SELECT f.enrolment_id, f.visit_date, f.visit_mode, f.at_target, f.classification,
           row_number() OVER (PARTITION BY f.enrolment_id ORDER BY f.visit_date DESC, f.id DESC) AS rn
    FROM followups f JOIN program_enrolments pe ON pe.id = f.enrolment_id
    WHERE pe.team_id = ANY(:teams) AND NOT f.not_reached AND f.visit_date BETWEEN :d0 AND :d1
), per AS (
    SELECT w.program, w.in_register,
           count(v.enrolment_id) FILTER (WHERE v.visit_mode IN ('clinic', 'home')
                                           AND v.visit_date BETWEEN w.s AND w.t) AS f2f,
           CASE WHEN w.t - w.s + 1 > 0 THEN (:vpy * (w.t - w.s + 1) + 364) / 365 ELSE 0 END AS required,
           bool_or(v.rn = 1 AND CASE WHEN w.program = 'mental_disorder' THEN v.classification = 'stable'
                                     ELSE v.at_target END) IS TRUE AS latest_good
    FROM w LEFT JOIN v ON v.enrolment_id = w.id
    GROUP BY w.id, w.program, w.in_register, w.s, w.t
)
SELECT program, count(*) AS under_management, count(*) FILTER (WHERE in_register) AS register,
       sum(f2f) AS face_to_face_visits, count(*) FILTER (WHERE f2f >= required) AS standard_managed,
       count(*) FILTER (WHERE latest_good AND (program <> 'mental_disorder' OR in_register)) AS at_target
FROM per GROUP BY program"""


def _indicators_from_sql(rows) -> list:
    from services.followup.indicators import ProgramIndicators, _rate

    by_program = {row.program: row for row in rows}
    out = []
    for program in PROGRAMS:
        row = by_program.get(program)
        um, reg, f2f, std, good = ((row.under_management, row.register, int(row.face_to_face_visits),
                                    row.standard_managed, row.at_target) if row else (0, 0, 0, 0, 0))
        out.append(ProgramIndicators(
            program=program, under_management=um, register=reg, face_to_face_visits=f2f,
            visits_per_patient=round(f2f / um, 2) if um else None, standard_managed=std,
            standard_management_rate=_rate(std, um), at_target=good,
            control_rate=_rate(good, reg if program == "mental_disorder" else um)))
    return out


# --- main -------------------------------------------------------------------------------

def _make_app(url: str, schema: str):
    return make_app(url, {"connect_args": {"options": f"-csearch_path={schema}"}})


@contextmanager
def private_schema(url: str, prefix: str, bench_name: str):
    """A throwaway PostgreSQL schema for one benchmark run: (schema, url shown without password)."""
    if not url.startswith("postgresql"):
        sys.exit(f"{bench_name} needs PostgreSQL; BENCH_DATABASE_URL is {url!r}")
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    eng = sa.create_engine(url)
    try:
        with eng.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        sys.exit(f"PostgreSQL unreachable at {shown}: {str(exc.orig).strip().splitlines()[0]}")
    finally:
        eng.dispose()
    try:
        yield schema, shown
    finally:
        eng = sa.create_engine(url)
        with eng.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        eng.dispose()


def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    scale = float(os.environ.get("BENCH_SCALE", "1.0"))
    repeat = int(os.environ.get("BENCH_REPEAT", "15"))
    started = time.perf_counter()
    with private_schema(url, "wlbench", "bench.worklist") as (schema, shown):
        _run(_make_app(url, schema), _sizes(scale), scale, repeat, shown)
    print(f"\ntotal runtime {time.perf_counter() - started:.1f}s (schema {schema} dropped)")


def _run(app, sizes: dict[str, int], scale: float, repeat: int, shown: str) -> None:
    from services.core import clock
    from services.core.db import db
    from services.core.pagination import paginate
    from services.followup.indicators import followup_indicators
    from services.followup.worklist import WorklistFilters, worklist_query

    today = clock.today()
    with app.app_context():
        engine = db.engine
        t0 = time.perf_counter()
        with engine.begin() as conn:
            steps = _generate(conn, sizes, today)
        steps.append(("vacuum analyze", _vacuum_analyze(engine)))
        gen_s = time.perf_counter() - t0
        with engine.connect() as conn:
            counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                      for t in ("institutions", "teams", "staff", "residents", "program_enrolments", "followups")}
            by_program = dict(conn.execute(sa.text(
                "SELECT program, count(*) FROM program_enrolments GROUP BY program")).all())
            team_ids = list(conn.execute(sa.text("SELECT id FROM teams ORDER BY id")).scalars())
        print(f"\nFollow-up worklist and indicators on {shown} (scale {scale:g}), "
              f"today {today.isoformat()}, median of {repeat} runs")
        print(f"generated in {gen_s:.1f}s (" + ", ".join(f"{name} {s:.1f}s" for name, s in steps) + ")")
        print("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
        print("enrolments: " + ", ".join(f"{p} {by_program.get(p, 0):,}" for p in PROGRAMS))

        # 1. worklist of one team, first page of 20 (count included)
        team = team_ids[len(team_ids) // 2]
        filters = WorklistFilters(team_id=team, today=today, within_days=7)
        horizon = today + dt.timedelta(days=filters.within_days)

        def app_worklist():
            page = paginate(worklist_query(filters), 1, 20, rows=True)
            db.session.rollback()  # the page's reads end their transaction, as a request does
            return page

        def hand_worklist():
            with engine.connect() as conn:
                total = conn.execute(sa.text(HAND_WORKLIST_COUNT), {"t": team, "h": horizon}).scalar_one()
                rows = conn.execute(sa.text(HAND_WORKLIST_PAGE), {"t": team, "h": horizon}).all()
            return total, rows

        page = app_worklist()
        hand_total, hand_rows = hand_worklist()
        worklist_ok = page.total == hand_total and [e.id for e in page.items] == [r[0] for r in hand_rows]
        app_wl, hand_wl = median_ms(app_worklist, repeat), median_ms(hand_worklist, repeat)

        # 2. indicators of the whole county over the last 365 days
        date_to, date_from = today, today - dt.timedelta(days=364)
        params = {"teams": team_ids, "d0": date_from, "d1": date_to, "vpy": 4}

        def app_indicators():
            return followup_indicators(team_ids, date_from, date_to, 4)

        def hand_indicators():
            with engine.connect() as conn:
                return _indicators_from_sql(conn.execute(sa.text(HAND_INDICATORS), params).all())

        app_figures, hand_figures = app_indicators(), hand_indicators()
        db.session.rollback()
        app_ind, hand_ind = median_ms(app_indicators, repeat), median_ms(hand_indicators, repeat)
        db.session.rollback()

        print(f"\nworklist team {team}: {page.total} due by {horizon.isoformat()} or urgent; "
              f"worklist match: {'yes' if worklist_ok else 'no'}")
        print(f"indicators {date_from.isoformat()}..{date_to.isoformat()}, {len(team_ids)} teams; "
              f"figures match: {'yes' if app_figures == hand_figures else 'no'}")
        print(f"{'program':16} {'managed':>8} {'register':>8} {'f2f':>8} {'per pt':>6} "
              f"{'standard':>8} {'rate':>7} {'at target':>9} {'control':>7}")
        for i in app_figures:
            print(f"{i.program:16} {i.under_management:8} {i.register:8} {i.face_to_face_visits:8} "
                  f"{i.visits_per_patient or 0:6.2f} {i.standard_managed:8} {i.standard_management_rate or 0:7.4f} "
                  f"{i.at_target:9} {i.control_rate or 0:7.4f}")
        if app_figures != hand_figures:
            for a, h in zip(app_figures, hand_figures, strict=True):
                if a != h:
                    print(f"  app {a}\n  sql {h}")

        print(f"\n{'operation':44} | {'app ms':>9} | {'hand SQL ms':>11} | {'app / SQL':>9}")
        print(f"{'-' * 44}-+-{'-' * 9}-+-{'-' * 11}-+-{'-' * 9}")
        for name, a, h in ((f"worklist, team {team}, page 1 of 20 + count", app_wl, hand_wl),
                           (f"indicators, county ({len(team_ids)} teams), 365 days", app_ind, hand_ind)):
            print(f"{name:44} | {a:9.2f} | {h:11.2f} | {a / h:9.2f}")

        # 3. the plans of the SQL the app sends for the worklist
        _explain_app_worklist(engine, app_worklist)


def _explain_app_worklist(engine, run) -> None:
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    with engine.connect() as conn:
        for label, (statement, parameters) in zip(("count", "page"), captured, strict=False):
            plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()]
            text = "\n".join(plan)
            print(f"\nEXPLAIN app worklist {label} query: uses ix_program_enrolments_worklist: "
                  f"{'yes' if 'ix_program_enrolments_worklist' in text else 'no'}; "
                  f"Seq Scan on residents: {'yes' if 'Seq Scan on residents' in text else 'no'}")
            for line in plan[:14]:
                print("    " + line)
            if len(plan) > 14:
                print(f"    ... ({len(plan) - 14} more lines)")


if __name__ == "__main__":
    main()
