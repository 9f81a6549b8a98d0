"""The planner's dedupe check cannot fall into a slow generic plan (issue 14): it is one
`dedupe_key = ANY(:keys)` array parameter whose plan, even a generic one made after an ANALYZE,
probes the unique index (checked in EXPLAIN), and the planner's lookups and candidate queries
are never prepared on the server, so PostgreSQL plans them for the values at hand each run
(checked in pg_prepared_statements, next to statements psycopg did prepare)."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import text

from services.core import clock
from services.core.db import db
from services.models import ProgramEnrolment
from services.reminders import planner
from services.reminders.settings import ReminderSettings
from tests.factories import make_resident


def _fill_outbox(n: int) -> None:
    db.session.execute(text("""
        INSERT INTO outbox_messages (dedupe_key, kind, channel, template_code, text, status, attempts,
                                     created_at, updated_at)
        SELECT :kind || g || :occurrence, 'followup_due', 'sms', 'followup_due', 'x', 'sent', 1,
               now(), now()
        FROM generate_series(1, :n) g"""), {"n": n, "kind": "followup_due:", "occurrence": ":2026-03-04"})


def test_the_dedupe_check_probes_the_index_even_in_a_generic_plan(app):
    _fill_outbox(30_000)
    db.session.execute(text("ANALYZE outbox_messages"))
    keys = [f"followup_due:{i}:2026-03-04" for i in range(1, 2001, 2)]
    compiled = planner.existing_keys_query(keys).compile(dialect=db.engine.dialect)
    [name] = compiled.params  # the whole batch is one parameter
    sql = re.sub(r"%\(" + name + r"\)s", "$1", str(compiled))
    db.session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    db.session.connection().exec_driver_sql("PREPARE dedupe_check AS " + sql)
    try:
        array = "ARRAY[" + ", ".join(f"'{k}'" for k in keys) + "]"
        plan = "\n".join(db.session.connection().exec_driver_sql(f"EXPLAIN EXECUTE dedupe_check({array})").scalars())
        found = db.session.connection().exec_driver_sql(f"EXECUTE dedupe_check({array})").scalars().all()
    finally:
        db.session.connection().exec_driver_sql("DEALLOCATE dedupe_check")
    assert "$1" in plan, plan  # a generic plan: the parameter is not folded in
    assert "uq_outbox_messages_dedupe_key" in plan and "Seq Scan" not in plan, plan
    assert sorted(found) == sorted(keys)


def test_lookups_and_candidate_queries_are_never_prepared(app, world, frozen_clock):
    for n, phone in enumerate(["13912345601", None]):  # one planned, one without a number (looked up every run)
        r = make_resident(world.thc_a, phone=phone, birth=dt.date(1950, 1, 1 + n))
        due = dt.date(2026, 3, 4)
        db.session.add(ProgramEnrolment(resident_id=r.id, team_id=world.team_a.id, program="hypertension",
                                        enrolled_on=due - dt.timedelta(days=14), system_due_date=due,
                                        next_due_date=due))
    db.session.commit()
    _fill_outbox(100)
    settings = ReminderSettings()
    for _ in range(8):  # psycopg prepares what a connection runs 5 times; one transaction, one connection
        planner.plan_reminders(clock.today(), settings)
    prepared = db.session.execute(text("SELECT statement FROM pg_prepared_statements")).scalars().all()
    # psycopg did prepare here (cancel_stale's UPDATEs run every time) ...
    assert any(s.startswith("UPDATE outbox_messages") for s in prepared), prepared
    # ... but not one statement that reads by a list of values or fetches candidates.
    assert not [s for s in prepared if s.startswith("SELECT") and any(
        table in s.split(" WHERE ")[0] for table in ("program_enrolments", "contracts", "outbox_messages", "sms_opt_outs",
                                                     "wechat_subscriptions"))], prepared
