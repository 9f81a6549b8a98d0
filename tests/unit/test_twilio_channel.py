"""TwilioSmsChannel driven through the real Twilio SDK against FakeTwilio (real HTTP on 127.0.0.1)."""
from __future__ import annotations

import datetime as dt
import socket
import time
from zoneinfo import ZoneInfo

import pytest
from twilio.request_validator import RequestValidator

from services.reminders.channels import SendResult
from services.reminders.channels.twilio import SendError, SentMessage, TwilioSmsChannel
from tests.fakes.twilio import DEFAULT_FROM, FakeTwilio

TO = "+8613800138000"
OTHER = "+8613900139000"
STATUS_URL = "https://clinic.example.com/webhooks/twilio/status"
SERVICE_SID = "MG" + "a1" * 16
UTC = dt.timezone.utc


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Any name lookup other than loopback fails the test: the SDK must never reach api.twilio.com."""
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"test tried to resolve {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


def make_channel(fake: FakeTwilio, **overrides) -> TwilioSmsChannel:
    settings = {
        "account_sid": fake.account_sid,
        "auth_token": fake.auth_token,
        "from_number": DEFAULT_FROM,
        "api_base": fake.base_url,
        "timeout_seconds": 2,
    }
    settings.update(overrides)
    return TwilioSmsChannel(**settings)


def send_error(channel: TwilioSmsChannel, to: str = TO, text: str = "hello") -> SendError:
    with pytest.raises(SendError) as info:
        channel.send_sms(to, text)
    return info.value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Clock:
    def __init__(self, at: dt.datetime):
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


# ---- sending ------------------------------------------------------------------


def test_send_creates_one_message_with_exact_fields(fake):
    channel = make_channel(fake, status_callback_url=STATUS_URL)
    text = "【家庭医生】王阿姨您好，明天上午9点请来社区卫生服务中心复查血压。"

    result = channel.send_sms(TO, text)

    assert channel.name == "twilio"
    assert len(fake.sent) == 1
    msg = fake.sent[0]
    assert result == SendResult(provider_message_id=msg["sid"], status="queued")
    assert msg["sid"].startswith("SM") and len(msg["sid"]) == 34
    assert (msg["to"], msg["from"], msg["body"], msg["status_callback"]) == (TO, DEFAULT_FROM, text, STATUS_URL)
    assert msg["messaging_service_sid"] is None
    request = fake.requests[-1]
    assert request["method"] == "POST"
    assert request["path"] == f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    assert request["params"] == {"To": TO, "From": DEFAULT_FROM, "Body": text, "StatusCallback": STATUS_URL}


def test_send_without_status_callback_omits_the_parameter(fake):
    make_channel(fake).send_sms(TO, "hi")
    assert "StatusCallback" not in fake.requests[-1]["params"]
    assert fake.sent[0]["status_callback"] is None


def test_send_through_messaging_service(fake):
    channel = make_channel(fake, from_number=None, messaging_service_sid=SERVICE_SID)

    result = channel.send_sms(TO, "reminder")

    msg = fake.sent[0]
    assert result.provider_message_id == msg["sid"]
    assert result.status == "accepted"  # what Twilio answers before the service picks a sender
    assert msg["from"] is None and msg["messaging_service_sid"] == SERVICE_SID
    assert fake.requests[-1]["params"] == {"To": TO, "MessagingServiceSid": SERVICE_SID, "Body": "reminder"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"from_number": None, "messaging_service_sid": None},
        {"from_number": DEFAULT_FROM, "messaging_service_sid": SERVICE_SID},
        {"auth_token": ""},
        {"timeout_seconds": 0},
        {"api_base": "127.0.0.1:5123"},
    ],
)
def test_constructor_rejects_bad_settings(fake, kwargs):
    with pytest.raises(ValueError):
        make_channel(fake, **kwargs)


# ---- error classification -----------------------------------------------------


def test_wrong_auth_token_is_permanent(fake):
    err = send_error(make_channel(fake, auth_token="wrong-token"))

    assert (err.code, err.transient, err.opt_out, err.http_status) == ("20003", False, False, 401)
    assert fake.sent == []


def test_503_is_transient_and_nothing_is_sent_then_retry_succeeds(fake):
    channel = make_channel(fake)
    fake.fail_next(1, status=503)

    err = send_error(channel)
    assert (err.code, err.transient, err.http_status) == ("HTTP_503", True, 503)
    assert fake.sent == []

    result = channel.send_sms(TO, "hello")
    assert [m["sid"] for m in fake.sent] == [result.provider_message_id]


@pytest.mark.parametrize(("code", "expected"), [(None, "HTTP_429"), (20429, "20429")])
def test_429_is_transient(fake, code, expected):
    fake.fail_next(1, status=429, code=code)

    err = send_error(make_channel(fake))

    assert (err.code, err.transient, err.http_status) == (expected, True, 429)
    assert fake.sent == []


@pytest.mark.parametrize(("code", "opt_out"), [(21211, False), (21614, False), (21610, True)])
def test_permanent_twilio_errors(fake, code, opt_out):
    fake.permanent[OTHER] = code
    channel = make_channel(fake)

    err = send_error(channel, to=OTHER)

    assert (err.code, err.transient, err.opt_out, err.http_status) == (str(code), False, opt_out, 400)
    assert str(code) in str(err)
    assert fake.sent == []
    channel.send_sms(TO, "other numbers still work")
    assert [m["to"] for m in fake.sent] == [TO]


def test_connection_refused_is_transient(fake):
    err = send_error(make_channel(fake, api_base=f"http://127.0.0.1:{free_port()}"))

    assert (err.code, err.transient, err.opt_out) == ("CONNECTION", True, False)


def test_timeout_is_transient_and_ambiguous(fake):
    """Twilio may accept a message whose answer we never saw; find_sent is how the dispatcher finds out."""
    fake.latency = 0.3
    channel = make_channel(fake, timeout_seconds=0.1)
    since = dt.datetime.now(UTC) - dt.timedelta(seconds=1)

    err = send_error(channel, text="timed out")
    assert (err.code, err.transient) == ("TIMEOUT", True)

    deadline = time.monotonic() + 2
    while not fake.sent and time.monotonic() < deadline:
        time.sleep(0.02)
    fake.latency = 0
    assert [m["body"] for m in fake.sent] == ["timed out"]
    assert [m.sid for m in make_channel(fake).find_sent(TO, since)] == [fake.sent[0]["sid"]]


def test_seeded_transient_rate_never_records_failed_attempts(fake):
    fake.transient_rate = 0.3
    channel = make_channel(fake)
    codes, sids = [], []
    for i in range(20):
        try:
            sids.append(channel.send_sms(TO, f"m{i}").provider_message_id)
        except SendError as err:
            assert err.transient
            codes.append(err.code)

    assert codes and set(codes) <= {"HTTP_503", "HTTP_429"}
    assert [m["sid"] for m in fake.sent] == sids
    assert len(sids) + len(codes) == 20
    with FakeTwilio(seed=0) as again:  # same seed, same failure pattern
        again.transient_rate = 0.3
        other = make_channel(again)
        failures = 0
        for i in range(20):
            try:
                other.send_sms(TO, f"m{i}")
            except SendError:
                failures += 1
    assert failures == len(codes)


# ---- reconciliation ---------------------------------------------------------------


def test_find_sent_lists_only_this_number_since_the_given_time(fake):
    t0 = dt.datetime(2024, 3, 5, 8, 0, tzinfo=UTC)
    fake.clock = Clock(t0)
    channel = make_channel(fake)
    channel.send_sms(TO, "old")
    fake.clock.at = t0 + dt.timedelta(hours=2)
    new = channel.send_sms(TO, "new")
    channel.send_sms(OTHER, "someone else")

    since = t0 + dt.timedelta(hours=1)
    found = channel.find_sent(TO, since)

    assert found == [
        SentMessage(sid=new.provider_message_id, to=TO, body="new", status="queued", date_created=t0 + dt.timedelta(hours=2))
    ]
    request = fake.requests[-1]
    assert request["method"] == "GET"
    assert request["params"] == {"To": TO, "DateSent>": "2024-03-05T09:00:00Z"}
    # An aware time in another zone means the same instant (the SDK itself would not convert it).
    assert channel.find_sent(TO, since.astimezone(ZoneInfo("Asia/Shanghai"))) == found
    old = SentMessage(sid=fake.sent[0]["sid"], to=TO, body="old", status="queued", date_created=t0)
    assert channel.find_sent(TO, t0) == found + [old]  # newest first, like Twilio


def test_find_sent_rejects_naive_datetimes(fake):
    with pytest.raises(ValueError):
        make_channel(fake).find_sent(TO, dt.datetime(2024, 3, 5, 8, 0))


def test_find_sent_follows_pages_through_the_fake(fake):
    channel = make_channel(fake)
    for i in range(5):
        channel.send_sms(TO, f"m{i}")

    rows = channel.client.messages.list(to=TO, page_size=2)

    assert sorted(r.body for r in rows) == ["m0", "m1", "m2", "m3", "m4"]
    assert [r["params"].get("Page") for r in fake.requests if r["method"] == "GET"] == [None, "1", "2"]


def test_find_sent_with_wrong_token_raises_permanent_send_error(fake):
    with pytest.raises(SendError) as info:
        make_channel(fake, auth_token="wrong").find_sent(TO, dt.datetime.now(UTC))
    assert (info.value.code, info.value.transient, info.value.http_status) == ("20003", False, 401)


# ---- signed webhooks --------------------------------------------------------------


def test_status_callback_signature_validates_and_detects_tampering(fake):
    channel = make_channel(fake, status_callback_url=STATUS_URL)
    sid = channel.send_sms(TO, "hi").provider_message_id
    validator = RequestValidator(fake.auth_token)

    params, signature = fake.status_callback_request(sid, "delivered", STATUS_URL, fake.auth_token)

    assert params["MessageSid"] == sid and params["MessageStatus"] == "delivered"
    assert (params["To"], params["From"], params["AccountSid"]) == (TO, DEFAULT_FROM, fake.account_sid)
    assert "ErrorCode" not in params
    assert validator.validate(STATUS_URL, params, signature)
    assert not validator.validate(STATUS_URL, {**params, "MessageStatus": "failed"}, signature)
    assert not RequestValidator("other-token").validate(STATUS_URL, params, signature)
    assert channel.client.messages(sid).fetch().status == "delivered"  # the fake moved the message on


def test_failed_status_callback_carries_error_code(fake):
    sid = make_channel(fake).send_sms(TO, "hi").provider_message_id

    params, signature = fake.status_callback_request(sid, "undelivered", STATUS_URL, fake.auth_token, error_code=30005)

    assert params["ErrorCode"] == "30005"
    assert RequestValidator(fake.auth_token).validate(STATUS_URL, params, signature)


def test_inbound_sms_signature(fake):
    url = "https://clinic.example.com/webhooks/twilio/inbound"
    params, signature = fake.inbound_request(TO, "STOP", url, fake.auth_token)

    assert (params["From"], params["To"], params["Body"]) == (TO, DEFAULT_FROM, "STOP")
    assert params["MessageSid"].startswith("SM") and params["AccountSid"] == fake.account_sid
    assert RequestValidator(fake.auth_token).validate(url, params, signature)
    assert not RequestValidator(fake.auth_token).validate(url, {**params, "Body": "START"}, signature)


def test_without_api_base_the_sdk_targets_api_twilio_com(fake):
    """Shows api_base is what keeps every other test off the internet (the guard stops the lookup)."""
    channel = make_channel(fake, api_base=None)

    with pytest.raises(AssertionError, match="api.twilio.com"):
        channel.send_sms(TO, "hi")
    assert fake.requests == []
