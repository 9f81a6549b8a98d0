"""Plans reminders into the outbox. Idempotent: every message has a dedupe key
(kind + subject + occurrence) that the database keeps unique, and rows are
inserted with ON CONFLICT DO NOTHING, so running the planner twice for the
same day, or two planners at once, adds nothing.

What is planned (domain.md, Reminders):
- follow-up due within N days, and overdue by M days, to the resident;
- appointment reminders: the evening before, or two hours before the start
  when the booking was made after that evening;
- contract ending in 30 and 7 days (unless already renewed);
- a booking cancelled with its session.

Windows reach back `catchup_days`, so after downtime the planner still
catches events it missed (each once: the key includes the occurrence).
Residents who opted out (in the app or by replying 退订) are recorded as
`suppressed` with the reason, unless a WeChat subscription can carry the
message; residents without a mobile number and without WeChat are skipped.
Planned rows whose reason disappeared are cancelled.

Near hand-written SQL at county scale (bench/reminders.py): the candidate
queries leave out events already in the outbox (`_not_planned`: one probe of
the unique key's index each, so a rerun fetches almost nothing); on PostgreSQL
a batch goes in as one JSON parameter of one short INSERT ... SELECT, and
lookups by lists of values are one array parameter, run unprepared so that
they are always planned for their values (`_unprepared`).
"""
from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from sqlalchemy import (
    JSON,
    ColumnElement,
    Result,
    Select,
    String,
    Text,
    any_,
    bindparam,
    case,
    cast,
    column,
    exists,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased, lazyload

from services.core import clock
from services.core.db import db
from services.core.phones import PhoneError, to_e164
from services.models import (
    Appointment,
    Contract,
    Institution,
    OutboxMessage,
    ProgramEnrolment,
    Resident,
    RoundPoint,
    Slot,
    SmsOptOut,
    Team,
    WechatSubscription,
)
from services.models.contract import OPEN_CONTRACT_STATUSES
from services.reminders import templates
from services.reminders.settings import ReminderSettings

SLOT_PLACES = {"clinic": "门诊", "home_visit": "上门服务", "round": "巡诊"}


@dataclass
class PlanResult:
    planned: int = 0
    suppressed: int = 0
    skipped_no_contact: int = 0
    cancelled: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Person:
    """The few resident values planning needs (plain columns, no ORM loading)."""

    id: int
    phone: str | None
    sms_opt_out: bool
    wechat_openid: str | None


PERSON_COLUMNS = (Resident.id, Resident.phone, Resident.sms_opt_out, Resident.wechat_openid)


def _person(row) -> _Person:
    return _Person(row.id, row.phone, bool(row.sms_opt_out), row.wechat_openid)


@dataclass
class _Candidate:
    key: str
    kind: str
    resident: _Person
    subject_type: str
    subject_id: int
    occurrence: str
    text: str
    data: dict
    send_at: dt.datetime
    not_after: dt.datetime | None = None
    proxy_id: int | None = None  # the family member who receives it for a resident with no mobile


def _to_proxies(candidates: list[_Candidate]) -> list[_Candidate]:
    """A resident with no mobile number (and no WeChat) gets their reminders through the family member
    who asked for them (services/residents/family.py); everyone else gets their own."""
    from services.residents.family import proxy_phones

    proxies = proxy_phones({c.resident.id for c in candidates if not c.resident.phone
                            and not c.resident.wechat_openid})
    if not proxies:
        return candidates
    out = []
    for c in candidates:
        got = proxies.get(c.resident.id)
        if got is not None:
            c = replace(c, resident=replace(c.resident, phone=got[1]), proxy_id=got[0])
        out.append(c)
    return out


def local_at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clock.zone()).astimezone(dt.timezone.utc)


def _phone(phone: str | None) -> str:
    return f" {phone}" if phone else ""


def _contact(team: Team) -> str:
    return f"{team.name}{_phone(team.phone)}"


# --- statements ----------------------------------------------------------------------

def _unprepared(stmt) -> Result:
    """Execute `stmt` unprepared, so that PostgreSQL plans it for the values at hand every time.
    psycopg prepares a statement once it has run 5 times on a connection, and PostgreSQL may
    then settle on a generic plan and keep it until the table is next analysed: one made while
    the outbox was (nearly) empty scans it, comparing every row with every key of the batch,
    long after it has grown (up to seconds a batch, for the lookups by values and the
    candidates' anti-join alike). Planned for their values, they probe the indexes."""
    driver = db.session.connection().connection.driver_connection
    threshold = getattr(driver, "prepare_threshold", None)
    if threshold is None:  # SQLite (nothing is prepared), or preparing already off
        return db.session.execute(stmt)
    driver.prepare_threshold = None
    try:
        return db.session.execute(stmt)
    finally:
        driver.prepare_threshold = threshold


