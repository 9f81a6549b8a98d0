"""Family links (家庭成员) over HTTP: a daughter links her father (a code to his
phone, or staff confirming in person), then books, cancels and reschedules,
applies for signing, reads contracts, follow-ups and /me, and rates services
for him; the records and the audit log keep both people; a stranger's id is
404; removing the link (by either side) ends access at once; reminders reach
the father, or the daughter where he has no mobile and she asked for them."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from services.core.db import db
from services.models import Appointment, AuditLog, Contract, Evaluation, FamilyLink, OutboxMessage
from tests.factories import load_catalog, login, make_contract, make_resident, resident_headers

TUESDAY = "2026-03-03"
FATHER_PHONE, DAUGHTER_PHONE = "13900000001", "13900000002"


@pytest.fixture
def family(world, frozen_clock, app):
    w = world
    app.config["OTP_RATE_LIMIT_PER_PHONE"] = "100 per minute"  # tests link one member more than once a minute
    w.father = make_resident(w.village_a, name="王建国", birth=dt.date(1948, 5, 1), phone=FATHER_PHONE)
    w.daughter = make_resident(w.thc_a, name="王丽娟", birth=dt.date(1975, 3, 8), sex="female",
                               phone=DAUGHTER_PHONE)
    w.stranger = make_resident(w.thc_a, name="李四", birth=dt.date(1980, 1, 1), phone="13900000003")
    w.grandma = make_resident(w.village_a, name="赵桂英", birth=dt.date(1940, 2, 2), sex="female")  # no phone
    return w


def _code_from_console(capsys, phone: str) -> str:
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("[SMS]") and f"to=+86{phone}" in line]
    assert lines, out
    return re.search(r"验证码 (\d{6})", lines[-1]).group(1)


def _link(client, w, capsys, member=None, name=None, relation="parent", **extra):
    member = member or w.father
    me = resident_headers(w.daughter.id)
    resp = client.post("/api/v1/me/family", headers=me, json={
        "id_number": member.id_number, "name": name or member.row.name, "relation": relation, **extra})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _linked(client, w, capsys):
    body = _link(client, w, capsys)
    code = _code_from_console(capsys, FATHER_PHONE)
    resp = client.post(f"/api/v1/me/family/{body['id']}/confirm", json={"code": code},
                       headers=resident_headers(w.daughter.id))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _slot(client, w, capacity=3, day=TUESDAY):
    resp = client.post("/api/v1/slots", headers=login(client, "doctor_a"), json={
        "kind": "clinic", "starts_at": f"{day}T08:30:00+08:00", "ends_at": f"{day}T11:30:00+08:00",
        "capacity": capacity})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


# --- linking ----------------------------------------------------------------------

def test_a_code_to_the_members_phone_confirms_the_link(client, family, capsys):
    w = family
    body = _link(client, w, capsys)
    assert (body["status"], body["direction"], body["relation"], body["relation_label"], body["confirm_by"]) == (
        "pending", "member", "parent", "父母", "sms")
    assert body["resident"] == {"id": w.father.id, "name": "王建国", "phone": "139****0001"}
    code = _code_from_console(capsys, FATHER_PHONE)
    me = resident_headers(w.daughter.id)
    # pending gives nothing
    assert client.get("/api/v1/me", headers=me, query_string={"resident_id": w.father.id}).status_code == 404
    # a wrong code counts; the right one confirms
    wrong = client.post(f"/api/v1/me/family/{body['id']}/confirm", json={"code": "000000" if code != "000000"
                                                                         else "111111"}, headers=me)
    assert wrong.status_code == 422 and wrong.get_json()["code"] == "FAMILY_CODE_INVALID"
    assert wrong.get_json()["details"]["attempts_left"] == 4
    assert db.session.get(FamilyLink, body["id"]).code_attempts == 1
    ok = client.post(f"/api/v1/me/family/{body['id']}/confirm", json={"code": code}, headers=me)
    assert ok.status_code == 200, ok.get_json()
    assert (ok.get_json()["status"], ok.get_json()["confirmed_via"]) == ("active", "sms")
    link = db.session.get(FamilyLink, body["id"])
    assert (link.status, link.code_hash, link.resident_id, link.member_id) == (
        "active", None, w.daughter.id, w.father.id)
    # the father sees who acts for him, masked
    theirs = client.get("/api/v1/me/family", headers=resident_headers(w.father.id)).get_json()["items"]
    assert [(i["direction"], i["resident"]["name"], i["status"]) for i in theirs] == [("proxy", "王*娟", "active")]
    # and the audit log holds the link and its confirmation, with both people
    rows = db.session.execute(select(AuditLog.action, AuditLog.actor_id, AuditLog.resident_id)
                              .where(AuditLog.action.like("family_%")).order_by(AuditLog.id)).all()
    assert rows == [("family_link", w.daughter.id, w.father.id), ("family_confirm", w.daughter.id, w.father.id)]


def test_codes_to_one_member_are_rate_limited_like_login_codes(client, family, capsys, app):
    w = family
    app.config["OTP_RATE_LIMIT_PER_PHONE"] = "1 per minute;5 per hour"  # the login codes' default
    _link(client, w, capsys)
    client.delete(f"/api/v1/me/family/{db.session.scalar(select(FamilyLink.id))}",
                  headers=resident_headers(w.daughter.id))
    again = client.post("/api/v1/me/family", headers=resident_headers(w.daughter.id), json={
        "id_number": w.father.id_number, "name": "王建国", "relation": "parent"})
    assert again.status_code == 429 and again.get_json()["code"] == "RATE_LIMITED"
    assert capsys.readouterr().out.count("[SMS]") == 1  # the first code only


def test_who_can_be_linked(client, family, capsys, app):
    w = family
    me = resident_headers(w.daughter.id)

    def add(**body):
        return client.post("/api/v1/me/family", headers=me, json={"relation": "parent", **body})

    unknown = add(id_number=w.father.id_number, name="王建军")  # the name does not match
    assert unknown.status_code == 422 and unknown.get_json()["code"] == "FAMILY_MEMBER_NOT_FOUND"
    assert "id_number" in unknown.get_json()["errors"]
    assert add(id_number="110101199001011234", name="某人").get_json()["code"] in (
        "FAMILY_MEMBER_NOT_FOUND", "INVALID_ID_NUMBER")
    assert add(id_number=w.daughter.id_number, name="王丽娟").get_json()["code"] == "FAMILY_MEMBER_IS_SELF"
    bad = add(id_number=w.father.id_number, name="王建国", relation="cousin")
    assert bad.status_code == 422 and "relation" in bad.get_json()["errors"]
    assert db.session.scalar(select(func.count()).select_from(FamilyLink)) == 0
    _link(client, w, capsys)
    again = add(id_number=w.father.id_number, name="王建国")
    assert again.status_code == 409 and again.get_json()["code"] == "FAMILY_LINK_EXISTS"
    assert db.session.scalar(select(func.count()).select_from(FamilyLink)) == 1


def test_active_links_are_limited(client, family, capsys, app):
    w = family
    from app.config import reconfigure

    assert app.extensions["settings"].family.max_active_links == 6  # the default (FAMILY_MAX_LINKS)
    reconfigure(app, FAMILY_MAX_LINKS=1)
    me = resident_headers(w.daughter.id)
    second = _link(client, w, capsys, member=w.stranger, relation="other")   # pending links do not count
    stranger_code = _code_from_console(capsys, "13900000003")
    _linked(client, w, capsys)                                              # the one active link allowed
    refused = client.post(f"/api/v1/me/family/{second['id']}/confirm", json={"code": stranger_code}, headers=me)
    assert refused.status_code == 409 and refused.get_json()["code"] == "FAMILY_LINK_LIMIT"
    assert refused.get_json()["details"]["max_active_links"] == 1
    assert db.session.get(FamilyLink, second["id"]).status == "pending"
    third = client.post("/api/v1/me/family", headers=me, json={
        "id_number": w.grandma.id_number, "name": "赵桂英", "relation": "other"})
    assert third.status_code == 409 and third.get_json()["code"] == "FAMILY_LINK_LIMIT"


def test_a_member_without_a_phone_is_confirmed_by_staff_in_person(client, family, capsys):
    w = family
    body = _link(client, w, capsys, member=w.grandma, relation="other", reminders_to_proxy=True)
    assert (body["status"], body["confirm_by"]) == ("pending", "staff")
    assert "[SMS]" not in capsys.readouterr().out
    # a doctor of another team does not see her: 404; her own team confirms, and is recorded
    path = f"/api/v1/residents/{w.grandma.id}/family/{body['id']}/confirm"
    assert client.post(path, headers=login(client, "doctor_b")).status_code == 404
    assert client.post(f"/api/v1/residents/{w.stranger.id}/family/{body['id']}/confirm",
                       headers=login(client, "doctor_a")).status_code == 404
    ok = client.post(path, headers=login(client, "doctor_a"))
    assert ok.status_code == 200, ok.get_json()
    assert (ok.get_json()["status"], ok.get_json()["confirmed_via"], ok.get_json()["direction"]) == (
        "active", "staff", "proxy")
    link = db.session.get(FamilyLink, body["id"])
    assert link.confirmed_by_staff_id == w.doctor_a.id
    again = client.post(path, headers=login(client, "doctor_a"))
    assert again.status_code == 409 and again.get_json()["code"] == "FAMILY_LINK_NOT_PENDING"


# --- acting for a member ----------------------------------------------------------

def test_booking_cancelling_and_rescheduling_for_a_parent(client, family, capsys):
    w = family
    _linked(client, w, capsys)
    me = resident_headers(w.daughter.id)
    slot = _slot(client, w)
    resp = client.post("/api/v1/appointments", headers=me,
                       json={"slot_id": slot["id"], "resident_id": w.father.id, "reason": "复查血压"})
    assert resp.status_code == 201, resp.get_json()
    appt = resp.get_json()
    assert appt["resident"]["id"] == w.father.id and appt["booked_by"] == "resident"
    row = db.session.get(Appointment, appt["id"])
    assert (row.resident_id, row.proxy_resident_id) == (w.father.id, w.daughter.id)
    assert appt["history"][0]["actor_id"] == w.daughter.id  # the history names who acted
    # her list for him, his own list, and her own (empty) list
    for_him = client.get("/api/v1/appointments", headers=me, query_string={"resident_id": w.father.id}).get_json()
    assert [a["id"] for a in for_him["items"]] == [appt["id"]]
    assert client.get("/api/v1/appointments", headers=me).get_json()["items"] == []
    assert [a["id"] for a in client.get("/api/v1/appointments",
                                        headers=resident_headers(w.father.id)).get_json()["items"]] == [appt["id"]]
    # reschedule, then cancel, named by the appointment's id only
    later = _slot(client, w, day="2026-03-05")
    moved = client.post(f"/api/v1/appointments/{appt['id']}/reschedule", headers=me,
                        json={"slot_id": later["id"], "reason": "改到周四"})
    assert moved.status_code == 201, moved.get_json()
    new_id = moved.get_json()["id"]
    assert db.session.get(Appointment, new_id).proxy_resident_id == w.daughter.id
    cancelled = client.post(f"/api/v1/appointments/{new_id}/cancel", headers=me, json={"reason": "身体不适"})
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    # a stranger's id, or a stranger acting on his appointment: 404, nothing booked
    other = resident_headers(w.stranger.id)
    assert client.post("/api/v1/appointments", headers=other, json={
        "slot_id": slot["id"], "resident_id": w.father.id}).status_code == 404
    assert client.get(f"/api/v1/appointments/{new_id}", headers=other).status_code == 404
    assert client.post(f"/api/v1/appointments/{new_id}/cancel", headers=other, json={}).status_code == 404
    assert client.get("/api/v1/me", headers=other, query_string={"resident_id": w.father.id}).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 2


def test_signing_reading_and_rating_for_a_parent(client, family, capsys):
    w = family
    load_catalog()
    _linked(client, w, capsys)
    me = resident_headers(w.daughter.id)
    quote = client.post("/api/v1/quotes", headers=me, json={"resident_id": w.father.id, "package_codes": ["basic"]})
    assert quote.status_code == 200, quote.get_json()
    applied = client.post("/api/v1/contracts", headers=me, json={
        "resident_id": w.father.id, "team_id": w.team_a.id, "package_codes": ["basic"]})
    assert applied.status_code == 201, applied.get_json()
    contract = db.session.get(Contract, applied.get_json()["id"])
    assert (contract.resident_id, contract.proxy_resident_id, contract.status) == (
        w.father.id, w.daughter.id, "pending")
    listed = client.get("/api/v1/contracts", headers=me, query_string={"resident_id": w.father.id}).get_json()
    assert [c["id"] for c in listed["items"]] == [contract.id]
    assert client.get(f"/api/v1/contracts/{contract.id}", headers=me).status_code == 200
    shown = client.get("/api/v1/me", headers=me, query_string={"resident_id": w.father.id}).get_json()
    assert shown["profile"]["id"] == w.father.id and shown["contract"]["id"] == contract.id
    assert client.get("/api/v1/me", headers=me).get_json()["profile"]["id"] == w.daughter.id
    # follow-ups: his, through her; hers to nobody else
    assert client.get(f"/api/v1/residents/{w.father.id}/followups", headers=me).status_code == 200
    assert client.get(f"/api/v1/residents/{w.daughter.id}/followups",
                      headers=resident_headers(w.father.id)).status_code == 404
    # rating an active contract of his
    active = make_contract(w.father.id, w.team_a)
    rated = client.post(f"/api/v1/contracts/{active.id}/evaluations", headers=me, json={"score": 5})
    assert rated.status_code == 201, rated.get_json()
    evaluation = db.session.scalar(select(Evaluation))
    assert (evaluation.resident_id, evaluation.proxy_resident_id) == (w.father.id, w.daughter.id)
    # the audit log of her reads of his records names both
    reads = db.session.execute(select(AuditLog.actor_id, AuditLog.resident_id, AuditLog.actor_name)
                               .where(AuditLog.action == "read", AuditLog.resident_id == w.father.id)).all()
    assert reads and all(r.actor_id == w.daughter.id for r in reads)
    assert all(r.actor_name == f"resident:{w.daughter.id} for resident:{w.father.id}" for r in reads)


def test_renewing_a_parents_contract(client, family, capsys):
    w = family
    load_catalog()
    _linked(client, w, capsys)
    active = make_contract(w.father.id, w.team_a)
    me = resident_headers(w.daughter.id)
    renewed = client.post(f"/api/v1/contracts/{active.id}/renew", headers=me, json={"package_codes": ["basic"]})
    assert renewed.status_code == 201, renewed.get_json()
    renewal = db.session.get(Contract, renewed.get_json()["id"])
    assert (renewal.resident_id, renewal.renewed_from_id, renewal.proxy_resident_id, renewal.status) == (
        w.father.id, active.id, w.daughter.id, "pending")
    # a stranger cannot renew it
    assert client.post(f"/api/v1/contracts/{active.id}/renew", headers=resident_headers(w.stranger.id),
                       json={"package_codes": ["basic"]}).status_code == 404


def test_removing_the_link_ends_access_at_once(client, family, capsys):
    w = family
    link = _linked(client, w, capsys)
    me = resident_headers(w.daughter.id)
    assert client.get("/api/v1/me", headers=me, query_string={"resident_id": w.father.id}).status_code == 200
    # the father removes it from his own account
    gone = client.delete(f"/api/v1/me/family/{link['id']}", headers=resident_headers(w.father.id))
    assert gone.status_code == 204
    assert client.get("/api/v1/me", headers=me, query_string={"resident_id": w.father.id}).status_code == 404
    slot = _slot(client, w)
    assert client.post("/api/v1/appointments", headers=me,
                       json={"slot_id": slot["id"], "resident_id": w.father.id}).status_code == 404
    assert client.get("/api/v1/me/family", headers=me).get_json()["items"] == []
    assert db.session.get(FamilyLink, link["id"]).removed_by == f"resident:{w.father.id}"
    # a stranger cannot remove a link that is not theirs
    again = _linked(client, w, capsys)
    assert client.delete(f"/api/v1/me/family/{again['id']}",
                         headers=resident_headers(w.stranger.id)).status_code == 404
    assert db.session.get(FamilyLink, again["id"]).status == "active"


# --- reminders ----------------------------------------------------------------------

def test_reminders_go_to_the_member_or_to_the_proxy_who_asked(client, family, capsys, app):
    w = family
    _linked(client, w, capsys)                                        # the father has a phone
    grandma = _link(client, w, capsys, member=w.grandma, relation="other", reminders_to_proxy=True)
    client.post(f"/api/v1/residents/{w.grandma.id}/family/{grandma['id']}/confirm", headers=login(client, "doctor_a"))
    me = resident_headers(w.daughter.id)
    slot = _slot(client, w)
    for member in (w.father, w.grandma):
        resp = client.post("/api/v1/appointments", headers=me, json={"slot_id": slot["id"],
                                                                     "resident_id": member.id})
        assert resp.status_code == 201, resp.get_json()
    from services.reminders import planner

    with app.app_context():
        planner.plan_event_reminders(app.extensions["settings"].reminders)
        db.session.commit()
    rows = {r.resident_id: r for r in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "appointment_reminder"))}
    assert rows[w.father.id].recipient == "+86" + FATHER_PHONE          # his own phone, not hers
    assert rows[w.grandma.id].recipient == "+86" + DAUGHTER_PHONE       # no mobile of her own: the proxy's
    assert rows[w.grandma.id].status_reason == f"family_proxy:{w.daughter.id}"
