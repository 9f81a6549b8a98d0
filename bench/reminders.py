"""Benchmark of reminder planning and SMS dispatch (PostgreSQL).

    .venv/bin/python -m bench.reminders                          # scale 0.1, about a minute
    BENCH_SCALE=1 BENCH_REPEAT=3 .venv/bin/python -m bench.reminders
    BENCH_SMS_RATE=10 BENCH_SMS_RATE_HIGH=40 BENCH_SMS_MESSAGES=100 BENCH_SMS_LATENCY=0.05 BENCH_SMS_THREADS=8 ...

1. Planning. Builds the county of bench/worklist.py (same generator, same
   BENCH_SCALE: 1.0 = 400,000 residents, about 107,500 enrolments) in a
   temporary schema, gives residents mobile numbers (about 4% without one,
   1.5% opted out in the app, 1% of numbers on the opt-out list) and teams a
   phone, then, on a frozen clock, times `plan_reminders(day)` filling an empty
   outbox, and a second run for the same day (a no-op: asserted to insert 0),
   and a third after ANALYZE with every connection on generic plans
   (`plan_cache_mode = force_generic_plan`: the plans PostgreSQL may settle on
   for prepared statements, made without the values; also a no-op).
   Next to them, in the same run: ONE hand-written
   INSERT INTO ... SELECT ... ON CONFLICT (dedupe_key) DO NOTHING making the
   same follow-up due / overdue rows (suppressed ones included, residents
   without a number left out) into a scratch copy of outbox_messages, and the
   same statement again (inserts 0). The counts and the rows themselves are
   checked to be identical. Median of BENCH_REPEAT rounds (the outboxes are
   emptied before each round).
2. Dispatch. Real TwilioSmsChannel and Dispatcher, real time.sleep and clock,
   against the local FakeTwilio with BENCH_SMS_LATENCY per request (50 ms),
   quiet hours off: sends BENCH_SMS_MESSAGES of the planned messages (distinct
   residents) at BENCH_SMS_RATE/s, then as many others at BENCH_SMS_RATE_HIGH/s,
   with BENCH_SMS_THREADS concurrent senders (default: the setting's default;
   1 is the single sequential sender of before), and prints the achieved rate
   against the configured one and against the ceiling of that many senders.

The schema is dropped at the end, also on failure.
"""
from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from collections import Counter
from contextlib import contextmanager, nullcontext

import sqlalchemy as sa

from bench.worklist import DEFAULT_URL, _generate, _h, _make_app, _sizes, _vacuum_analyze, private_schema

# A Monday morning, 07:00 in Beijing: when the daily planning job runs.
PLAN_AT = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

# The outbox columns the planner fills (the rest keep their defaults / NULL).
COLUMNS = ("dedupe_key, kind, resident_id, subject_type, subject_id, occurrence, recipient, channel, "
           "template_code, text, data, status, status_reason, attempts, next_attempt_at, not_after, "
           "created_at, updated_at")
# What must be equal between the planner's rows and the hand SQL's (json has no '=', jsonb has).
COMPARED = ("dedupe_key, kind, resident_id, subject_type, subject_id, occurrence, recipient, channel, "
            "template_code, text, data::jsonb, status, status_reason, attempts, next_attempt_at, not_after")


# --- data ---------------------------------------------------------------------------------

def _contacts(conn) -> float:
    """Mobile numbers and opt-outs on the generated county (it has none)."""
    t0 = time.perf_counter()
    conn.execute(sa.text(f"""
        UPDATE residents SET phone = CASE WHEN {_h('id', 21)} >= 40 THEN '138' || lpad(id::text, 8, '0') END,
                             sms_opt_out = {_h('id', 22)} < 15"""))
    conn.execute(sa.text(f"""
        INSERT INTO sms_opt_outs (phone, source, keyword, created_at)
        SELECT phone, 'reply', '退订', now() FROM residents
        WHERE phone IS NOT NULL AND NOT sms_opt_out AND {_h('id', 23)} < 10"""))
    conn.execute(sa.text("UPDATE teams SET phone = '0311-8' || lpad(id::text, 7, '0') WHERE id % 5 <> 0"))
    # The scratch outbox for the hand-written SQL: same columns, defaults, checks, unique key and indexes.
    conn.execute(sa.text("CREATE TABLE outbox_hand (LIKE outbox_messages INCLUDING ALL)"))
    conn.execute(sa.text("ALTER TABLE outbox_hand ADD FOREIGN KEY (resident_id) REFERENCES residents (id)"))
    return time.perf_counter() - t0