def _among(column, values: Iterable) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL one array parameter, `column = ANY(:values)`: one short
    statement text whatever the number of values (`IN (:v1, ..., :v1000)` is a new text for
    every count, and psycopg parses each anew). Run it with `_unprepared`."""
    values = sorted(values)
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(values, postgresql.ARRAY(column.type)))
    return column.in_(values)


def _not_planned(*parts) -> ColumnElement[bool]:
    """No outbox row has the dedupe key made of `parts` joined by ':' (numbers and dates as text,
    the very key `_Candidate.key` spells; cancel_stale compares dates the same way). A rerun then
    fetches and renders only what is new, and each candidate costs one probe of the key's
    unique index, as in INSERT ... ON CONFLICT. `_write` still checks every key it is given."""
    texts = [literal(part) if isinstance(part, str) else part if isinstance(part.type, String)
             else cast(part, String) for part in parts]
    key = texts[0]
    for text in texts[1:]:
        key = key + ":" + text
    return ~exists().where(OutboxMessage.dedupe_key == key)


# --- candidates ----------------------------------------------------------------------

def _followup_candidates(day: dt.date, s: ReminderSettings, now: dt.datetime) -> Iterable[_Candidate]:
    due_to = day + dt.timedelta(days=s.followup_due_days)
    overdue_to = day - dt.timedelta(days=s.overdue_days)
    overdue_from = overdue_to - dt.timedelta(days=s.catchup_days)
    kind_in_sql = case((ProgramEnrolment.next_due_date >= day, "followup_due"), else_="followup_overdue")
    rows = _unprepared(
        select(ProgramEnrolment.id.label("enrolment_id"), ProgramEnrolment.next_due_date, *PERSON_COLUMNS,
               Team.name.label("team_name"), Team.phone.label("team_phone"))
        .join(Resident, ProgramEnrolment.resident_id == Resident.id)
        .join(Team, ProgramEnrolment.team_id == Team.id)
        .where(ProgramEnrolment.status == "active",
               ((ProgramEnrolment.next_due_date >= day) & (ProgramEnrolment.next_due_date <= due_to))
               | ((ProgramEnrolment.next_due_date >= overdue_from) & (ProgramEnrolment.next_due_date <= overdue_to)),
               _not_planned(kind_in_sql, ProgramEnrolment.id, ProgramEnrolment.next_due_date))
        .order_by(ProgramEnrolment.id)).all()
    for row in rows:
        due = row.next_due_date
        kind = "followup_due" if due >= day else "followup_overdue"
        text = templates.render(kind, s.signature, date=templates.month_day(due), contact=_phone(row.team_phone))
        yield _Candidate(f"{kind}:{row.enrolment_id}:{due.isoformat()}", kind, _person(row), "enrolment",
                         row.enrolment_id, due.isoformat(), text,
                         templates.wechat_data(kind, due.isoformat(), row.team_name), now)


def _contract_candidates(day: dt.date, s: ReminderSettings, now: dt.datetime) -> Iterable[_Candidate]:
    for days_left in s.contract_ending_days:
        last = day + dt.timedelta(days=days_left)
        first = last - dt.timedelta(days=min(s.catchup_days, days_left))
        rows = _unprepared(
            select(Contract.id.label("contract_id"), Contract.ends_on, *PERSON_COLUMNS,
                   Team.name.label("team_name"), Team.phone.label("team_phone"))
            .join(Resident, Contract.resident_id == Resident.id)
            .join(Team, Contract.team_id == Team.id)
            .where(Contract.status == "active", Contract.ends_on > first, Contract.ends_on <= last,
                   _not_planned("contract_ending", Contract.id, Contract.ends_on, str(days_left)))
            .order_by(Contract.id)).all()
        renewed_ids = _renewed_ids([r.contract_id for r in rows])
        for row in rows:
            if row.contract_id in renewed_ids:
                continue
            ends = row.ends_on
            text = templates.render("contract_ending", s.signature, date=templates.month_day(ends),
                                    contact=_phone(row.team_phone))
            yield _Candidate(f"contract_ending:{row.contract_id}:{ends.isoformat()}:{days_left}", "contract_ending",
                             _person(row), "contract", row.contract_id, f"{ends.isoformat()}:{days_left}", text,
                             templates.wechat_data("contract_ending", ends.isoformat(), row.team_name), now)


def _renewed_ids(contract_ids: list[int]) -> set[int]:
    if not contract_ids:
        return set()
    return set(_unprepared(select(Contract.renewed_from_id).where(
        _among(Contract.renewed_from_id, contract_ids),
        Contract.status.in_(OPEN_CONTRACT_STATUSES + ("active",)))).scalars())


def _place(slot: Slot, points: dict[int, RoundPoint], institutions: dict[int, Institution], team: Team) -> str:
    if slot.kind == "round" and slot.round_point_id in points:
        return points[slot.round_point_id].name
    if slot.kind == "home_visit":
        return "上门服务"
    inst = institutions.get(team.institution_id)
    return inst.name if inst else SLOT_PLACES[slot.kind]


def _appointment_candidates(now: dt.datetime, s: ReminderSettings) -> Iterable[_Candidate]:
    horizon = now + dt.timedelta(hours=36)
    since = now - dt.timedelta(days=s.catchup_days)
    rows = db.session.execute(
        select(Appointment, Slot, Resident, Team).options(lazyload(Resident.tag_rows))
        .join(Slot, Appointment.slot_id == Slot.id)
        .join(Resident, Appointment.resident_id == Resident.id)
        .join(Team, Slot.team_id == Team.id)
        .where(Slot.starts_at > now,
               ((Appointment.status == "booked") & (Slot.status == "open") & (Slot.starts_at <= horizon))
               | ((Appointment.status == "cancelled") & (Appointment.cancelled_by == "session")
                  & (Appointment.cancelled_at >= since)))
        .order_by(Appointment.id)).all()
    if not rows:
        return
    points = {p.id: p for p in db.session.scalars(select(RoundPoint).where(
        RoundPoint.id.in_({slot.round_point_id for _, slot, _, _ in rows if slot.round_point_id})))}
    institutions = {i.id: i for i in db.session.scalars(select(Institution).where(
        Institution.id.in_({team.institution_id for _, _, _, team in rows})))}
    for appt, slot, resident, team in rows:
        start = clock.to_local(slot.starts_at)
        values = {"date": templates.month_day(start.date()), "time": f"{start:%H:%M}",
                  "place": _place(slot, points, institutions, team), "contact": _contact(team)}
        person = _Person(resident.id, resident.phone, bool(resident.sms_opt_out), resident.wechat_openid)
        when = f"{start:%Y-%m-%d %H:%M}"
        if appt.status == "cancelled":
            text = templates.render("session_cancelled", s.signature, **values)
            yield _Candidate(f"session_cancelled:{appt.id}", "session_cancelled", person, "appointment", appt.id,
                             slot.starts_at.isoformat(), text,
                             templates.wechat_data("session_cancelled", when, values["place"]), now, slot.starts_at)
            continue
        evening = local_at(start.date() - dt.timedelta(days=1), s.evening_hour)
        send_at = evening if appt.created_at < evening else max(appt.created_at, slot.starts_at - dt.timedelta(hours=2))
        text = templates.render("appointment_reminder", s.signature, **values)
        yield _Candidate(f"appointment_reminder:{appt.id}:{slot.starts_at.isoformat()}", "appointment_reminder",
                         person, "appointment", appt.id, slot.starts_at.isoformat(), text,
                         templates.wechat_data("appointment_reminder", when, values["place"]),
                         max(send_at, now - dt.timedelta(days=s.catchup_days)), slot.starts_at)


# --- writing rows --------------------------------------------------------------------

def existing_keys_query(keys: Iterable[str]) -> Select:
    """The dedupe keys among `keys` already in the outbox (tests/pg/test_planning_plans.py EXPLAINs it)."""
    return select(OutboxMessage.dedupe_key).where(_among(OutboxMessage.dedupe_key, keys))


def _existing_keys(keys: set[str]) -> set[str]:
    return set(_unprepared(existing_keys_query(keys)).scalars())


def _opted_out_numbers(phones: set[str]) -> set[str]:
    if not phones:
        return set()
    return set(_unprepared(select(SmsOptOut.phone).where(_among(SmsOptOut.phone, phones))).scalars())


def _wechat_ready(resident_ids: set[int], s: ReminderSettings) -> set[tuple[int, str]]:
    """(resident, template) pairs with an unused one-time subscription."""
    if not resident_ids or not s.wechat_templates:
        return set()
    return set(_unprepared(select(WechatSubscription.resident_id, WechatSubscription.template_id).where(
        _among(WechatSubscription.resident_id, resident_ids), WechatSubscription.used_at.is_(None))).all())


def _row(c: _Candidate, opted_out: set[str], wechat: set[tuple[int, str]], s: ReminderSettings,
         now: dt.datetime) -> dict | None:
    r = c.resident
    template_id = s.wechat_templates.get(c.kind)
    can_wechat = bool(r.wechat_openid and template_id and (r.id, template_id) in wechat)
    status, reason = "planned", None
    if not can_wechat:
        if r.sms_opt_out:
            status, reason = "suppressed", "resident_opted_out"
        elif r.phone and r.phone in opted_out:
            status, reason = "suppressed", "number_opted_out"
        elif not r.phone:
            return None
    try:
        recipient = _e164(r.phone) if r.phone else None
    except PhoneError:  # an imported number that is not a mobile number
        if not can_wechat:
            return None
        recipient = None
    return {
        "dedupe_key": c.key, "kind": c.kind, "resident_id": r.id, "subject_type": c.subject_type,
        "subject_id": c.subject_id, "occurrence": c.occurrence,
        "recipient": recipient, "channel": "wechat" if can_wechat else "sms",
        "template_code": c.kind, "text": c.text, "data": c.data, "status": status,
        "status_reason": reason or (f"family_proxy:{c.proxy_id}" if c.proxy_id else None),
        "attempts": 0, "next_attempt_at": c.send_at if status == "planned" else None, "not_after": c.not_after,
        "created_at": now, "updated_at": now,
    }


def _e164(phone: str) -> str:
    """Stored numbers are already normalised 11-digit mainland mobiles; parse only the odd one."""
    if len(phone) == 11 and phone.isdigit() and phone[0] == "1":
        return "+86" + phone
    return to_e164(phone)


# The outbox columns a planned row fills (the keys of `_row`'s dict).
ROW_COLUMNS = ("dedupe_key", "kind", "resident_id", "subject_type", "subject_id", "occurrence", "recipient",
               "channel", "template_code", "text", "data", "status", "status_reason", "attempts",
               "next_attempt_at", "not_after", "created_at", "updated_at")


def _insert_from_json():
    """PostgreSQL: INSERT INTO outbox_messages (...) SELECT ... FROM json_to_recordset(:rows)
    ON CONFLICT (dedupe_key) DO NOTHING RETURNING id. The whole batch is one JSON parameter,
    made by the C encoder, and the statement text is short and the same for every batch (built,
    converted by psycopg and prepared once), where a multi-row VALUES list has 18 parameters a
    row and a long text psycopg parses anew for every batch (which was most of the planner's time)."""
    table = OutboxMessage.__table__
    rows = (func.json_to_recordset(cast(bindparam("rows", type_=Text), JSON))
            .table_valued(*(column(name, table.c[name].type) for name in ROW_COLUMNS))
            .render_derived(with_types=True))
    return (postgresql.insert(table).from_select(ROW_COLUMNS, select(*rows.c))
            .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id))


