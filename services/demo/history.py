"""Demo history for the dashboard: the demo county's last year, so `make run`
shows trends, not a county born this morning. Run after the other demo steps:

- residents registered 13 to 25 months ago;
- the demo contracts signed over the last eleven months (not all today), with
  services delivered under them since, spread over the team's members;
- 25 contracts that ended in the last year: 15 renewed (the current contract is
  their renewal), 10 not;
- follow-ups of each chronic-disease patient about every three months since
  enrolment, before the visit the patient already has (which stays the latest,
  so the worklist is unchanged);
- the SMS reminders of the last four months, most delivered, some failed with the
  carriers' codes; satisfaction ratings; past clinic mornings with attendance.

Idempotent: a second run finds its messages and changes nothing. Every row is
demo data for the dashboard; the change feed for phones is rebuilt at the end.
"""
from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import func, select

from services import followup
from services.access.scope import scope_for_staff
from services.contracts.lifecycle import term_end
from services.core import clock
from services.core.db import db
from services.core.errors import DomainError
from services.followup.judgement.rules import RulesConfig
from services.models import (
    Appointment,
    Contract,
    ContractEntitlement,
    ContractEvent,
    ContractPackage,
    Evaluation,
    FollowUp,
    Institution,
    OutboxMessage,
    ProgramEnrolment,
    Resident,
    ServiceDelivery,
    Slot,
    Staff,
    Team,
)

SEED = 20261203
MARK = "demo-history"
COMMUNITY_NAME = "青禾县医共体"
# How reminders end: (status, error code, weight). Codes are Twilio's.
OUTCOMES = (("delivered", None, 86), ("failed", "30003", 5), ("failed", "30005", 3), ("failed", "30006", 2),
            ("failed", "30008", 2), ("failed", "21610", 2))
KINDS = (("followup_due", "【{c}】{n}您好，您的慢病随访将于近日到期，请按约到卫生院或等候家庭医生上门。退订回TD"),
         ("appointment_reminder", "【{c}】{n}您好，您明天上午有家庭医生门诊预约，请携带医保卡按时就诊。退订回TD"),
         ("contract_ending", "【{c}】{n}您好，您的家庭医生签约将于下月到期，可在小程序或卫生院续约。退订回TD"))


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=clock.zone()).astimezone(dt.timezone.utc)


def _demo_residents(community_code: str) -> list[Resident]:
    return list(db.session.scalars(
        select(Resident).join(Institution, Institution.id == Resident.institution_id)
        .where(Institution.code.like(f"{community_code}-%")).order_by(Resident.id)))


def seed_demo_history(rules: RulesConfig, community_code: str = "demo") -> dict[str, int]:
    """What it added, by kind (all zero when the history is already there)."""
    counts = dict.fromkeys(("contracts_backdated", "ended_contracts", "deliveries", "followups", "messages",
                            "ratings", "appointments"), 0)
    if db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key.like(f"{MARK}:%")).limit(1)):
        return counts
    teams = list(db.session.scalars(select(Team).where(Team.code.like(f"{community_code}-%")).order_by(Team.id)))
    if not teams:
        return counts
    rng = random.Random(SEED)
    today, now = clock.today(), clock.now()
    members = {t.id: list(db.session.scalars(select(Staff).where(Staff.team_id == t.id, Staff.active)
                                             .order_by(Staff.id))) for t in teams}
    residents = _demo_residents(community_code)

    # Registered 13-25 months ago: the whole population is there for every month of the charts.
    for r in residents:
        r.created_at = now - dt.timedelta(days=400 + (r.id * 53) % 360, minutes=r.id % 600)

    contracts = list(db.session.scalars(select(Contract).where(
        Contract.team_id.in_([t.id for t in teams]), Contract.status == "active").order_by(Contract.id)))
    _backdate(contracts, today, counts)
    ended = _ended_contracts(contracts, residents, teams, today, rng, counts)
    _deliveries(contracts + ended, members, today, rng, counts)
    _followups(teams, members, rules, today, rng, counts)
    _messages(residents, now, rng, counts)
    _ratings(contracts, today, rng, counts)
    _attendance(teams, members, residents, today, rng, counts)
    db.session.flush()

    from services.sync import feed

    feed.rebuild(db.session)
    return counts


def _backdate(contracts: list[Contract], today: dt.date, counts: dict) -> None:
    """The seed signed every contract today: spread the signings over the last eleven months."""
    for c in contracts:
        if c.starts_on != today:
            continue
        start = today - dt.timedelta(days=(c.id * 37) % 330)
        c.starts_on, c.ends_on = start, term_end(start, c.term_months)
        c.created_at = c.paid_at = _at(start, 9, c.id % 50)
        for event in db.session.scalars(select(ContractEvent).where(ContractEvent.contract_id == c.id)):
            event.at = _at(start, 9, c.id % 50)
        counts["contracts_backdated"] += 1


