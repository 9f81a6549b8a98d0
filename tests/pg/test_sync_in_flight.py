"""The pull never skips a change committed out of order (PostgreSQL).

A sequence number is taken when a change is written, not when its
transaction commits: here connection A takes the lower version and stays
open while connection B takes a higher one and commits. A pull in between
must deliver neither (it stops below A, still in flight), and once A commits
the next pull delivers both. Jumping to B's version would have skipped A's
change for good.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.core.db import db
from services.models import Contract, Resident, SyncFeedEntry
from services.sync import feed
from tests.api.test_sync import holdings, pull_all
from tests.factories import login, make_resident


def _panel_resident(world, name):
    r = make_resident(world.thc_a, name=name)
    db.session.add(Contract(resident_id=r.id, team_id=world.team_a.id, status="active",
                            starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2026, 12, 31)))
    db.session.commit()
    return r.id


def _feed_version(resident_id):
    db.session.expire_all()
    return db.session.scalar(select(SyncFeedEntry.version).where(
        SyncFeedEntry.kind == "resident", SyncFeedEntry.entity_id == resident_id))


def test_a_change_committed_after_a_later_one_is_still_delivered(app, world, client):
    first, second = _panel_resident(world, "先写的"), _panel_resident(world, "后写的")
    headers = login(client, "doctor_a")
    _, cursor, _ = pull_all(client, headers)

    slow, quick = Session(db.engine), Session(db.engine)
    try:
        row = slow.get(Resident, first)
        row.address = "慢的提交"
        slow.flush()
        feed.write_changes(slow, slow.info.pop("sync_touched"))  # version taken, not committed
        slow_version = slow.scalar(select(SyncFeedEntry.version).where(
            SyncFeedEntry.kind == "resident", SyncFeedEntry.entity_id == first))

        quick.get(Resident, second).address = "快的提交"
        quick.commit()
        assert _feed_version(second) > slow_version  # B's number is higher and visible first

        body = client.get("/api/v1/sync/pull", headers=headers, query_string={"cursor": cursor}).get_json()
        assert body["changes"] == [] and body["has_more"] is False
        cursor_between = body["cursor"]

        slow.commit()
    finally:
        slow.close()
        quick.close()

    changes, _, _ = pull_all(client, headers, cursor_between)
    held = holdings(changes)
    assert held[("resident", first)]["data"]["address"] == "慢的提交"
    assert held[("resident", second)]["data"]["address"] == "快的提交"
    assert [c["id"] for c in changes if c["type"] == "resident"] == [first, second]


def test_a_long_running_writer_holds_pages_back_but_loses_nothing(app, world, client):
    ids = [_panel_resident(world, f"居民{n}") for n in range(5)]
    headers = login(client, "doctor_a")
    _, cursor, _ = pull_all(client, headers)
    open_tx = Session(db.engine)
    try:
        open_tx.get(Resident, ids[0]).address = "未提交"
        open_tx.flush()  # holds a transaction id: every later change waits behind it
        for rid in ids[1:]:
            with Session(db.engine) as s:
                s.get(Resident, rid).address = "已提交"
                s.commit()
        assert client.get("/api/v1/sync/pull", headers=headers,
                          query_string={"cursor": cursor}).get_json()["changes"] == []
        open_tx.commit()
    finally:
        open_tx.close()
    changes, _, _ = pull_all(client, headers, cursor)
    held = holdings(changes)
    assert {held[("resident", rid)]["data"]["address"] for rid in ids[1:]} == {"已提交"}
    assert held[("resident", ids[0])]["data"]["address"] == "未提交"
