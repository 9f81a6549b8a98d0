"""Pull: a team's changes past a cursor, in pages, never skipping one.

The cursor (opaque to the phone: URL-safe base64 of a small JSON object)
holds the feed position `(xid, version)` of the last row read, the last day
of the appointment window already delivered, and the catalog versions the
phone holds. A page reads feed rows past the position, and on PostgreSQL
only rows of transactions older than every transaction still in flight
(`xid < pg_snapshot_xmin(pg_current_snapshot())`): rows of a transaction
that commits later, whatever version it took, are read by a later page,
never jumped over. Records changed while a phone pages come again later in
the same pull, with their new version.

A first pull (no cursor) skips tombstones older than its start and bookings
outside the window; a delta pull delivers every change. Appointments are
those of the team's sessions from today to `window_days` ahead: a delta pull
on a later day also delivers the bookings that came into the window.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, literal_column, select, tuple_, union_all

from services.access.scope import Scope, institution_subtree, team_for_staff, visible_team
from services.catalog.versions import current_versions
from services.core import audit, clock
from services.core.crypto import PiiCipher
from services.core.db import db
from services.core.errors import ValidationFailed
from services.core.masking import mask_phone
from services.models import (
    Appointment,
    Contract,
    ProgramEnrolment,
    Resident,
    RoundPoint,
    Slot,
    SyncFeedEntry,
    Team,
)
from services.models.sync import SHARED_TEAM
from services.residents.register import all_tags

MAX_LIMIT = 1000
DEFAULT_LIMIT = 500
_BATCH_FLOOR = 200


@dataclass(frozen=True)
class SyncSettings:
    window_days: int = 14
    full_phone: bool = True
    receipt_days: int = 90


@dataclass
class Cursor:
    team: int
    xid: int = 0
    version: int = 0
    window_end: str | None = None  # ISO date: bookings up to this day are delivered
    window_after: list | None = None  # [starts_at ISO, id]: position inside the window catch-up
    catalog: list[int] = field(default_factory=list)
    catalog_day: str | None = None  # the day the catalog in force was last worked out
    full_until: int | None = None  # a first pull: tombstones up to this version are skipped

    def encode(self) -> str:
        raw = {"t": self.team, "x": self.xid, "v": self.version, "w": self.window_end, "wa": self.window_after,
               "c": self.catalog, "cd": self.catalog_day, "f": self.full_until}
        data = json.dumps(raw, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, team_id: int) -> Cursor:
        bad = ValidationFailed.field("cursor", "同步游标无效，请不带 cursor 重新全量同步", code="INVALID_CURSOR")
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            cursor = cls(team=int(raw["t"]), xid=int(raw["x"]), version=int(raw["v"]), window_end=raw["w"],
                         window_after=raw.get("wa"), catalog=[int(c) for c in raw["c"]], catalog_day=raw.get("cd"),
                         full_until=None if raw.get("f") is None else int(raw["f"]))
            if cursor.window_end is not None:
                dt.date.fromisoformat(cursor.window_end)
            if cursor.window_after is not None:
                dt.datetime.fromisoformat(cursor.window_after[0])
                int(cursor.window_after[1])
        except (ValueError, KeyError, TypeError, IndexError, binascii.Error, UnicodeDecodeError, AttributeError):
            raise bad from None
        if cursor.team != team_id:
            raise bad
        return cursor


@dataclass
class PullResult:
    changes: list[dict]
    cursor: str
    has_more: bool


def _change(kind: str, entity_id: int, version: int, data: dict | None) -> dict:
    return {"type": kind, "id": entity_id, "version": version, "deleted": data is None, "data": data}


# --- what a phone holds of each record ----------------------------------------------------

def resident_record(r: Resident, cipher: PiiCipher, settings: SyncSettings, today: dt.date) -> dict:
    """A resident as a phone holds it: what a doctor needs at the door, ID masked."""
    return {"resident_id": r.id, "name": r.name, "sex": r.sex, "birth_date": r.birth_date.isoformat(),
            "id_number": cipher.masked_id_number(r.id_number_encrypted),
            "phone": r.phone if settings.full_phone else mask_phone(r.phone),
            "address": r.address, "village": r.village, "round_point_id": r.round_point_id,
            "institution_id": r.institution_id, "tags": all_tags(r, today), "version": r.version}


def _residents(ids: list[int], cipher: PiiCipher, settings: SyncSettings, today: dt.date) -> dict[int, dict]:
    return {r.id: resident_record(r, cipher, settings, today)
            for r in db.session.scalars(select(Resident).where(Resident.id.in_(ids))
                                        .execution_options(populate_existing=True))}


def _enrolments(ids: list[int]) -> dict[int, dict]:
    rows = db.session.execute(select(ProgramEnrolment.__table__).where(ProgramEnrolment.id.in_(ids)))
    return {e.id: {"resident_id": e.resident_id, "program": e.program, "disease": e.disease, "status": e.status,
                   "enrolled_on": _iso(e.enrolled_on), "next_due_date": _iso(e.next_due_date),
                   "system_due_date": _iso(e.system_due_date), "clinician_due_date": _iso(e.clinician_due_date),
                   "last_visit_date": _iso(e.last_visit_date), "last_assessment": e.last_assessment,
                   "last_referral": e.last_referral}
            for e in rows if e.status == "active"}


def _contracts(ids: list[int]) -> dict[int, dict]:
    out = {}
    for c in db.session.scalars(select(Contract).where(Contract.id.in_(ids), Contract.status == "active")
                                .execution_options(populate_existing=True)):
        out[c.id] = {"resident_id": c.resident_id, "status": c.status, "starts_on": _iso(c.starts_on),
                     "ends_on": _iso(c.ends_on),
                     "packages": [{"code": p.code, "version": p.version, "name": p.name, "kind": p.kind}
                                  for p in c.packages],
                     "entitlements": [{"item_code": e.item_code, "name": e.name, "promised": e.promised,
                                       "used": e.used, "remaining": e.promised - e.used} for e in c.entitlements]}
    return out


def _appointments(ids: list[int]) -> dict[int, dict]:
    rows = db.session.execute(
        select(Appointment.id, Appointment.resident_id, Appointment.status, Appointment.reason,
               Appointment.enrolment_id, Appointment.slot_id, Slot.starts_at, Slot.ends_at, Slot.kind,
               Slot.round_point_id, Slot.staff_id, Slot.status.label("slot_status"), Resident.name)
        .join(Slot, Slot.id == Appointment.slot_id).join(Resident, Resident.id == Appointment.resident_id)
        .where(Appointment.id.in_(ids)))
    return {a.id: {"resident_id": a.resident_id, "resident_name": a.name, "status": a.status,
                   "reason": a.reason, "enrolment_id": a.enrolment_id, "slot_id": a.slot_id,
                   "starts_at": a.starts_at.isoformat(), "ends_at": a.ends_at.isoformat(),
                   "kind": a.kind, "round_point_id": a.round_point_id, "staff_id": a.staff_id,
                   "_day": clock.to_local(a.starts_at).date()}
            for a in rows if a.status != "cancelled"}


def _round_points(ids: list[int], institutions: set[int]) -> dict[int, dict]:
    rows = db.session.scalars(select(RoundPoint).where(RoundPoint.id.in_(ids), RoundPoint.active.is_(True),
                                                       RoundPoint.institution_id.in_(sorted(institutions)))
                              .execution_options(populate_existing=True))
    return {p.id: {"name": p.name, "village": p.village, "address": p.address,
                   "institution_id": p.institution_id} for p in rows}


def _iso(value):
    return value.isoformat() if value is not None else None


# --- the feed -------------------------------------------------------------------------------

def _feed_rows(team_id: int, after: tuple[int, int], limit: int) -> list:
    """The next `limit` rows of the team's own stream and the shared one, merged in
    order, in one statement; on PostgreSQL only rows of transactions older than the
    oldest still in flight (a row at or past it may yet be joined by a lower version)."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    parts = []
    for team in (team_id, SHARED_TEAM):
        part = (select(SyncFeedEntry.kind, SyncFeedEntry.entity_id, SyncFeedEntry.version, SyncFeedEntry.xid,
                       SyncFeedEntry.deleted)
                .where(SyncFeedEntry.team_id == team,
                       tuple_(SyncFeedEntry.xid, SyncFeedEntry.version) > tuple_(*after))
                .order_by(SyncFeedEntry.xid, SyncFeedEntry.version).limit(limit))
        if postgres:
            part = part.where(SyncFeedEntry.xid < _IN_FLIGHT)
        parts.append(part.subquery().select())
    both = union_all(*parts).subquery()
    return db.session.execute(select(both).order_by(both.c.xid, both.c.version).limit(limit)).all()