# --- hand-written SQL ---------------------------------------------------------------------

HAND_FROM = """
    FROM program_enrolments e
    JOIN residents r ON r.id = e.resident_id
    JOIN teams t ON t.id = e.team_id
    WHERE e.status = 'active'
      AND (e.next_due_date BETWEEN :day AND :due_to OR e.next_due_date BETWEEN :overdue_from AND :overdue_to)"""

HAND_PLAN = f"""
INSERT INTO {{table}} ({COLUMNS})
SELECT kind || ':' || e.id || ':' || to_char(e.next_due_date, 'YYYY-MM-DD'), kind, r.id, 'enrolment', e.id,
       to_char(e.next_due_date, 'YYYY-MM-DD'),
       CASE WHEN coalesce(r.phone, '') <> '' THEN '+86' || r.phone END, 'sms', kind,
       CASE WHEN kind = 'followup_due' THEN :due_pre ELSE :od_pre END
           || extract(month FROM e.next_due_date)::int || '月' || extract(day FROM e.next_due_date)::int || '日'
           || CASE WHEN kind = 'followup_due' THEN :due_mid ELSE :od_mid END
           || CASE WHEN coalesce(t.phone, '') <> '' THEN ' ' || t.phone ELSE '' END
           || CASE WHEN kind = 'followup_due' THEN :due_post ELSE :od_post END,
       json_build_object('thing1', CASE WHEN kind = 'followup_due' THEN :due_title ELSE :od_title END,
                         'time2', to_char(e.next_due_date, 'YYYY-MM-DD'), 'thing3', left(t.name, 20)),
       CASE WHEN reason IS NULL THEN 'planned' ELSE 'suppressed' END, reason, 0,
       CASE WHEN reason IS NULL THEN CAST(:now AS timestamptz) END, NULL, :now, :now
FROM (
    SELECT e.*, CASE WHEN e.next_due_date >= :day THEN 'followup_due' ELSE 'followup_overdue' END AS kind
    FROM program_enrolments e
) e
JOIN residents r ON r.id = e.resident_id
JOIN teams t ON t.id = e.team_id
CROSS JOIN LATERAL (
    SELECT CASE WHEN r.sms_opt_out THEN 'resident_opted_out'
                WHEN EXISTS (SELECT 1 FROM sms_opt_outs o WHERE o.phone = r.phone) THEN 'number_opted_out'
           END AS reason
) s
WHERE e.status = 'active'
  AND (e.next_due_date BETWEEN :day AND :due_to OR e.next_due_date BETWEEN :overdue_from AND :overdue_to)
  AND (r.sms_opt_out OR coalesce(r.phone, '') <> '')
ON CONFLICT (dedupe_key) DO NOTHING"""

HAND_CANDIDATES = """
SELECT count(*) AS candidates,
       count(*) FILTER (WHERE NOT r.sms_opt_out AND coalesce(r.phone, '') = '') AS no_contact""" + HAND_FROM


def _hand_params(day: dt.date, now: dt.datetime, settings) -> dict:
    """Bind values; the texts come from the app's own templates, split around {date} and {contact}."""
    from services.reminders import templates

    p = {"day": day, "due_to": day + dt.timedelta(days=settings.followup_due_days), "now": now,
         "overdue_to": day - dt.timedelta(days=settings.overdue_days),
         "overdue_from": day - dt.timedelta(days=settings.overdue_days + settings.catchup_days)}
    for prefix, kind in (("due", "followup_due"), ("od", "followup_overdue")):
        text = templates.render(kind, settings.signature, date="\x00", contact="\x01")
        pre, rest = text.split("\x00")
        mid, post = rest.split("\x01")
        p.update({f"{prefix}_pre": pre, f"{prefix}_mid": mid, f"{prefix}_post": post,
                  f"{prefix}_title": templates.WECHAT_TITLES[kind][:20]})
    return p