INSERT_FROM_JSON = _insert_from_json()


def _json_value(value):
    """What json.dumps cannot write itself: the rows' instants (a handful of distinct ones a batch)."""
    if isinstance(value, dt.datetime):
        return _utc_iso(value)
    raise TypeError(f"cannot write {type(value).__name__} into an outbox row")


@functools.lru_cache(maxsize=1024)
def _utc_iso(value: dt.datetime) -> str:
    """In UTC, as the column stores it (UTCDateTime)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given; use services.core.clock.now()")
    return value.astimezone(dt.timezone.utc).isoformat()


def _insert_ignoring_duplicates(rows: list[dict]) -> int:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING: the key has the last word."""
    if not rows:
        return 0
    # Rows with the same NULL columns go together (SQLite, below); PostgreSQL takes them in the
    # same order, so ids come out in the same order on both.
    rows = sorted(rows, key=lambda r: tuple(v is None for v in r.values()))
    if db.session.get_bind().dialect.name == "postgresql":
        # `data` goes in as a nested object: a json column keeps its text as json.dumps wrote it,
        # exactly as when bound on its own.
        return len(db.session.execute(INSERT_FROM_JSON, {"rows": json.dumps(rows, default=_json_value)}).all())
    stmt = (sqlite.insert(OutboxMessage).on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(OutboxMessage.id))
    # One statement, many parameter sets: SQLAlchemy batches them ("insertmanyvalues"),
    # but starts a new batch wherever a column switches between NULL and a value.
    return len(db.session.execute(stmt, rows).all())