_IN_FLIGHT = literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
_LOADERS = {"enrolment": _enrolments, "contract": _contracts, "appointment": _appointments}


def _load_live(batch, cipher: PiiCipher, settings: SyncSettings, today: dt.date,
               institutions: set[int]) -> dict[str, dict[int, dict]]:
    """Each kind's records of the batch as the phone holds them (one query per kind)."""
    live: dict[str, dict[int, dict]] = {}
    for kind in ("resident", "enrolment", "contract", "appointment", "round_point"):
        ids = [r.entity_id for r in batch if r.kind == kind and not r.deleted]
        if not ids:
            live[kind] = {}
        elif kind == "resident":
            live[kind] = _residents(ids, cipher, settings, today)
        elif kind == "round_point":
            live[kind] = _round_points(ids, institutions)
        else:
            live[kind] = _LOADERS[kind](ids)
    return live


def _team_of(scope: Scope, team_id: int | None) -> tuple[int, Callable[[], int]]:
    """The team pulled for, and (lazily) its institution."""
    if team_id is not None:
        team = visible_team(team_id, scope)  # another team's: 404, as for every team-addressed read
        return team.id, lambda: team.institution_id
    if scope.role == "doctor" and scope.team_id is not None:
        return scope.team_id, lambda: db.session.get(Team, scope.team_id).institution_id
    team = team_for_staff(scope, None, own_team_only="只能同步本团队的数据", required="管理员须指定团队 team_id")
    return team.id, lambda: team.institution_id


