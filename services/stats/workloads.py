"""Workload for performance pay (绩效考核): per team and per staff member, what
was done in a period.

- signed_new / signed_renewed: contracts signed in the period (the moment a
  contract became active or, for a renewal paid ahead, scheduled: staff
  signing on site, accepting an application with nothing to pay, or taking
  the payment), new ones and renewals; credited to the contract's team and
  to the staff member who did it. A scheduled renewal that starts later by
  itself is not signed again.
- face_to_face_followups: reached follow-up visits in clinic or at home dated
  in the period; phone_followups the reached phone visits; not_reached_visits
  the visits recorded as not reached (未访到); credited to the visit's team
  and to who recorded it.
- services_delivered: services delivered under contracts in the period,
  credited to the contract's team and the staff member who delivered them.
- appointments_attended: bookings checked in (已签到) for sessions starting in
  the period, credited to the session's team and its doctor.
- satisfaction: the team's ratings in the period (sum of scores ÷ number of
  ratings, `rate` the average); a staff member shows their team's.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import and_, func, or_, select

from services.core import clock
from services.core.db import db
from services.core.errors import ValidationFailed
from services.models import (
    Appointment,
    Contract,
    ContractEvent,
    Evaluation,
    FollowUp,
    Institution,
    ServiceDelivery,
    Slot,
    Staff,
    Team,
)
from services.models.staff import TEAM_ROLE_LABELS
from services.stats.figures import check_period, fraction
from services.stats.units import Unit

WORKLOAD_COUNTERS = ("signed_new", "signed_renewed", "signed_total", "face_to_face_followups", "phone_followups",
                     "not_reached_visits", "services_delivered", "appointments_attended")
SORT_KEYS = ("name", *WORKLOAD_COUNTERS, "satisfaction")


def _signings(unit: Unit, start: dt.datetime, end: dt.datetime):
    e, c = ContractEvent, Contract
    signed_now = and_(e.to_status.in_(("active", "scheduled")),
                      or_(e.from_status.is_(None), e.from_status.in_(("pending", "awaiting_payment"))))
    renewed = c.renewed_from_id.is_not(None)
    rows = db.session.execute(
        select(c.team_id, e.actor_type, e.actor_id, func.count(func.distinct(c.id)).filter(~renewed),
               func.count(func.distinct(c.id)).filter(renewed))
        .select_from(e).join(c, c.id == e.contract_id)
        .where(c.team_id.in_(unit.team_ids), signed_now, e.at >= start, e.at < end)
        .group_by(c.team_id, e.actor_type, e.actor_id)).all()
    for team_id, actor_type, actor_id, new, renewals in rows:
        who = actor_id if actor_type == "staff" else None
        yield team_id, who, "signed_new", new
        yield team_id, who, "signed_renewed", renewals


def _visits(unit: Unit, date_from: dt.date, date_to: dt.date):
    f = FollowUp
    rows = db.session.execute(
        select(f.team_id, f.recorded_by_id,
               func.count().filter(f.not_reached.is_(False), f.visit_mode.in_(("clinic", "home"))),
               func.count().filter(f.not_reached.is_(False), f.visit_mode == "phone"),
               func.count().filter(f.not_reached.is_(True)))
        .where(f.team_id.in_(unit.team_ids), f.visit_date >= date_from, f.visit_date <= date_to)
        .group_by(f.team_id, f.recorded_by_id)).all()
    for team_id, staff_id, face_to_face, phone, not_reached in rows:
        yield team_id, staff_id, "face_to_face_followups", face_to_face
        yield team_id, staff_id, "phone_followups", phone
        yield team_id, staff_id, "not_reached_visits", not_reached


def _deliveries(unit: Unit, date_from: dt.date, date_to: dt.date):
    d = ServiceDelivery
    rows = db.session.execute(
        select(Contract.team_id, d.staff_id, func.count())
        .select_from(d).join(Contract, Contract.id == d.contract_id)
        .where(Contract.team_id.in_(unit.team_ids), d.delivered_on >= date_from, d.delivered_on <= date_to)
        .group_by(Contract.team_id, d.staff_id)).all()
    for team_id, staff_id, count in rows:
        yield team_id, staff_id, "services_delivered", count


def _attendance(unit: Unit, start: dt.datetime, end: dt.datetime):
    rows = db.session.execute(
        select(Slot.team_id, Slot.staff_id, func.count())
        .select_from(Appointment).join(Slot, Slot.id == Appointment.slot_id)
        .where(Slot.team_id.in_(unit.team_ids), Appointment.status == "checked_in", Slot.starts_at >= start,
               Slot.starts_at < end)
        .group_by(Slot.team_id, Slot.staff_id)).all()
    for team_id, staff_id, count in rows:
        yield team_id, staff_id, "appointments_attended", count


def _ratings(unit: Unit, start: dt.datetime, end: dt.datetime) -> dict[int, dict]:
    got = dict.fromkeys(unit.team_ids, (0, 0))
    got.update({team_id: (total, count) for team_id, total, count in db.session.execute(
        select(Evaluation.team_id, func.sum(Evaluation.score), func.count())
        .where(Evaluation.team_id.in_(unit.team_ids), Evaluation.created_at >= start, Evaluation.created_at < end)
        .group_by(Evaluation.team_id))})
    return {team_id: fraction(total, count, digits=2) for team_id, (total, count) in got.items()}


def _blank() -> dict:
    return dict.fromkeys(WORKLOAD_COUNTERS, 0)


def _sorted(rows: list[dict], sort: str, order: str, name_key: str) -> list[dict]:
    if sort not in SORT_KEYS:
        raise ValidationFailed.field("sort", f"可排序字段：{'、'.join(SORT_KEYS)}")
    if sort == "name":
        return sorted(rows, key=lambda r: (r[name_key], r["id"]), reverse=order == "desc")
    if sort == "satisfaction":
        rated = [r for r in rows if r["satisfaction"]["rate"] is not None]
        unrated = [r for r in rows if r["satisfaction"]["rate"] is None]
        rated.sort(key=lambda r: (r["satisfaction"]["rate"], -r["id"]), reverse=order == "desc")
        return rated + sorted(unrated, key=lambda r: r["id"])  # the unrated last, whichever the order
    ordered = sorted(rows, key=lambda r: r["id"])
    return sorted(ordered, key=lambda r: r[sort], reverse=order == "desc")


def workload(unit: Unit, date_from: dt.date, date_to: dt.date, *, sort: str = "name", order: str = "asc") -> dict:
    check_period(date_from, date_to)
    start, end = clock.day_bounds(date_from, date_to)
    teams = {t.id: {"id": t.id, "team_id": t.id, "team_name": t.name, "institution_id": t.institution_id,
                    "institution_name": name, **_blank()}
             for t, name in db.session.execute(
                 select(Team, Institution.name).join(Institution, Institution.id == Team.institution_id)
                 .where(Team.id.in_(unit.team_ids)))}
    per_staff: dict[int, dict] = defaultdict(_blank)
    for source in (_signings(unit, start, end), _visits(unit, date_from, date_to),
                   _deliveries(unit, date_from, date_to), _attendance(unit, start, end)):
        for team_id, staff_id, counter, count in source:
            teams[team_id][counter] += count
            if staff_id is not None:
                per_staff[staff_id][counter] += count
    for row in (*teams.values(), *per_staff.values()):
        row["signed_total"] = row["signed_new"] + row["signed_renewed"]
    ratings = _ratings(unit, start, end)
    for team_id, row in teams.items():
        row["satisfaction"] = ratings[team_id]
    members = db.session.execute(
        select(Staff.id, Staff.name, Staff.team_role, Staff.team_id, Staff.active)
        .where(or_(Staff.team_id.in_(unit.team_ids), Staff.id.in_(sorted(per_staff))))).all()
    staff_rows = []
    for staff_id, name, team_role, team_id, active in members:
        if team_id not in teams and not any(per_staff[staff_id].values()):
            continue
        team = teams.get(team_id)
        staff_rows.append({"id": staff_id, "staff_id": staff_id, "name": name, "team_role": team_role,
                           "team_role_label": TEAM_ROLE_LABELS.get(team_role) if team_role else None,
                           "team_id": team_id if team else None, "team_name": team["team_name"] if team else None,
                           "active": active, **per_staff[staff_id],
                           "satisfaction": ratings[team_id] if team else fraction(0, 0, digits=2)})
    return {"unit": {"kind": unit.kind, "id": unit.id, "name": unit.name}, "date_from": date_from,
            "date_to": date_to, "sort": sort, "order": order,
            "teams": _sorted(list(teams.values()), sort, order, "team_name"),
            "staff": _sorted(staff_rows, sort, order, "name")}


def workload_rows(data: dict) -> tuple[list[tuple], list[tuple]]:
    """Team rows and staff rows for the spreadsheet, in the order the JSON shows them."""
    def counters(r):
        return tuple(r[c] for c in WORKLOAD_COUNTERS) + (r["satisfaction"]["rate"], r["satisfaction"]["denominator"])
    teams = [(r["team_name"], r["institution_name"], *counters(r)) for r in data["teams"]]
    staff = [(r["name"], r["team_role_label"], r["team_name"], *counters(r)) for r in data["staff"]]
    return teams, staff
