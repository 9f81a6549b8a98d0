"""The worklist reads the (team_id, status, next_due_date) index; it never
scans every resident or every enrolment (checked in PostgreSQL's plan on a
table big enough for the planner to care)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from services.core.db import db
from services.followup.worklist import WorklistFilters, worklist_query


def _explain(stmt) -> str:
    compiled = stmt.compile(dialect=db.engine.dialect)
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).all()
    return "\n".join(r[0] for r in rows)


def test_worklist_uses_the_index(app, world):
    staff = world.doctor_a.id
    db.session.execute(text("""
        INSERT INTO teams (institution_id, code, name, created_at)
        SELECT :inst, 'bulk-' || g, 'team ' || g, now() FROM generate_series(1, 60) g"""),
        {"inst": world.thc_a.id})
    db.session.execute(text("""
        INSERT INTO residents (institution_id, name, id_number_encrypted, id_number_hash, birth_date, sex,
                               floating, sms_opt_out, created_at, updated_at)
        SELECT :inst, 'r' || g, 'x', md5(g::text), DATE '1950-01-01' + (g % 20000), 'male', false, false,
               now(), now()
        FROM generate_series(1, 30000) g"""), {"inst": world.thc_a.id})
    db.session.execute(text("""
        INSERT INTO program_enrolments (resident_id, team_id, program, enrolled_on, status, system_due_date,
                                        next_due_date, created_by_id, created_at, updated_at)
        SELECT r.id, t.id, 'hypertension', DATE '2024-01-01', 'active',
               DATE '2026-01-01' + (r.id % 200), DATE '2026-01-01' + (r.id % 200), :staff, now(), now()
        FROM residents r
        JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM teams) t ON t.n = r.id % 62"""),
        {"staff": staff})
    db.session.commit()
    with db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    stmt = worklist_query(WorklistFilters(team_id=world.team_a.id, today=dt.date(2026, 3, 2)))
    plan = _explain(stmt.limit(20))
    assert "ix_program_enrolments_worklist" in plan, plan
    assert "Seq Scan on program_enrolments" not in plan, plan
    assert "Seq Scan on residents" not in plan, plan