# --- instrumentation ----------------------------------------------------------------------

class _Statements:
    """Counts the SQL statements an engine sends (and keeps the first line of each)."""

    def __init__(self, engine):
        self.engine, self.seen = engine, []

    def _on(self, conn, cursor, statement, parameters, context, executemany):
        words = statement.split()
        table = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("FROM", "INTO", "UPDATE")), "")
        self.seen.append(f"{words[0] if words else ''} {table}".strip())

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._on)


@contextmanager
def _generic_plans(engine):
    """Every connection checked out meanwhile plans statements as PostgreSQL may for a prepared
    one, without their values (plan_cache_mode = force_generic_plan); they are dropped after."""
    def force(dbapi_connection, record, proxy):
        dbapi_connection.execute("SET plan_cache_mode = force_generic_plan")
        dbapi_connection.commit()

    sa.event.listen(engine, "checkout", force)
    try:
        yield
    finally:
        sa.event.remove(engine, "checkout", force)
        engine.dispose()


class _TimedSms:
    """The real channel, with each provider call timed."""

    def __init__(self, inner):
        self.inner, self.name, self.seconds, self.starts = inner, inner.name, [], []

    def send_sms(self, to, text):
        t0 = time.perf_counter()
        self.starts.append(t0)
        try:
            return self.inner.send_sms(to, text)
        finally:
            self.seconds.append(time.perf_counter() - t0)

    def find_sent(self, to, since):
        return self.inner.find_sent(to, since)


# --- main ---------------------------------------------------------------------------------

def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    scale = float(os.environ.get("BENCH_SCALE", "0.1"))
    repeat = int(os.environ.get("BENCH_REPEAT", "3"))
    started = time.perf_counter()
    with private_schema(url, "rmbench", "bench.reminders") as (schema, shown):
        app = _make_app(url, schema)
        with app.app_context():
            _bench_planning(_sizes(scale), scale, repeat, shown)
            _bench_dispatch()
    print(f"\ntotal runtime {time.perf_counter() - started:.1f}s (schema {schema} dropped)")


