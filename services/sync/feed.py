"""The change feed: every write that changes what a team's phones hold moves
that record's `sync_feed` row forward, in the writing transaction.

How it is kept: SQLAlchemy session events. `after_flush` notes which records
a flush touched (a follow-up touches its enrolment, a delivery its contract,
a contract or enrolment also the membership of its resident in team panels,
a session's new time or cancellation each of its bookings); `before_commit`
works out, for each touched record, which teams should hold it now, and
upserts their rows with a new version (tombstones, `deleted = true`, for the
teams that held it and should not any more). Versions come from the
`sync_feed_version_seq` sequence on PostgreSQL, and `max + 1` on SQLite
(whose writers are serialised); `xid` is the transaction id on PostgreSQL,
so a pull can stop below anything still in flight.

Who holds what:
- a resident: every team with a live contract (pending to active) or an
  active enrolment for them (the team's panel);
- an enrolment: its team while it is active;
- a contract: its team while it is active;
- an appointment: the team of its session unless it is cancelled;
- a round point: everyone (`team_id = 0`; a pull keeps its team's
  institution's points) while it is active;
- a loaded package version: everyone (`team_id = 0`), as a signal to work
  out the catalog in force again (which a pull also does once a day).

`rebuild()` writes the feed from the tables in SQL (after a bulk load).
"""
from __future__ import annotations

import itertools
from collections import defaultdict

from sqlalchemy import Integer, and_, bindparam, event, func, inspect, literal, literal_column, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.models import (
    Appointment,
    Contract,
    ContractEntitlement,
    ContractPackage,
    FollowUp,
    PackageVersion,
    ProgramEnrolment,
    Resident,
    ResidentTag,
    RoundPoint,
    ServiceDelivery,
    Slot,
    SyncFeedEntry,
)
from services.models.contract import LIVE_CONTRACT_STATUSES
from services.models.sync import SHARED_TEAM

_TOUCHED = "sync_touched"
_KNOWN = "sync_known"
_WRITING = "sync_writing"
# A session's changes that bookings on it must show.
_SLOT_FIELDS = ("starts_at", "ends_at", "status", "staff_id", "round_point_id", "title", "kind")
SEQUENCE = "sync_feed_version_seq"
FEED = SyncFeedEntry.__table__

_installed = False