def pull_changes(scope: Scope, team_id: int | None, token: str | None, limit: int, cipher: PiiCipher,
                 settings: SyncSettings, ctx: audit.RequestContext | None = None) -> PullResult:
    team, institution_of = _team_of(scope, team_id)
    today = clock.today()
    window_end = today + dt.timedelta(days=settings.window_days)
    if token:
        cursor = Cursor.decode(token, team)
    else:
        top = db.session.scalar(select(func.max(SyncFeedEntry.version))) or 0
        cursor = Cursor(team=team, window_end=window_end.isoformat(), full_until=top)
    institutions: set[int] | None = None
    catalog_touched = cursor.catalog_day != today.isoformat()
    changes: list[dict] = []
    position = (cursor.xid, cursor.version)
    feed_done = False

    while len(changes) < limit:
        wanted = max(limit - len(changes), _BATCH_FLOOR)
        batch = _feed_rows(team, position, wanted)
        if institutions is None and any(r.kind == "round_point" for r in batch):
            institutions = institution_subtree(institution_of())
        live = _load_live(batch, cipher, settings, today, institutions or set())
        window_last = dt.date.fromisoformat(cursor.window_end or window_end.isoformat())
        consumed = 0
        for row in batch:
            if len(changes) >= limit:
                break
            consumed += 1
            position = (row.xid, row.version)
            if row.kind == "catalog":
                catalog_touched = True  # a catalog was loaded: the versions in force are worked out below
                continue
            data = live[row.kind].get(row.entity_id)
            if data is None:  # a tombstone, or gone since the row was written
                if cursor.full_until is None or row.version > cursor.full_until:
                    changes.append(_change(row.kind, row.entity_id, row.version, None))
                continue
            if row.kind == "appointment" and not today <= data.pop("_day") <= window_last:
                continue  # past, or not yet in the window: the window catch-up brings it then
            version = data["version"] if row.kind == "resident" else row.version
            changes.append(_change(row.kind, row.entity_id, version, data))
        if consumed == len(batch) and len(batch) < wanted:
            feed_done = True
            break

    window_done = True
    if feed_done and len(changes) < limit and cursor.window_end and cursor.window_end < window_end.isoformat():
        window_done = _window_catch_up(team, cursor, window_end, limit - len(changes), changes)
    elif feed_done and cursor.window_end and cursor.window_end < window_end.isoformat():
        window_done = False

    has_more = not (feed_done and window_done)
    if not has_more:
        if catalog_touched:
            _catalog_changes(cursor, today, changes)
        cursor.full_until = None
    cursor.xid, cursor.version = position
    if changes:  # an empty pull shows nobody's record: nothing to audit
        audit.record_read(scope, ctx, "sync", detail={
            "team_id": team, "changes": len(changes),
            "residents": sum(1 for c in changes if c["type"] == "resident" and not c["deleted"])})
    return PullResult(changes=changes, cursor=cursor.encode(), has_more=has_more)