def _bench_planning(sizes: dict[str, int], scale: float, repeat: int, shown: str) -> None:
    from services.core import clock
    from services.core.db import db
    from services.reminders import planner
    from services.reminders.settings import ReminderSettings

    engine = db.engine
    settings = ReminderSettings()
    with clock.freeze(PLAN_AT):
        day, now = clock.today(), clock.now()
        t0 = time.perf_counter()
        with engine.begin() as conn:
            steps = _generate(conn, sizes, day)
            steps.append(("contacts", _contacts(conn)))
        steps.append(("vacuum analyze", _vacuum_analyze(engine)))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) sms_opt_outs")
        gen_s = time.perf_counter() - t0
        params = _hand_params(day, now, settings)
        with engine.connect() as conn:
            n_res, n_enr = (conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                            for t in ("residents", "program_enrolments"))
            cand = conn.execute(sa.text(HAND_CANDIDATES), params).one()

        print(f"\nReminder planning on {shown} (scale {scale:g}), day {day.isoformat()} "
              f"(clock frozen at {PLAN_AT.isoformat()}), median of {repeat} rounds")
        print(f"generated in {gen_s:.1f}s (" + ", ".join(f"{name} {s:.1f}s" for name, s in steps) + ")")
        print(f"rows: residents {n_res:,}, enrolments {n_enr:,}; windows: due {day}..{params['due_to']}, "
              f"overdue {params['overdue_from']}..{params['overdue_to']}")

        # cancel_stale's share of the planner's time (plan_reminders looks the name up at call time).
        stale_s: list[float] = []
        real_cancel_stale = planner.cancel_stale

        def timed_cancel_stale(*args, **kwargs):
            t = time.perf_counter()
            try:
                return real_cancel_stale(*args, **kwargs)
            finally:
                stale_s.append(time.perf_counter() - t)

        def app_plan(generic: bool = False):
            db.session.remove()  # a cold session, as in the scheduler's job
            with _Statements(engine) as stmts, (_generic_plans(engine) if generic else nullcontext()):
                t = time.perf_counter()
                result = planner.plan_reminders(day, settings, commit=db.session.commit)
                ms = (time.perf_counter() - t) * 1000
            db.session.commit()
            db.session.remove()
            return result, ms, stmts.seen

        def hand_plan():
            t = time.perf_counter()
            with engine.begin() as conn:
                n = conn.execute(sa.text(HAND_PLAN.format(table="outbox_hand")), params).rowcount
            return n, (time.perf_counter() - t) * 1000

        times: dict[str, list[float]] = {k: [] for k in ("app1", "app2", "app3", "hand1", "hand2", "stale1",
                                                         "stale2")}
        planner.cancel_stale = timed_cancel_stale
        try:
            for _ in range(repeat):
                with engine.begin() as conn:
                    conn.execute(sa.text("TRUNCATE outbox_messages, outbox_hand, wechat_subscriptions"))
                stale_s.clear()
                first, ms1, stmts1 = app_plan()
                second, ms2, stmts2 = app_plan()
                assert second.planned == 0 and second.suppressed == 0, f"second run inserted rows: {second}"
                assert second.cancelled == 0 and first.cancelled == 0, (first, second)
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("ANALYZE outbox_messages")
                third, ms3, _ = app_plan(generic=True)
                assert (third.planned, third.suppressed, third.cancelled) == (0, 0, 0), f"third run: {third}"
                hand1, hms1 = hand_plan()
                hand2, hms2 = hand_plan()
                assert hand2 == 0, f"hand SQL no-op inserted {hand2}"
                for key, value in (("app1", ms1), ("app2", ms2), ("app3", ms3), ("hand1", hms1), ("hand2", hms2),
                                   ("stale1", stale_s[0] * 1000), ("stale2", stale_s[1] * 1000)):
                    times[key].append(value)
        finally:
            planner.cancel_stale = real_cancel_stale
        med = {k: statistics.median(v) for k, v in times.items()}

        # Same answer? Counts, then the rows themselves.
        with engine.connect() as conn:
            by_status = {table: dict(conn.execute(sa.text(
                f"SELECT status, count(*) FROM {table} GROUP BY status")).all())
                for table in ("outbox_messages", "outbox_hand")}
            by_kind = dict(conn.execute(sa.text("SELECT kind, count(*) FROM outbox_hand GROUP BY kind")).all())
            reasons = dict(conn.execute(sa.text(
                "SELECT status_reason, count(*) FROM outbox_hand WHERE status = 'suppressed' "
                "GROUP BY status_reason")).all())
            only_app, only_hand = (conn.execute(sa.text(
                f"SELECT count(*) FROM (SELECT {COMPARED} FROM {a} EXCEPT ALL SELECT {COMPARED} FROM {b}) x"))
                .scalar_one() for a, b in (("outbox_messages", "outbox_hand"), ("outbox_hand", "outbox_messages")))
        app_rows, hand_rows = (sum(by_status[t].values()) for t in ("outbox_messages", "outbox_hand"))
        hand_planned = by_status["outbox_hand"].get("planned", 0)
        hand_suppressed = by_status["outbox_hand"].get("suppressed", 0)
        print(f"\ncandidates (active, due {settings.followup_due_days} days ahead or overdue "
              f"{settings.overdue_days}..{settings.overdue_days + settings.catchup_days} days): {cand.candidates:,}")
        print(f"planner:  planned {first.planned:,} + suppressed {first.suppressed:,} = {app_rows:,} rows, "
              f"skipped (no mobile) {first.skipped_no_contact:,}, cancelled {first.cancelled}; "
              f"by kind {dict(sorted(first.by_kind.items()))}")
        print(f"hand SQL: planned {hand_planned:,} + suppressed {hand_suppressed:,} = {hand_rows:,} rows "
              f"({hand1:,} inserted), no mobile {cand.no_contact:,}; by kind {dict(sorted(by_kind.items()))}; "
              f"suppressed {dict(sorted(reasons.items()))}")
        same_rows = only_app == 0 and only_hand == 0
        print(f"counts match: {'yes' if (hand_planned, hand_suppressed) == (first.planned, first.suppressed) else 'no'}"
              f"; rows identical (key, recipient, text, data, status, send time...): "
              f"{'yes' if same_rows else f'no ({only_app} only in app, {only_hand} only in hand SQL)'}")
        assert hand1 == hand_rows == app_rows, (hand1, hand_rows, app_rows)
        assert (hand_planned, hand_suppressed) == (first.planned, first.suppressed), (by_status, first)
        assert first.planned + first.suppressed + first.skipped_no_contact == cand.candidates, (first, cand)
        assert first.skipped_no_contact == cand.no_contact, (first, cand)
        assert same_rows, (only_app, only_hand)

        print(f"\n{'planning one day (' + format(app_rows, ',') + ' rows)':46} | {'app ms':>9} | "
              f"{'hand SQL ms':>11} | {'app / SQL':>9}")
        print(f"{'-' * 46}-+-{'-' * 9}-+-{'-' * 11}-+-{'-' * 9}")
        for name, a, h in (("first run (inserting)", med["app1"], med["hand1"]),
                           ("second run, same day (inserts 0)", med["app2"], med["hand2"]),
                           ("  again after ANALYZE, generic plans forced", med["app3"], med["hand2"])):
            print(f"{name:46} | {a:9.1f} | {h:11.1f} | {a / h:9.1f}")
        print(f"statements sent by the planner: first run {len(stmts1):,}, second run {len(stmts2):,} "
              f"(hand SQL: 1 each)")
        print(f"of the planner's time, cancel_stale (set-based UPDATEs of planned rows whose reason disappeared): "
              f"first run {med['stale1']:.1f} ms ({med['stale1'] / med['app1']:.0%}), "
              f"second run {med['stale2']:.1f} ms ({med['stale2'] / med['app2']:.0%})")
        for label, seen in (("first", stmts1), ("second", stmts2)):
            print(f"{label} run's statements: " + ", ".join(f"{k} x{n:,}" for k, n in Counter(seen).most_common(6)))


