"""Planning's fast paths (issue 14) give the planner's answer unchanged, on SQLite and PostgreSQL:
a rerun fetches only what is not planned yet (the candidates' anti-join spells each dedupe key in
SQL exactly as Python does); the per-batch key check still catches what the anti-join lets
through; rows written by PostgreSQL's one-JSON-parameter INSERT equal, column for column, those
a plain ORM insert writes (quotes, backslashes, characters outside the BMP, WeChat data, NULLs,
instants); and a key another planner took between the check and the insert is left alone."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Text, cast, delete, insert, select, true

from services.core import clock
from services.core.db import db
from services.models import OutboxMessage, ProgramEnrolment, SmsOptOut, WechatSubscription
from services.reminders import planner, templates
from services.reminders.settings import ReminderSettings
from tests.factories import make_contract, make_resident

SETTINGS = ReminderSettings(signature="青禾县卫生院")
TRICKY_TEAM = 'A "quoted" \\ 团队 𠀀𡃁 é'


@pytest.fixture(autouse=True)
def _frozen(frozen_clock):
    return frozen_clock


def enrol(world, phone: str | None, due: dt.date, *, n: int, team=None, **resident):
    r = make_resident(world.thc_a, phone=phone, birth=dt.date(1950, 1, 1) + dt.timedelta(days=n), name=f"居民{n}")
    for key, value in resident.items():
        setattr(r.row, key, value)
    db.session.add(ProgramEnrolment(resident_id=r.id, team_id=(team or world.team_a).id, program="hypertension",
                                    enrolled_on=due - dt.timedelta(days=14), system_due_date=due,
                                    next_due_date=due))
    db.session.commit()
    return r


def plan(settings: ReminderSettings = SETTINGS) -> planner.PlanResult:
    return planner.plan_reminders(clock.today(), settings, commit=db.session.commit)


def outbox() -> dict[str, dict]:
    """Every outbox row by key, all columns, `data` as the text the database holds."""
    db.session.expire_all()
    table = OutboxMessage.__table__
    result = db.session.execute(select(*table.c, cast(table.c.data, Text).label("data_text")))
    return {row["dedupe_key"]: row for row in (dict(r._mapping) for r in result)}


def test_a_rerun_fetches_only_what_is_not_planned_yet(app, world):
    day, now = clock.today(), clock.now()
    enrol(world, "13912345601", dt.date(2026, 3, 4), n=1)                      # due in 2 days
    enrol(world, "13912345602", dt.date(2026, 2, 21), n=2)                     # overdue by 9 days
    no_mobile = enrol(world, None, dt.date(2026, 3, 3), n=3)
    enrol(world, "13912345604", dt.date(2026, 3, 5), n=4, sms_opt_out=True)    # suppressed, still a row
    for n, ends in ((5, dt.date(2026, 4, 1)), (6, dt.date(2026, 3, 9))):       # 30 and 7 days left
        r = make_resident(world.thc_a, phone=f"1391234560{n}", birth=dt.date(1960, 1, n))
        make_contract(r.id, world.team_a).ends_on = ends
    db.session.commit()

    first = plan()
    assert (first.planned, first.suppressed, first.skipped_no_contact) == (4, 1, 1)
    assert first.by_kind == {"followup_due": 2, "followup_overdue": 1, "contract_ending": 2}
    # Everything planned is left out of the candidates (on both databases the SQL key is the Python key);
    # only the resident without a mobile number, who has no row, is fetched again.
    assert [(c.kind, c.resident.id) for c in planner._followup_candidates(day, SETTINGS, now)] == [
        ("followup_due", no_mobile.id)]
    assert list(planner._contract_candidates(day, SETTINGS, now)) == []
    second = plan()
    assert (second.planned, second.suppressed, second.skipped_no_contact, second.by_kind) == (0, 0, 1, {})
    assert len(outbox()) == 5


def test_batches_mixing_planned_and_new_keys_plan_each_event_once(app, world, monkeypatch):
    for n in range(7):
        enrol(world, f"1391234570{n}", dt.date(2026, 3, 3) + dt.timedelta(days=n % 3), n=n,
              sms_opt_out=(n == 4))
    small = ReminderSettings(signature="青禾县卫生院", plan_batch_size=3)
    assert (plan(small).planned, plan(small).planned) == (6, 0)
    before = outbox()
    gone = sorted(before)[1::3]
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.dedupe_key.in_(gone)))
    db.session.commit()
    again = plan(small)
    assert again.planned + again.suppressed == len(gone)
    after = outbox()
    assert {k: {c: v for c, v in row.items() if c != "id"} for k, row in after.items()} == {
        k: {c: v for c, v in row.items() if c != "id"} for k, row in before.items()}
    # Without the anti-join every candidate reaches the per-batch check (`= ANY(:keys)` on
    # PostgreSQL), which still lets none through twice.
    monkeypatch.setattr(planner, "_not_planned", lambda *parts: true())
    blind = plan(small)
    assert (blind.planned, blind.suppressed, blind.skipped_no_contact) == (0, 0, 0)
    assert outbox().keys() == before.keys()


def test_rows_equal_what_a_plain_orm_insert_writes(app, world, monkeypatch):
    world.team_a.name, world.team_a.phone = TRICKY_TEAM, "0311-8123456"
    db.session.commit()
    first = enrol(world, "13912345601", dt.date(2026, 3, 4), n=1)
    enrol(world, "13912345602", dt.date(2026, 2, 21), n=2, sms_opt_out=True)
    replied = enrol(world, "13912345603", dt.date(2026, 3, 3), n=3)
    db.session.add(SmsOptOut(phone="13912345603", source="reply", keyword="退订"))
    # A landline and a WeChat subscription: sent by WeChat, no SMS recipient (a NULL).
    wx = enrol(world, "0311-8123457", dt.date(2026, 3, 5), n=4, wechat_openid="o-landline")
    db.session.add(WechatSubscription(resident_id=wx.id, template_id="tmpl-due", created_at=clock.now()))
    db.session.commit()
    written: list[dict] = []
    real_insert = planner._insert_ignoring_duplicates

    def spy(rows):
        written.extend(dict(r) for r in rows)
        return real_insert(rows)

    monkeypatch.setattr(planner, "_insert_ignoring_duplicates", spy)
    settings = ReminderSettings(signature="青禾县卫生院", wechat_templates={"followup_due": "tmpl-due"})
    result = plan(settings)
    assert (result.planned, result.suppressed) == (2, 2)
    # The same rows through the ORM's own insert, under other keys.
    db.session.execute(insert(OutboxMessage), [{**r, "dedupe_key": "plain:" + r["dedupe_key"]} for r in written])
    db.session.commit()
    rows = outbox()
    assert len(rows) == 8
    for key in [k for k in rows if not k.startswith("plain:")]:
        fast, plain = rows[key], rows["plain:" + key]
        assert {c: v for c, v in fast.items() if c not in ("id", "dedupe_key")} == {
            c: v for c, v in plain.items() if c not in ("id", "dedupe_key")}, key
    by_resident = {row["resident_id"]: row for key, row in rows.items() if not key.startswith("plain:")}
    due = by_resident[first.id]
    assert due["text"] == "【青禾县卫生院】您有一项健康随访服务将于3月4日到期，请联系您的家庭医生团队 0311-8123456。"
    assert due["data"] == templates.wechat_data("followup_due", "2026-03-04", TRICKY_TEAM)
    assert (due["recipient"], due["status"], due["next_attempt_at"], due["not_after"]) == (
        "+8613912345601", "planned", clock.now(), None)
    assert (by_resident[replied.id]["status"], by_resident[replied.id]["status_reason"],
            by_resident[replied.id]["next_attempt_at"]) == ("suppressed", "number_opted_out", None)
    assert (by_resident[wx.id]["channel"], by_resident[wx.id]["recipient"]) == ("wechat", None)


def test_a_key_taken_between_the_check_and_the_insert_is_left_alone(app, world, monkeypatch):
    for n in range(3):
        enrol(world, f"1391234580{n}", dt.date(2026, 3, 4), n=n)
    keys = sorted(c.key for c in planner._followup_candidates(clock.today(), SETTINGS, clock.now()))
    # Another planner's row for the first key, committed after this one looked.
    db.session.add(OutboxMessage(dedupe_key=keys[0], kind="followup_due", template_code="followup_due",
                                 text="theirs", status="planned"))
    db.session.commit()
    monkeypatch.setattr(planner, "_not_planned", lambda *parts: true())
    monkeypatch.setattr(planner, "_existing_keys", lambda keys: set())
    result = plan()
    assert result.planned == 2
    rows = outbox()
    assert sorted(rows) == keys and rows[keys[0]]["text"] == "theirs"
