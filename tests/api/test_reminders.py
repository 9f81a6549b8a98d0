"""Reminders end to end, through the real Twilio SDK against a local fake
Twilio (tests/fakes/twilio.py): planning (idempotent, suppression, staleness,
timing), dispatching (exactly once under transient failures, permanent
failures, crash reconciliation, quiet hours, daily cap), signed webhooks,
opt-out by reply and in the app, the WeChat channel, and the admin views."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from app.config import reconfigure
from app.reminders import dispatch, plan
from services.core import clock
from services.core.db import db
from services.models import OutboxMessage, SmsOptOut, WechatSubscription
from services.reminders.dispatcher import Dispatcher
from tests.factories import login, make_contract, make_resident, make_staff, resident_headers
from tests.fakes.twilio import FakeTwilio
from tests.fakes.wechat import FakeWechat

PUBLIC = "https://fdoc.example.cn"
STATUS_URL = PUBLIC + "/api/v1/webhooks/twilio/status"
INBOUND_URL = PUBLIC + "/api/v1/webhooks/twilio/inbound"
DIAGNOSES = ("高血压", "糖尿病", "精神", "hypertension")


@pytest.fixture
def fake(app, world, frozen_clock):
    with FakeTwilio() as twilio:
        reconfigure(app, SMS_BACKEND="twilio", TWILIO_ACCOUNT_SID=twilio.account_sid,
                          TWILIO_AUTH_TOKEN=twilio.auth_token, TWILIO_FROM="+15005550006",
                          TWILIO_API_BASE=twilio.base_url, PUBLIC_BASE_URL=PUBLIC, SMS_SIGNATURE="青禾县卫生院",
                          SMS_RATE_PER_SECOND=0, SMS_RETRY_BASE_SECONDS=60)
        app.extensions.pop("sms_channel", None)
        yield twilio
        app.extensions.pop("sms_channel", None)


def patient(client, world, phone, *, enrolled_on="2026-02-18", name="张三", birth=dt.date(1955, 1, 1)):
    """A resident with a follow-up due on enrolled_on + 14 days (03-04 by default: due in 2 days)."""
    r = make_resident(world.thc_a, phone=phone, name=name, birth=birth)
    resp = client.post(f"/api/v1/residents/{r.id}/programs", headers=login(client, "doctor_a"),
                       json={"program": "hypertension", "enrolled_on": enrolled_on})
    assert resp.status_code == 201, resp.get_json()
    return r


def rows(**where):
    db.session.expire_all()
    stmt = select(OutboxMessage).order_by(OutboxMessage.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(OutboxMessage, key) == value)
    return db.session.scalars(stmt).all()


def run(app):
    return dispatch(app, sleep=lambda _s: None)


def signed_post(client, fake, url, params_and_sig):
    params, signature = params_and_sig
    return client.post(url.replace(PUBLIC, ""), data=params, headers={"X-Twilio-Signature": signature})


# --- planning ----------------------------------------------------------------------------

def test_happy_path_plan_send_and_signed_delivery_callback(app, client, world, fake):
    r = patient(client, world, "13912345678")
    result = plan(app)
    assert (result.planned, result.by_kind) == (1, {"followup_due": 1})
    [row] = rows()
    assert row.dedupe_key == f"followup_due:{row.subject_id}:2026-03-04"
    assert row.text == "【青禾县卫生院】您有一项健康随访服务将于3月4日到期，请联系您的家庭医生团队。"
    assert not any(word in row.text for word in DIAGNOSES)
    assert (row.status, row.recipient, row.resident_id) == ("planned", "+8613912345678", r.id)
    sent = run(app)
    assert (sent.sent, sent.failed) == (1, 0)
    assert [(m["to"], m["body"], m["status_callback"]) for m in fake.sent] == [
        ("+8613912345678", row.text, STATUS_URL)]
    [row] = rows()
    assert (row.status, row.provider_message_id, row.attempts) == ("sent", fake.sent[0]["sid"], 1)
    resp = signed_post(client, fake, STATUS_URL, fake.status_callback_request(row.provider_message_id, "delivered",
                                                                                STATUS_URL))
    assert resp.status_code == 204
    [row] = rows()
    assert (row.status, row.delivered_at) == ("delivered", clock.now())
    # A late "sent" never moves it backwards; a replay changes nothing.
    signed_post(client, fake, STATUS_URL, fake.status_callback_request(row.provider_message_id, "sent", STATUS_URL))
    signed_post(client, fake, STATUS_URL, fake.status_callback_request(row.provider_message_id, "delivered", STATUS_URL))
    assert rows()[0].status == "delivered"
    # A bad signature is refused with the error body and changes nothing.
    params, _sig = fake.status_callback_request(row.provider_message_id, "failed", STATUS_URL)
    bad = client.post(STATUS_URL.replace(PUBLIC, ""), data=params, headers={"X-Twilio-Signature": "forged"})
    assert bad.status_code == 403 and bad.get_json()["code"] == "INVALID_SIGNATURE"
    missing = client.post(STATUS_URL.replace(PUBLIC, ""), data=params)
    assert missing.status_code == 403
    assert rows()[0].status == "delivered"


def test_planner_is_idempotent_and_cancels_what_lost_its_reason(app, client, world, fake):
    r = patient(client, world, "13912345678")
    patient(client, world, "13912345679", enrolled_on="2026-02-07", birth=dt.date(1956, 1, 1))  # overdue 9 days
    first = plan(app)
    assert first.by_kind == {"followup_due": 1, "followup_overdue": 1}
    overdue = rows(kind="followup_overdue")[0]
    assert overdue.text == "【青禾县卫生院】您的健康随访服务已于2月21日到期，请尽快联系您的家庭医生团队。"
    second = plan(app)
    assert (second.planned, second.suppressed) == (0, 0)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
    # The visit is recorded: the due reminder has lost its reason.
    resp = client.post("/api/v1/followups", headers=login(client, "doctor_a"), json={
        "resident_id": r.id, "program": "hypertension", "visit_date": "2026-03-02", "visit_mode": "clinic",
        "sbp": 128, "dbp": 82})
    assert resp.status_code == 201, resp.get_json()
    third = plan(app)
    assert third.cancelled == 1
    due = rows(kind="followup_due")[0]
    assert (due.status, due.status_reason) == ("cancelled", "followup_recorded_or_rescheduled")
    run(app)
    assert [m["to"] for m in fake.sent] == ["+8613912345679"]


def test_catch_up_after_downtime_plans_missed_events_once(app, client, world, fake):
    patient(client, world, "13912345678", enrolled_on="2026-02-10")  # due 02-24, overdue by 7 on 03-03
    clock.advance(dt.timedelta(days=5))  # the planner was down from 03-03 to 03-07
    assert plan(app).by_kind == {"followup_overdue": 1}
    assert plan(app).planned == 0
    assert rows()[0].dedupe_key.endswith(":2026-02-24")


def test_opted_out_residents_and_numbers_are_suppressed_and_no_mobile_skipped(app, client, world, fake):
    quiet = patient(client, world, "13912345670", birth=dt.date(1950, 1, 1))
    replied = patient(client, world, "13912345671", birth=dt.date(1951, 1, 1))
    patient(client, world, None, birth=dt.date(1952, 1, 1))
    resp = client.patch("/api/v1/me/notification-preferences", json={"sms": False},
                        headers=resident_headers(quiet.id))
    assert resp.status_code == 200 and resp.get_json()["sms"] is False
    inbound = signed_post(client, fake, INBOUND_URL, fake.inbound_request("+8613912345671", " 退订 ", INBOUND_URL))
    assert inbound.status_code == 200 and inbound.mimetype == "text/xml"
    assert db.session.scalars(select(SmsOptOut.phone)).all() == ["13912345671"]
    result = plan(app)
    assert (result.planned, result.suppressed, result.skipped_no_contact) == (0, 2, 1)
    assert {(m.resident_id, m.status, m.status_reason) for m in rows()} == {
        (quiet.id, "suppressed", "resident_opted_out"), (replied.id, "suppressed", "number_opted_out")}
    run(app)
    assert fake.sent == []
    # START opts back in; the next occurrence is sent again.
    signed_post(client, fake, INBOUND_URL, fake.inbound_request("+8613912345671", "START", INBOUND_URL))
    assert db.session.scalar(select(func.count()).select_from(SmsOptOut)) == 0
    prefs = client.get("/api/v1/me/notification-preferences", headers=resident_headers(replied.id)).get_json()
    assert prefs == {"sms": True, "number_opted_out": False, "wechat_linked": False, "wechat_subscriptions": 0}
    for word in ("TD", "T", "stop"):
        signed_post(client, fake, INBOUND_URL, fake.inbound_request("+8613912345671", word, INBOUND_URL))
        assert db.session.scalar(select(func.count()).select_from(SmsOptOut)) == 1
        signed_post(client, fake, INBOUND_URL, fake.inbound_request("+8613912345671", "订阅", INBOUND_URL))
    forged = client.post(INBOUND_URL.replace(PUBLIC, ""), data={"From": "+8613912345678", "Body": "TD"},
                         headers={"X-Twilio-Signature": "x"})
    assert forged.status_code == 403 and db.session.scalar(select(func.count()).select_from(SmsOptOut)) == 0


# --- dispatching -------------------------------------------------------------------------

def test_thirty_percent_transient_failures_still_deliver_each_message_exactly_once(app, client, world, fake):
    phones = [f"139000000{i:02d}" for i in range(20)]
    for i, phone in enumerate(phones):
        patient(client, world, phone, birth=dt.date(1950, 1, 1) + dt.timedelta(days=i), name=f"居民{i}")
    plan(app)
    fake.transient_rate = 0.3
    for _ in range(30):
        run(app)
        if not rows(status="planned"):
            break
        clock.advance(dt.timedelta(minutes=10))
    assert sorted(m["to"] for m in fake.sent) == sorted("+86" + p for p in phones)
    assert all(m.status == "sent" for m in rows())
    retried = [m for m in rows() if m.attempts > 1]
    assert retried and {m.error_code for m in retried} <= {"HTTP_503", "HTTP_429"}
    assert len(fake.requests) > len(fake.sent)  # failures really happened


def test_permanent_failures_fail_at_once_and_21610_opts_the_number_out(app, client, world, fake):
    patient(client, world, "13912345601", birth=dt.date(1950, 1, 1))
    patient(client, world, "13912345602", birth=dt.date(1951, 1, 1))
    fake.permanent["+8613912345601"] = 21211
    fake.permanent["+8613912345602"] = 21610
    plan(app)
    result = run(app)
    assert (result.sent, result.failed, result.retried) == (0, 2, 0)
    assert {(m.recipient, m.status, m.error_code, m.attempts) for m in rows()} == {
        ("+8613912345601", "failed", "21211", 1), ("+8613912345602", "failed", "21610", 1)}
    assert db.session.scalars(select(SmsOptOut.phone)).all() == ["13912345602"]
    clock.advance(dt.timedelta(hours=1))
    run(app)
    assert len([r for r in fake.requests if r["method"] == "POST"]) == 2  # never retried


def test_a_crash_after_the_provider_call_is_reconciled_not_resent(app, client, world, fake, monkeypatch):
    patient(client, world, "13912345678")
    plan(app)
    original = Dispatcher._mark_sent

    def crash(self, *args, **kwargs):
        raise KeyboardInterrupt("process killed between the provider call and the commit")

    monkeypatch.setattr(Dispatcher, "_mark_sent", crash)
    with pytest.raises(KeyboardInterrupt):
        run(app)
    db.session.rollback()
    monkeypatch.setattr(Dispatcher, "_mark_sent", original)
    assert len(fake.sent) == 1 and rows()[0].status == "sending"
    run(app)  # too early: the row is left alone
    assert rows()[0].status == "sending" and len(fake.sent) == 1
    clock.advance(dt.timedelta(minutes=6))
    result = run(app)
    assert result.reconciled == 1
    [row] = rows()
    assert (row.status, row.provider_message_id) == ("sent", fake.sent[0]["sid"])
    assert len(fake.sent) == 1


def test_a_crash_before_the_provider_call_is_retried_once(app, client, world, fake, monkeypatch):
    patient(client, world, "13912345678")
    plan(app)
    monkeypatch.setattr(Dispatcher, "_deliver", lambda self, row, result: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        run(app)
    db.session.rollback()
    monkeypatch.undo()
    assert rows()[0].status == "sending" and fake.sent == []
    clock.advance(dt.timedelta(minutes=6))
    run(app)
    assert [m["to"] for m in fake.sent] == ["+8613912345678"] and rows()[0].status == "sent"


def test_quiet_hours_hold_messages_until_the_morning(app, client, world, fake):
    patient(client, world, "13912345678")
    clock.advance(dt.timedelta(hours=12))  # 22:00
    plan(app)
    result = run(app)
    assert result.quiet and fake.sent == [] and rows()[0].status == "planned"
    clock.advance(dt.timedelta(hours=9, minutes=59))  # 07:59 next day
    assert run(app).quiet and fake.sent == []
    clock.advance(dt.timedelta(minutes=1))  # 08:00
    assert run(app).sent == 1 and len(fake.sent) == 1
    reconfigure(app, QUIET_HOURS="")  # empty disables


def test_daily_cap_and_one_reminder_of_a_kind_per_day(app, client, world, fake):
    reconfigure(app, SMS_DAILY_CAP_PER_RESIDENT=1)
    r = patient(client, world, "13912345678")
    contract = make_contract(r.id, world.team_a)
    contract.ends_on = dt.date(2026, 3, 30)
    db.session.commit()
    result = plan(app)
    assert result.by_kind == {"followup_due": 1, "contract_ending": 1}
    assert run(app).sent == 1
    deferred = rows(status="planned")
    assert len(deferred) == 1 and deferred[0].status_reason == "daily_cap"
    assert deferred[0].next_attempt_at == dt.datetime(2026, 3, 3, 0, 0, tzinfo=dt.timezone.utc)  # 08:00 local
    clock.advance(dt.timedelta(days=1))
    assert run(app).sent == 1 and len(fake.sent) == 2


def test_appointment_reminders_timing_staleness_and_session_cancellation(app, client, world, fake):
    doctor = login(client, "doctor_a")
    r = make_resident(world.thc_a, phone="13912345678")
    wed = client.post("/api/v1/slots", headers=doctor, json={
        "kind": "round", "round_point_id": 1, "starts_at": "2026-03-04T09:00:00+08:00",
        "ends_at": "2026-03-04T11:00:00+08:00", "capacity": 5}).get_json()
    today = client.post("/api/v1/slots", headers=doctor, json={
        "kind": "clinic", "starts_at": "2026-03-02T15:00:00+08:00", "ends_at": "2026-03-02T16:00:00+08:00",
        "capacity": 5}).get_json()
    me = resident_headers(r.id)
    a_wed = client.post("/api/v1/appointments", json={"slot_id": wed["id"]}, headers=me).get_json()
    client.post("/api/v1/appointments", json={"slot_id": today["id"]}, headers=me)
    run(app)  # the dispatch tick plans the reminders of the next 36 hours
    [same_day] = rows(kind="appointment_reminder")
    assert same_day.next_attempt_at == dt.datetime(2026, 3, 2, 5, 0, tzinfo=dt.timezone.utc)  # 13:00, 2 h before
    assert "东镇家庭医生一队" in same_day.text and same_day.text.startswith("【青禾县卫生院】")
    clock.advance(dt.timedelta(hours=3))  # 13:00
    run(app)
    assert [m["body"] for m in fake.sent] == [same_day.text]
    clock.advance(dt.timedelta(hours=21))  # Tuesday 10:00: Wednesday's booking is within reach
    run(app)
    [wed_reminder] = rows(kind="appointment_reminder", subject_id=a_wed["id"])
    assert wed_reminder.next_attempt_at == dt.datetime(2026, 3, 3, 10, 0, tzinfo=dt.timezone.utc)  # 18:00
    assert "东村巡诊点" in wed_reminder.text
    # The resident cancels the Wednesday booking: its reminder is cancelled, not sent.
    client.post(f"/api/v1/appointments/{a_wed['id']}/cancel", json={}, headers=me)
    clock.advance(dt.timedelta(hours=8))  # Tuesday 18:00
    run(app)
    assert rows(subject_id=a_wed["id"], kind="appointment_reminder")[0].status == "cancelled"
    assert len(fake.sent) == 1
    # A session cancelled with bookings on it tells its residents.
    thu = client.post("/api/v1/slots", headers=doctor, json={
        "kind": "clinic", "starts_at": "2026-03-05T09:00:00+08:00", "ends_at": "2026-03-05T11:00:00+08:00",
        "capacity": 5}).get_json()
    client.post("/api/v1/appointments", json={"slot_id": thu["id"]}, headers=me)
    client.post(f"/api/v1/slots/{thu['id']}/cancel", json={"reason": "医生外出培训"}, headers=doctor)
    run(app)
    assert "因故取消" in fake.sent[-1]["body"] and len(rows(kind="session_cancelled")) == 1


def test_wechat_subscription_is_used_first_and_refusal_falls_back_to_sms(app, client, world, fake):
    with FakeWechat() as wx:
        reconfigure(app, WECHAT_API_BASE=wx.base_url, WECHAT_TEMPLATE_IDS={"followup_due": "tmpl-followup"})
        app.extensions.pop("wechat_channel", None)
        linked = patient(client, world, "13912345601", birth=dt.date(1950, 1, 1))
        refused = patient(client, world, "13912345602", birth=dt.date(1951, 1, 1))
        for resident, openid in ((linked, "o-linked"), (refused, "o-refused")):
            resident.row.wechat_openid = openid
        db.session.commit()
        wx.refuse_openids.add("o-refused")
        for resident in (linked, refused):
            resp = client.post("/api/v1/me/wechat-subscriptions", json={"template_id": "tmpl-followup"},
                               headers=resident_headers(resident.id))
            assert resp.status_code == 201, resp.get_json()
        unlinked = make_resident(world.thc_a, phone="13912345603")
        no_link = client.post("/api/v1/me/wechat-subscriptions", json={"template_id": "tmpl-followup"},
                              headers=resident_headers(unlinked.id))
        assert no_link.status_code == 409 and no_link.get_json()["code"] == "WECHAT_NOT_LINKED"
        plan(app)
        assert run(app).sent == 2
        by_resident = {m.resident_id: m for m in rows()}
        assert (by_resident[linked.id].channel, by_resident[linked.id].status) == ("wechat", "sent")
        assert [(s["touser"], s["template_id"]) for s in wx.subscribe_sent] == [("o-linked", "tmpl-followup")]
        assert (by_resident[refused.id].channel, by_resident[refused.id].error_code) == ("sms", "WECHAT_FALLBACK")
        assert [m["to"] for m in fake.sent] == ["+8613912345602"]
        assert db.session.scalar(select(func.count()).select_from(WechatSubscription).where(
            WechatSubscription.used_at.is_(None))) == 0
        app.extensions.pop("wechat_channel", None)


# --- admin views and commands ----------------------------------------------------------------

def test_admin_lists_messages_and_delivery_stats_within_scope(app, client, world, fake):
    patient(client, world, "13912345601", birth=dt.date(1950, 1, 1))
    patient(client, world, "13912345602", birth=dt.date(1951, 1, 1))
    fake.permanent["+8613912345602"] = 21211
    plan(app)
    run(app)
    sent = rows(status="sent")[0]
    signed_post(client, fake, STATUS_URL, fake.status_callback_request(sent.provider_message_id, "delivered",
                                                                        STATUS_URL))
    admin = login(client, "admin_a")
    listed = client.get("/api/v1/messages", headers=admin).get_json()
    assert listed["total"] == 2
    assert {(m["status"], m["error_code"], m["recipient"]) for m in listed["items"]} == {
        ("delivered", None, "139****5601"), ("failed", "21211", "139****5602")}
    failed = client.get("/api/v1/messages", query_string={"status": "failed"}, headers=admin).get_json()
    assert [m["error_code"] for m in failed["items"]] == ["21211"]
    stats = client.get("/api/v1/messages/stats", headers=admin).get_json()
    assert stats["days"] == [{"date": "2026-03-02", "sent": 1, "delivered": 1, "failed": 1,
                              "failed_by_error_code": {"21211": 1}, "wechat": 0, "delivery_rate": 1.0}]
    make_staff("admin_b", "admin", world.community, institution=world.thc_b)
    db.session.commit()
    other = login(client, "admin_b")
    assert client.get("/api/v1/messages", headers=other).get_json()["total"] == 0
    assert client.get("/api/v1/messages/stats", headers=other).get_json()["days"] == []
    assert client.get("/api/v1/messages", headers=login(client, "doctor_a")).status_code == 403


def test_cli_plan_and_dispatch(app, client, world, fake):
    patient(client, world, "13912345678")
    runner = app.test_cli_runner()
    out = runner.invoke(args=["reminders", "plan", "--date", "2026-03-02"])
    assert out.exit_code == 0, out.output
    assert "planned 1" in out.output
    again = runner.invoke(args=["reminders", "plan", "--date", "2026-03-02"])
    assert "planned 0" in again.output
    sent = runner.invoke(args=["sms", "dispatch", "--once"])
    assert sent.exit_code == 0 and "sent 1" in sent.output, sent.output
    assert len(fake.sent) == 1



def test_contract_reminders_at_30_and_7_days_stop_once_renewed(app, client, world, fake):
    r = make_resident(world.thc_a, phone="13912345678")
    contract = make_contract(r.id, world.team_a)
    contract.ends_on = dt.date(2026, 4, 1)  # 30 days ahead
    db.session.commit()
    assert plan(app).by_kind == {"contract_ending": 1}
    [row] = rows()
    assert row.dedupe_key == f"contract_ending:{contract.id}:2026-04-01:30"
    assert row.text == "【青禾县卫生院】您的家庭医生签约服务将于4月1日到期，如需续约请联系您的家庭医生团队。"
    # The resident renews before the message goes out: it is cancelled, and no 7-day reminder follows.
    renewal = make_contract(r.id, world.team_a, status="scheduled")
    renewal.renewed_from_id = contract.id
    db.session.commit()
    assert plan(app).cancelled == 1
    assert (rows()[0].status, rows()[0].status_reason) == ("cancelled", "contract_renewed_or_ended")
    clock.advance(dt.timedelta(days=23))
    assert plan(app).planned == 0
    run(app)
    assert fake.sent == []


def test_a_batch_of_only_deferred_rows_does_not_stop_the_run(app, client, world, fake):
    reconfigure(app, SMS_DAILY_CAP_PER_RESIDENT=1, SMS_BATCH_SIZE=1)
    a = patient(client, world, "13912345601", birth=dt.date(1950, 1, 1))
    b = make_resident(world.thc_a, phone="13912345602")
    for r in (a, b):
        contract = make_contract(r.id, world.team_a)
        contract.ends_on = dt.date(2026, 3, 30)
    db.session.commit()
    plan(app)
    assert [(m.resident_id, m.kind) for m in rows()] == [
        (a.id, "followup_due"), (a.id, "contract_ending"), (b.id, "contract_ending")]
    result = run(app)
    assert (result.sent, result.deferred) == (2, 1)
    assert sorted(m["to"] for m in fake.sent) == ["+8613912345601", "+8613912345602"]