def _bench_dispatch() -> None:
    from flask import current_app

    from services.core.db import db
    from services.reminders.channels.twilio import TwilioSmsChannel
    from services.reminders.dispatcher import Channels, Dispatcher
    from services.reminders.settings import ReminderSettings
    from tests.fakes.twilio import FakeTwilio

    n = int(os.environ.get("BENCH_SMS_MESSAGES", "100"))
    rates = (float(os.environ.get("BENCH_SMS_RATE", "10")), float(os.environ.get("BENCH_SMS_RATE_HIGH", "40")))
    latency = float(os.environ.get("BENCH_SMS_LATENCY", "0.05"))
    threads = int(os.environ.get("BENCH_SMS_THREADS", str(ReminderSettings().dispatch_threads)))
    app = current_app._get_current_object()
    engine = db.engine

    class TimedDispatcher(Dispatcher):
        """Times each sender's work on a message (pacing sleep included; subtracted below)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.deliver_s: list[float] = []

        def _deliver(self, row, result):
            t = time.perf_counter()
            try:
                super()._deliver(row, result)
            finally:
                self.deliver_s.append(time.perf_counter() - t)
    db.session.remove()
    # Park every planned message, then release disjoint sets of planner rows (one per resident, so the
    # per-resident daily cap never defers one), due now on the real clock.
    with engine.begin() as conn:
        ids = list(conn.execute(sa.text("""
            SELECT id FROM (SELECT DISTINCT ON (resident_id) id FROM outbox_messages
                            WHERE status = 'planned' ORDER BY resident_id, id) x
            ORDER BY id LIMIT :k"""), {"k": n * len(rates)}).scalars())
        conn.execute(sa.text("UPDATE outbox_messages SET status = 'cancelled', status_reason = 'bench_parked' "
                             "WHERE status = 'planned'"))
    per_run = len(ids) // len(rates)
    print(f"\nDispatch: real TwilioSmsChannel + Dispatcher, real clock and time.sleep, quiet hours off, "
          f"FakeTwilio with {latency * 1000:.0f} ms latency per request, {per_run} messages per run, "
          f"{threads} sender thread{'s' if threads != 1 else ''} (SMS_DISPATCH_THREADS)")
    with FakeTwilio() as fake:
        fake.latency = latency
        for i, rate in enumerate(rates):
            batch = ids[i * per_run:(i + 1) * per_run]
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE outbox_messages SET status = 'planned', status_reason = NULL, "
                                     "next_attempt_at = now() - interval '1 minute' WHERE id = ANY(:ids)"),
                             {"ids": batch})
            settings = ReminderSettings(quiet_hours=None, rate_per_second=rate, batch_size=100,
                                        dispatch_threads=threads)
            sms = _TimedSms(TwilioSmsChannel(account_sid=fake.account_sid, auth_token=fake.auth_token,
                                             from_number="+15005550006", api_base=fake.base_url))
            slept: list[float] = []

            def sleep(seconds: float, slept=slept) -> None:
                slept.append(seconds)
                time.sleep(seconds)

            before = len(fake.sent)
            db.session.remove()
            with _Statements(engine) as stmts:
                t0 = time.perf_counter()
                dispatcher = TimedDispatcher(Channels(sms=sms), settings, sleep=sleep,
                                             worker_context=app.app_context)
                result = dispatcher.run_once()
                elapsed = time.perf_counter() - t0
            db.session.remove()
            accepted = len(fake.sent) - before
            assert result.sent == accepted == len(batch), (result, accepted, len(batch))
            achieved = result.sent / elapsed
            busy = sum(dispatcher.deliver_s) - sum(slept)  # the senders' own work, summed over threads
            ceiling = dispatcher.senders * result.sent / busy
            provider_ms = statistics.mean(sms.seconds) * 1000
            before_first = sms.starts[0] - t0
            steady = (len(sms.starts) - 1) / (sms.starts[-1] - sms.starts[0]) if len(sms.starts) > 1 else 0.0
            print(f"dispatch at {rate:g}/s: {result.sent} messages in {elapsed:.1f} s = {achieved:.1f}/s, "
                  f"{achieved / rate:.2f} of the configured {rate:g}/s")
            print(f"    claiming and checking the batch before the first send: {before_first:.2f} s; "
                  f"then sending at {steady:.1f}/s = {steady / rate:.2f} of the configured rate")
            bound = ("the configured rate is the bound" if ceiling > rate * 1.05 else
                     f"above what {dispatcher.senders} sender(s) can do: the bound is the senders, not the rate limit")
            print(f"    per message {busy / result.sent * 1000:.1f} ms of a sender's work ({provider_ms:.1f} ms Twilio "
                  f"call incl. {latency * 1000:.0f} ms latency, {busy / result.sent * 1000 - provider_ms:.1f} ms "
                  f"ORM + database; {len(stmts.seen) / result.sent:.1f} statements a message, claiming included), "
                  f"slept {sum(slept):.1f} s in {len(slept)} waits; {dispatcher.senders} sender(s)' "
                  f"ceiling {ceiling:.1f}/s -> {bound}")
            print("    statements: " + ", ".join(f"{k} x{n}" for k, n in Counter(stmts.seen).most_common(8)))


if __name__ == "__main__":
    main()