def _copy(c: Contract, **changes) -> Contract:
    """A contract like `c` (its packages and entitlements, nothing used yet) with `changes`."""
    fields = ("resident_id", "team_id", "term_months", "applied_by", "created_by_staff_id", "list_value_fen",
              "self_pay_fen", "funding", "payment_amount_fen", "payment_method")
    copy = Contract(**{f: getattr(c, f) for f in fields})
    for name, value in changes.items():
        setattr(copy, name, value)
    db.session.add(copy)
    db.session.flush()
    for p in db.session.scalars(select(ContractPackage).where(ContractPackage.contract_id == c.id)):
        db.session.add(ContractPackage(contract_id=copy.id, **{f: getattr(p, f) for f in (
            "package_version_id", "code", "version", "name", "kind", "list_value_fen", "funding", "self_pay_fen",
            "waiver", "definition")}))
    for e in db.session.scalars(select(ContractEntitlement).where(ContractEntitlement.contract_id == c.id)):
        db.session.add(ContractEntitlement(contract_id=copy.id, item_code=e.item_code, name=e.name,
                                           package_codes=e.package_codes, promised=e.promised, used=0,
                                           unit_value_fen=e.unit_value_fen))
    db.session.add(ContractEvent(contract_id=copy.id, at=copy.created_at, to_status="active", actor_type="staff",
                                 actor_id=copy.created_by_staff_id))
    db.session.add(ContractEvent(contract_id=copy.id, at=_at(copy.ends_on + dt.timedelta(days=1), 0, 5),
                                 from_status="active", to_status="expired", actor_type="system"))
    return copy


def _ended_contracts(contracts, residents, teams, today, rng, counts) -> list[Contract]:
    """15 current contracts are renewals of one that ended the day before they began; 10 residents'
    contracts ended in the last year without a renewal."""
    ended = []
    for c in contracts[:15]:
        start = c.starts_on - dt.timedelta(days=365)
        old = _copy(c, status="expired", starts_on=start, ends_on=c.starts_on - dt.timedelta(days=1),
                    receipt_no=f"DEMO-H-{c.resident_id:05d}", created_at=_at(start, 9), paid_at=_at(start, 9))
        c.renewed_from_id = old.id
        ended.append(old)
    signed = {c.resident_id for c in contracts}
    unsigned = [r for r in residents if r.id not in signed and not r.floating]
    for r in (rng.sample(unsigned, min(10, len(unsigned))) if contracts else []):
        ends = today - dt.timedelta(days=rng.randint(10, 330))
        start = ends - dt.timedelta(days=364)
        team = teams[r.id % len(teams)]
        ended.append(_copy(contracts[r.id % len(contracts)], status="expired", starts_on=start, ends_on=ends,
                           resident_id=r.id, team_id=team.id, created_by_staff_id=team.lead_doctor_id,
                           receipt_no=f"DEMO-H-{r.id:05d}", created_at=_at(start, 9), paid_at=_at(start, 9)))
    counts["ended_contracts"] = len(ended)
    return ended