def install_change_tracking() -> None:
    """Listen on every SQLAlchemy session (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _bump_resident_versions)
    event.listen(Session, "after_flush", _note_touched)
    event.listen(Session, "before_commit", _write_feed)
    event.listen(Session, "after_rollback", _forget)
    _installed = True


def touch(session: Session, kind: str, entity_id: int) -> None:
    """Mark a record changed by a statement the ORM does not see (a bulk UPDATE)."""
    session.info.setdefault(_TOUCHED, set()).add((kind, entity_id))


# --- the events ---------------------------------------------------------------------------

def _bump_resident_versions(session: Session, _flush_context, _instances) -> None:
    for obj in session.dirty:
        if isinstance(obj, Resident) and session.is_modified(obj, include_collections=False):
            if not inspect(obj).attrs.version.history.has_changes():
                obj.version = Resident.version + 1


def _changed(obj, fields) -> bool:
    attrs = inspect(obj).attrs
    return any(attrs[f].history.has_changes() for f in fields)


def _joins_or_leaves(session: Session, obj, fields) -> bool:
    """Whether a change of this contract or enrolment can move its resident in or out of a panel."""
    return obj in session.new or obj in session.deleted or _changed(obj, fields)


def _note_touched(session: Session, _flush_context) -> None:
    touched = session.info.setdefault(_TOUCHED, set())
    for obj in itertools.chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Resident):
            touched.add(("resident", obj.id))
            if obj in session.new or obj in session.deleted:
                touched.add(("member", obj.id))
        elif isinstance(obj, ResidentTag):
            touched.add(("resident", obj.resident_id))
        elif isinstance(obj, ProgramEnrolment):
            touched.add(("enrolment", obj.id))
            _know(session, "enrolment", obj)
            if _joins_or_leaves(session, obj, ("status", "team_id", "resident_id")):
                touched.add(("member", obj.resident_id))
        elif isinstance(obj, FollowUp):
            touched.add(("enrolment", obj.enrolment_id))
        elif isinstance(obj, Contract):
            touched.add(("contract", obj.id))
            _know(session, "contract", obj)
            if _joins_or_leaves(session, obj, ("status", "team_id", "resident_id")):
                touched.add(("member", obj.resident_id))
        elif isinstance(obj, ContractEntitlement | ContractPackage | ServiceDelivery):
            touched.add(("contract", obj.contract_id))
        elif isinstance(obj, Appointment):
            touched.add(("appointment", obj.id))
        elif isinstance(obj, Slot) and obj not in session.new and _changed(obj, _SLOT_FIELDS):
            touched.add(("slot", obj.id))
        elif isinstance(obj, RoundPoint):
            touched.add(("round_point", obj.id))
        elif isinstance(obj, PackageVersion):
            touched.add(("catalog", obj.id))


def _live_teams(obj) -> set[int]:
    """The teams that hold an enrolment or a contract: its team while it is active."""
    return {obj.team_id} if obj.status == "active" else set()


def _know(session: Session, kind: str, obj) -> None:
    """Remember an enrolment's or contract's teams before this transaction, where the
    flush shows them (new: none; unchanged team and status: as now), so writing the
    feed needs no lookups for it."""
    known = session.info.setdefault(_KNOWN, {})
    key = (kind, obj.id)
    if key in known:
        return
    if obj in session.new:
        known[key] = (obj, frozenset())
    elif obj in session.deleted or _changed(obj, ("status", "team_id", "resident_id")):
        known[key] = (obj, None)
    else:
        known[key] = (obj, frozenset(_live_teams(obj)))


def _forget(session: Session) -> None:
    session.info.pop(_TOUCHED, None)
    session.info.pop(_KNOWN, None)


def _write_feed(session: Session) -> None:
    if session.info.get(_WRITING):
        return
    session.info[_WRITING] = True
    try:
        if session.new or session.dirty or session.deleted:
            session.flush()  # commit() flushes after this hook: the flush's changes must be seen now
        touched = session.info.pop(_TOUCHED, set())
        known = session.info.pop(_KNOWN, {})
        if touched:
            write_changes(session, touched, known)
    finally:
        session.info.pop(_WRITING, None)


# --- who holds what ----------------------------------------------------------------------

def _ids(touched, kind: str) -> list[int]:
    return sorted({i for k, i in touched if k == kind and i is not None})


def _holders(session: Session, touched: set[tuple[str, int]]):
    """{(kind, id): (resident_id, {team ids that should hold it} or None for "those
    holding it now", membership_only)}."""
    slot_ids = _ids(touched, "slot")
    if slot_ids:
        touched |= {("appointment", i) for i in session.scalars(
            select(Appointment.id).where(Appointment.slot_id.in_(slot_ids)))}
    wanted: dict[tuple[str, int], tuple[int | None, set[int], bool]] = {}

    self_ids, member_ids = set(_ids(touched, "resident")), set(_ids(touched, "member"))
    for rid in self_ids - member_ids:  # the record changed, the panels did not: the teams holding it
        wanted[("resident", rid)] = (rid, None, False)
    resident_ids = sorted(member_ids)
    if resident_ids:
        panel: dict[int, set[int]] = defaultdict(set)
        for rid, team in session.execute(
                select(Contract.resident_id, Contract.team_id).where(
                    Contract.resident_id.in_(resident_ids), Contract.status.in_(LIVE_CONTRACT_STATUSES))
                .union(select(ProgramEnrolment.resident_id, ProgramEnrolment.team_id).where(
                    ProgramEnrolment.resident_id.in_(resident_ids), ProgramEnrolment.status == "active"))):
            panel[rid].add(team)
        existing = set(session.scalars(select(Resident.id).where(Resident.id.in_(resident_ids))))
        for rid in resident_ids:
            wanted[("resident", rid)] = (rid, panel[rid] if rid in existing else set(), rid not in self_ids)

    for kind, model in (("enrolment", ProgramEnrolment), ("contract", Contract)):
        ids = _ids(touched, kind)
        if not ids:
            continue
        rows = {r.id: r for r in session.execute(
            select(model.id, model.resident_id, model.team_id, model.status).where(model.id.in_(ids)))}
        for i in ids:
            r = rows.get(i)
            wanted[(kind, i)] = (r.resident_id if r else None, _live_teams(r) if r else set(), False)

    appointment_ids = _ids(touched, "appointment")
    if appointment_ids:
        rows = {r.id: r for r in session.execute(
            select(Appointment.id, Appointment.resident_id, Appointment.status, Slot.team_id)
            .join(Slot, Slot.id == Appointment.slot_id).where(Appointment.id.in_(appointment_ids)))}
        for aid in appointment_ids:
            r = rows.get(aid)
            wanted[("appointment", aid)] = (r.resident_id if r else None,
                                            {r.team_id} if r and r.status != "cancelled" else set(), False)

    for pid in _ids(touched, "catalog"):  # tells pulls to work out the catalog in force again
        wanted[("catalog", pid)] = (None, {SHARED_TEAM}, False)

    point_ids = _ids(touched, "round_point")
    if point_ids:
        active = set(session.scalars(select(RoundPoint.id).where(RoundPoint.id.in_(point_ids),
                                                                  RoundPoint.active.is_(True))))
        for pid in point_ids:
            wanted[("round_point", pid)] = (None, {SHARED_TEAM} if pid in active else set(), False)
    return wanted


def _position_values(session: Session) -> dict:
    """The SQL that gives a written row its place: the next version and the
    writing transaction's id (PostgreSQL), or max + 1 and 0 (SQLite, whose
    writers are serialised; evaluated row by row)."""
    if session.get_bind().dialect.name == "postgresql":
        return {"version": func.nextval(SEQUENCE), "xid": literal_column("pg_current_xact_id()::text::bigint")}
    top = select(func.coalesce(func.max(FEED.c.version), 0) + 1).scalar_subquery()
    return {"version": top, "xid": literal(0)}


def write_changes(session: Session, touched: set[tuple[str, int]], known: dict | None = None) -> None:
    upserts: list[dict] = []
    tombstones: list[int] = []
    rest = set()
    for key in touched:
        obj, held_before = (known or {}).get(key, (None, None))
        if held_before is None:
            rest.add(key)
            continue
        teams = set() if inspect(obj).was_deleted else _live_teams(obj)
        if held_before - teams:
            rest.add(key)  # it leaves a team: its rows are looked up for the tombstones
            continue
        upserts.extend({"team_id": t, "kind": key[0], "entity_id": key[1], "resident_id": obj.resident_id}
                       for t in sorted(teams))
    wanted = _holders(session, rest) if rest else {}
    held: dict[tuple[str, int], dict[int, tuple[int, bool]]] = defaultdict(dict)
    by_kind: dict[str, list[int]] = defaultdict(list)
    for kind, eid in wanted:
        by_kind[kind].append(eid)
    clauses = [and_(SyncFeedEntry.kind == kind, SyncFeedEntry.entity_id.in_(ids)) for kind, ids in by_kind.items()]
    if clauses:
        for row in session.execute(select(SyncFeedEntry.id, SyncFeedEntry.kind, SyncFeedEntry.entity_id,
                                          SyncFeedEntry.team_id, SyncFeedEntry.deleted).where(or_(*clauses))):
            held[(row.kind, row.entity_id)][row.team_id] = (row.id, row.deleted)

    for (kind, eid), (resident_id, teams, membership_only) in sorted(wanted.items()):
        have = held.get((kind, eid), {})
        if teams is None:
            teams = {team for team, (_row, deleted) in have.items() if not deleted}
        for team in sorted(teams):
            if membership_only and team in have and not have[team][1]:
                continue  # still in the panel, and the record itself did not change
            upserts.append({"team_id": team, "kind": kind, "entity_id": eid, "resident_id": resident_id})
        tombstones.extend(row_id for team, (row_id, deleted) in have.items() if team not in teams and not deleted)
    if not upserts and not tombstones:
        return
    position = _position_values(session)
    postgres = session.get_bind().dialect.name == "postgresql"
    if upserts:
        insert = (postgresql if postgres else sqlite).insert(FEED).values(**position, deleted=False)
        session.execute(insert.on_conflict_do_update(
            index_elements=["team_id", "kind", "entity_id"],
            set_={"version": insert.excluded.version, "xid": insert.excluded.xid, "deleted": False,
                  "resident_id": insert.excluded.resident_id}), upserts)
    if tombstones and postgres:
        session.execute(update(FEED).where(FEED.c.id.in_(tombstones)).values(**position, deleted=True))
    elif tombstones:  # one at a time: SQLite works max + 1 out once per statement
        session.execute(update(FEED).where(FEED.c.id == bindparam("row_id")).values(**position, deleted=True),
                        [{"row_id": i} for i in tombstones])


# --- rebuilding from the tables -----------------------------------------------------------

def rebuild(session: Session) -> None:
    """Empty the feed and write it again from the tables, in SQL (after a bulk load
    or a restore). Every phone must then pull from scratch."""
    session.execute(FEED.delete())
    sources = [
        select(Contract.team_id, literal("resident"), Contract.resident_id, Contract.resident_id)
        .where(Contract.status.in_(LIVE_CONTRACT_STATUSES))
        .union(select(ProgramEnrolment.team_id, literal("resident"), ProgramEnrolment.resident_id,
                      ProgramEnrolment.resident_id).where(ProgramEnrolment.status == "active")),
        select(ProgramEnrolment.team_id, literal("enrolment"), ProgramEnrolment.id, ProgramEnrolment.resident_id)
        .where(ProgramEnrolment.status == "active"),
        select(Contract.team_id, literal("contract"), Contract.id, Contract.resident_id)
        .where(Contract.status == "active"),
        select(Slot.team_id, literal("appointment"), Appointment.id, Appointment.resident_id)
        .join(Slot, Slot.id == Appointment.slot_id).where(Appointment.status != "cancelled"),
        select(literal(SHARED_TEAM, Integer), literal("round_point"), RoundPoint.id, literal(None, Integer))
        .where(RoundPoint.active.is_(True)),
    ]
    postgres = session.get_bind().dialect.name == "postgresql"
    for source in sources:
        sub = source.subquery()
        cols = list(sub.c)
        if postgres:
            version = func.nextval(SEQUENCE)
            xid = literal_column("pg_current_xact_id()::text::bigint")
        else:
            top = session.scalar(select(func.max(SyncFeedEntry.version))) or 0
            version = literal(top) + func.row_number().over()
            xid = literal(0)
        stmt = FEED.insert().from_select(
            ["team_id", "kind", "entity_id", "resident_id", "version", "xid", "deleted"],
            select(cols[0], cols[1], cols[2], cols[3], version, xid, literal(False)))
        session.execute(stmt)