def _write(candidates: Iterable[_Candidate], s: ReminderSettings, now: dt.datetime, result: PlanResult,
           commit: Callable[[], None]) -> None:
    batch: list[_Candidate] = []

    def flush() -> None:
        if not batch:
            return
        existing = _existing_keys({c.key for c in batch})
        fresh = _to_proxies([c for c in batch if c.key not in existing])
        opted_out = _opted_out_numbers({c.resident.phone for c in fresh if c.resident.phone})
        wechat = _wechat_ready({c.resident.id for c in fresh if c.resident.wechat_openid}, s)
        rows = []
        for c in fresh:
            row = _row(c, opted_out, wechat, s, now)
            if row is None:
                result.skipped_no_contact += 1
            else:
                rows.append(row)
        inserted = _insert_ignoring_duplicates(rows)
        if inserted == len(rows):
            suppressed = sum(1 for r in rows if r["status"] == "suppressed")
            result.suppressed += suppressed
            result.planned += inserted - suppressed
            for r in rows:
                result.by_kind[r["kind"]] = result.by_kind.get(r["kind"], 0) + 1
        else:  # another planner inserted some of these keys at the same moment
            result.planned += inserted
        commit()
        batch.clear()

    for c in candidates:
        batch.append(c)
        if len(batch) >= s.plan_batch_size:
            flush()
    flush()