def _deliveries(contracts, members, today, rng, counts) -> None:
    """About as much of each entitlement as the months since signing call for, by the team's members."""
    for c in contracts:
        days = (min(c.ends_on, today) - c.starts_on).days
        if days <= 0:
            continue
        staff = members.get(c.team_id) or []
        for e in db.session.scalars(select(ContractEntitlement).where(ContractEntitlement.contract_id == c.id)
                                    .order_by(ContractEntitlement.id)):
            due = min(e.promised, round(e.promised * days / 365 * rng.uniform(0.5, 1.1)))
            for k in range(max(0, due - e.used)):
                if not staff:
                    break
                member = staff[(c.id + k) % len(staff)]
                on = c.starts_on + dt.timedelta(days=min(days, days * (k + 1) // (due + 1) + rng.randint(0, 5)))
                db.session.add(ServiceDelivery(contract_id=c.id, entitlement_id=e.id, item_code=e.item_code,
                                               delivered_on=min(on, today), staff_id=member.id,
                                               place=("clinic", "home", "clinic")[k % 3], recorded_by_id=member.id,
                                               created_at=_at(min(on, today), 10)))
                e.used += 1
                counts["deliveries"] += 1


def _reading(program: str, rng: random.Random) -> dict:
    if program == "mental_disorder":
        return {"risk_level": rng.choice((0, 0, 0, 1)), "insight": rng.choice(("complete", "complete", "partial"))}
    good = rng.random() < 0.7
    reading = {"sbp": rng.randint(112, 138) if good else rng.randint(141, 158),
               "dbp": rng.randint(68, 88) if good else rng.randint(91, 98)}
    if program == "diabetes":
        reading["fasting_glucose"] = round(rng.uniform(4.8, 6.9) if good else rng.uniform(7.2, 9.5), 1)
    return reading


def _followups(teams, members, rules, today, rng, counts) -> None:
    """Earlier visits, about every 90 days from enrolment, recorded by the team's members through the
    follow-up service (each judged by the rules); the patient's existing visit stays the latest."""
    scopes = {s.id: scope_for_staff(s) for staff in members.values() for s in staff}
    for e in db.session.scalars(select(ProgramEnrolment).where(
            ProgramEnrolment.team_id.in_([t.id for t in teams]), ProgramEnrolment.status == "active")
            .order_by(ProgramEnrolment.id)):
        first = db.session.scalar(select(func.min(FollowUp.visit_date)).where(FollowUp.enrolment_id == e.id))
        if first is None:
            continue
        staff = members.get(e.team_id) or []
        day, k = e.enrolled_on + dt.timedelta(days=14), 0
        while day < first - dt.timedelta(days=20) and staff:
            member = staff[(e.id + k) % len(staff)]
            data = {"resident_id": e.resident_id, "program": e.program, "visit_date": day,
                    "visit_mode": rng.choice(("clinic", "clinic", "home", "phone")), **_reading(e.program, rng)}
            if rng.random() < 0.06:
                data = {"resident_id": e.resident_id, "program": e.program, "visit_date": day, "visit_mode": "home",
                        "not_reached": True, "not_reached_reason": "外出务工，家中无人"}
            try:
                with db.session.begin_nested():
                    followup.record_followup(data, scopes[member.id], rules)
                counts["followups"] += 1
            except DomainError:
                pass
            day += dt.timedelta(days=rng.randint(80, 95))
            k += 1


def _messages(residents, now, rng, counts) -> None:
    """The SMS reminders of the last 120 days, as the dispatcher and the carriers' receipts left them."""
    weights = [w for _s, _c, w in OUTCOMES]
    n = 0
    for r in residents:
        if not r.phone or r.sms_opt_out:
            continue
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            kind, text = rng.choice(KINDS)
            status, code, _w = rng.choices(OUTCOMES, weights)[0]
            sent = now - dt.timedelta(days=rng.randint(1, 120), minutes=rng.randint(0, 600))
            n += 1
            db.session.add(OutboxMessage(
                dedupe_key=f"{MARK}:{n}", kind=kind, resident_id=r.id, recipient=r.phone, channel="sms",
                template_code=kind, text=text.format(c=COMMUNITY_NAME, n=r.name)[:500], status=status,
                attempts=1, last_attempt_at=sent, sent_at=sent, provider_status="delivered" if code is None
                else "undelivered", error_code=code, delivered_at=sent + dt.timedelta(seconds=20)
                if code is None else None, created_at=sent - dt.timedelta(minutes=1), updated_at=sent))
            counts["messages"] += 1


def _ratings(contracts, today, rng, counts) -> None:
    """About half the signed residents rated their team in a month or two since signing."""
    for c in contracts:
        if rng.random() < 0.5:
            continue
        months = sorted({(c.starts_on + dt.timedelta(days=rng.randint(20, max(21, (today - c.starts_on).days))))
                         for _ in range(rng.choice((1, 1, 2)))})
        for day in months:
            if day > today:
                continue
            month = day.strftime("%Y-%m")
            if db.session.scalar(select(Evaluation.id).where(Evaluation.contract_id == c.id,
                                                             Evaluation.month == month)):
                continue
            db.session.add(Evaluation(contract_id=c.id, resident_id=c.resident_id, team_id=c.team_id, month=month,
                                      score=rng.choices((5, 4, 3, 2), (60, 30, 8, 2))[0], created_at=_at(day, 15)))
            db.session.flush()
            counts["ratings"] += 1


def _attendance(teams, members, residents, today, rng, counts) -> None:
    """Eight weeks of past Tuesday clinic mornings per team, most bookings attended, some missed."""
    by_institution: dict[int, list[Resident]] = {}
    for r in residents:
        by_institution.setdefault(r.institution_id, []).append(r)
    tuesday = today - dt.timedelta(days=(today.weekday() - 1) % 7 or 7)
    for team in teams:
        staff = members.get(team.id) or []
        near = [r for iid, rs in by_institution.items() for r in rs
                if iid == team.institution_id or db.session.get(Institution, iid).parent_id == team.institution_id]
        if not staff or not near:
            continue
        for week in range(8):
            day = tuesday - dt.timedelta(weeks=week)
            people = rng.sample(near, min(len(near), rng.randint(3, 6)))
            slot = Slot(team_id=team.id, staff_id=staff[week % len(staff)].id, kind="clinic",
                        starts_at=_at(day, 8, 30), ends_at=_at(day, 11, 30), capacity=10, booked=len(people),
                        audience="everyone", created_at=_at(day - dt.timedelta(days=7), 9))
            db.session.add(slot)
            db.session.flush()
            for r in people:
                db.session.add(Appointment(slot_id=slot.id, resident_id=r.id, booked_by="resident",
                                           status="checked_in" if rng.random() < 0.85 else "no_show",
                                           created_at=_at(day - dt.timedelta(days=3), 20)))
                counts["appointments"] += 1