def _window_catch_up(team_id: int, cursor: Cursor, window_end: dt.date, room: int, changes: list[dict]) -> bool:
    """Bookings whose day came into the window since the last pull (theirs rows may be old)."""
    start = dt.date.fromisoformat(cursor.window_end) + dt.timedelta(days=1)
    lo, hi = clock.day_bounds(start, window_end)
    stmt = (select(Appointment.id, Slot.starts_at, SyncFeedEntry.version)
            .join(Slot, Slot.id == Appointment.slot_id)
            .join(SyncFeedEntry, (SyncFeedEntry.team_id == team_id) & (SyncFeedEntry.kind == "appointment")
                  & (SyncFeedEntry.entity_id == Appointment.id))
            .where(Slot.team_id == team_id, Slot.starts_at >= lo, Slot.starts_at < hi,
                   Appointment.status != "cancelled")
            .order_by(Slot.starts_at, Appointment.id).limit(room + 1))
    if cursor.window_after:
        after = (dt.datetime.fromisoformat(cursor.window_after[0]), int(cursor.window_after[1]))
        stmt = stmt.where(tuple_(Slot.starts_at, Appointment.id) > tuple_(*after))
    rows = db.session.execute(stmt).all()
    data = _appointments([r.id for r in rows[:room]])
    for r in rows[:room]:
        if r.id in data:
            data[r.id].pop("_day")
            changes.append(_change("appointment", r.id, r.version, data[r.id]))
    if len(rows) > room:
        last = rows[room - 1]
        cursor.window_after = [last.starts_at.isoformat(), last.id]
        return False
    cursor.window_end, cursor.window_after = window_end.isoformat(), None
    return True


def _catalog_changes(cursor: Cursor, today: dt.date, changes: list[dict]) -> None:
    """The package versions in force: new ones in full, replaced ones as tombstones."""
    in_force = current_versions(today)
    ids = sorted(p.id for p in in_force)
    cursor.catalog_day = today.isoformat()
    if ids == cursor.catalog:
        return
    held = set(cursor.catalog)
    for p in in_force:
        if p.id not in held:
            d = p.definition or {}
            changes.append(_change("catalog", p.id, p.version, {
                "code": p.code, "version": p.version, "name": p.name, "kind": p.kind,
                "effective_from": p.effective_from.isoformat(), "list_value_fen": p.list_value_fen,
                "self_pay_fen": p.self_pay_fen, "items": d.get("items", [])}))
    for gone in sorted(held - set(ids)):
        changes.append(_change("catalog", gone, 0, None))
    cursor.catalog = ids