# --- staleness -----------------------------------------------------------------------

def cancel_stale(now: dt.datetime) -> int:
    """Cancel planned messages whose reason disappeared (visit recorded or rescheduled,
    appointment cancelled, contract renewed or ended, too late), in a few set-based
    UPDATEs. The planner runs it after planning, the dispatcher just before claiming."""
    cancelled = 0

    def cancel(reason: str, condition) -> None:
        nonlocal cancelled
        res = db.session.execute(
            update(OutboxMessage).where(OutboxMessage.status == "planned", condition)
            .values(status="cancelled", status_reason=reason, updated_at=now)
            .execution_options(synchronize_session=False))
        cancelled += res.rowcount

    cancel("too_late", OutboxMessage.not_after <= now)
    still_due = exists().where(ProgramEnrolment.id == OutboxMessage.subject_id, ProgramEnrolment.status == "active",
                               cast(ProgramEnrolment.next_due_date, String) == OutboxMessage.occurrence)
    cancel("followup_recorded_or_rescheduled", (OutboxMessage.subject_type == "enrolment") & ~still_due)
    booked = exists().where(Appointment.id == OutboxMessage.subject_id, Appointment.status == "booked")
    cancel("appointment_changed", (OutboxMessage.kind == "appointment_reminder") & ~booked)
    active = exists().where(Contract.id == OutboxMessage.subject_id, Contract.status == "active")
    renewal = aliased(Contract)
    renewed = exists().where(renewal.renewed_from_id == OutboxMessage.subject_id,
                             renewal.status.in_(OPEN_CONTRACT_STATUSES + ("active",)))
    cancel("contract_renewed_or_ended", (OutboxMessage.subject_type == "contract") & (~active | renewed))
    return cancelled


# --- entry points ----------------------------------------------------------------------

def plan_reminders(day: dt.date | None = None, settings: ReminderSettings | None = None, *,
                   commit: Callable[[], None] | None = None, now: dt.datetime | None = None) -> PlanResult:
    """Plan the day's reminders; one transaction per batch (`commit` is called after each)."""
    s = settings or ReminderSettings()
    now = now or clock.now()
    day = day or clock.today()
    commit = commit or db.session.flush
    result = PlanResult()
    _write(_followup_candidates(day, s, now), s, now, result, commit)
    _write(_contract_candidates(day, s, now), s, now, result, commit)
    _write(_appointment_candidates(now, s), s, now, result, commit)
    result.cancelled += cancel_stale(now)
    commit()
    return result


def plan_event_reminders(settings: ReminderSettings | None = None, *, commit: Callable[[], None] | None = None,
                         now: dt.datetime | None = None) -> PlanResult:
    """Appointment reminders and session cancellations, which cannot wait for the daily run
    (a booking made this morning for this afternoon). Cheap: bounded by the next 36 hours."""
    s = settings or ReminderSettings()
    now = now or clock.now()
    commit = commit or db.session.flush
    result = PlanResult()
    _write(_appointment_candidates(now, s), s, now, result, commit)
    return result
