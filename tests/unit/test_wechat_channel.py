"""WechatSubscribeChannel against the local fake WeChat server over real HTTP."""
from __future__ import annotations

import datetime as dt
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.reminders.channels.wechat import WechatSendError, WechatSubscribeChannel
from tests.fakes.wechat import FakeWechat

T0 = dt.datetime(2024, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
TEMPLATE = "tmpl-followup-001"
DATA = {"thing1": "高血压随访", "time2": "2024-03-05 09:00", "thing3": "城关镇卫生院"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, at: dt.datetime = T0):
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


@pytest.fixture
def fake():
    with FakeWechat() as server:
        yield server


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def channel(fake, clock):
    return WechatSubscribeChannel(api_base=fake.base_url, app_id=fake.app_id, app_secret=fake.app_secret,
                                  timeout_seconds=2, clock=clock)


def test_send_posts_the_documented_body_and_returns_msgid(fake, channel):
    msgid = channel.send_subscribe("openid-abc", TEMPLATE, DATA, page="pages/followup/index?id=7")
    assert isinstance(msgid, str) and msgid.isdigit()
    assert fake.subscribe_sent == [{
        "touser": "openid-abc",
        "template_id": TEMPLATE,
        "data": {"thing1": {"value": "高血压随访"}, "time2": {"value": "2024-03-05 09:00"},
                 "thing3": {"value": "城关镇卫生院"}},
        "page": "pages/followup/index?id=7",
    }]
    token_req = next(r for r in fake.requests if r["path"] == "/cgi-bin/token")
    assert token_req["params"] == {"grant_type": "client_credential", "appid": "wx-demo-appid",
                                   "secret": "wx-demo-secret"}
    send_req = fake.requests[-1]
    assert send_req["path"] == "/cgi-bin/message/subscribe/send"
    assert send_req["params"] == {"access_token": "fake-token-1"}
    assert send_req["body"]["miniprogram_state"] == "formal" and send_req["body"]["lang"] == "zh_CN"


def test_page_is_optional(fake, channel):
    channel.send_subscribe("openid-abc", TEMPLATE, {"thing1": "x"})
    assert fake.subscribe_sent[0]["page"] is None
    assert "page" not in fake.requests[-1]["body"]


def test_token_is_fetched_once_for_two_sends(fake, channel):
    first = channel.send_subscribe("openid-a", TEMPLATE, DATA)
    second = channel.send_subscribe("openid-b", TEMPLATE, DATA)
    assert first != second
    assert fake.tokens_issued == 1
    assert [m["touser"] for m in fake.subscribe_sent] == ["openid-a", "openid-b"]


def test_token_is_refreshed_five_minutes_before_it_expires(fake, channel, clock):
    channel.send_subscribe("openid-a", TEMPLATE, DATA)
    clock.at = T0 + dt.timedelta(seconds=7200 - 301)
    channel.send_subscribe("openid-a", TEMPLATE, DATA)
    assert fake.tokens_issued == 1
    clock.at = T0 + dt.timedelta(seconds=7200 - 300)
    channel.send_subscribe("openid-a", TEMPLATE, DATA)
    assert fake.tokens_issued == 2
    assert fake.requests[-1]["params"] == {"access_token": "fake-token-2"}


def test_invalid_token_is_refetched_and_the_send_retried_once(fake, channel):
    channel.send_subscribe("openid-a", TEMPLATE, DATA)
    fake.expire_tokens()
    channel.send_subscribe("openid-b", TEMPLATE, DATA)
    assert fake.tokens_issued == 2
    assert [m["touser"] for m in fake.subscribe_sent] == ["openid-a", "openid-b"]
    sends = [r for r in fake.requests if r["path"] == "/cgi-bin/message/subscribe/send"]
    assert [r["params"]["access_token"] for r in sends] == ["fake-token-1", "fake-token-1", "fake-token-2"]


def test_refused_subscription_falls_back_to_sms(fake, channel):
    fake.refuse_openids.add("openid-no")
    with pytest.raises(WechatSendError) as info:
        channel.send_subscribe("openid-no", TEMPLATE, DATA)
    err = info.value
    assert err.code == "43101" and err.errcode == 43101
    assert err.transient is False and err.fallback_to_sms is True and err.user_refused is True
    assert fake.subscribe_sent == []


def test_system_busy_is_transient(fake, channel):
    fake.fail_next_send(1, errcode=-1)
    with pytest.raises(WechatSendError) as info:
        channel.send_subscribe("openid-a", TEMPLATE, DATA)
    assert info.value.code == "-1" and info.value.transient is True and info.value.fallback_to_sms is False
    assert fake.subscribe_sent == []
    channel.send_subscribe("openid-a", TEMPLATE, DATA)  # the retry later goes through
    assert len(fake.subscribe_sent) == 1


def test_rate_limit_is_transient(fake, channel):
    fake.fail_next_send(1, errcode=45009)
    with pytest.raises(WechatSendError) as info:
        channel.send_subscribe("openid-a", TEMPLATE, DATA)
    assert info.value.code == "45009" and info.value.transient is True


def test_bad_template_data_is_permanent(fake, channel):
    fake.fail_next_send(1, errcode=47003)
    with pytest.raises(WechatSendError) as info:
        channel.send_subscribe("openid-a", TEMPLATE, DATA)
    assert info.value.code == "47003" and info.value.transient is False and info.value.fallback_to_sms is True


def test_http_5xx_is_transient(fake, channel):
    fake.fail_next_send(1, http_status=503)
    with pytest.raises(WechatSendError) as info:
        channel.send_subscribe("openid-a", TEMPLATE, DATA)
    assert info.value.code == "HTTP_503" and info.value.transient is True


def test_bad_app_secret_raises_a_permanent_token_error(fake, clock):
    channel = WechatSubscribeChannel(api_base=fake.base_url, app_id=fake.app_id, app_secret="wrong",
                                     timeout_seconds=2, clock=clock)
    with pytest.raises(WechatSendError) as info:
        channel.send_subscribe("openid-a", TEMPLATE, DATA)
    err = info.value
    assert err.code == "40125" and err.stage == "token" and err.transient is False
    assert "invalid appsecret" in str(err)
    assert fake.tokens_issued == 0 and fake.subscribe_sent == []


def test_bad_app_id_raises_40013(fake, clock):
    channel = WechatSubscribeChannel(api_base=fake.base_url, app_id="wx-other", app_secret=fake.app_secret,
                                     clock=clock)
    with pytest.raises(WechatSendError) as info:
        channel.send_subscribe("openid-a", TEMPLATE, DATA)
    assert info.value.code == "40013" and info.value.stage == "token"


def test_connection_refused_is_transient():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = WechatSubscribeChannel(api_base=f"http://127.0.0.1:{port}", app_id="a", app_secret="s",
                                     timeout_seconds=1)
    with pytest.raises(WechatSendError) as info:
        channel.send_subscribe("openid-a", TEMPLATE, DATA)
    assert info.value.code == "CONNECTION" and info.value.transient is True and info.value.stage == "token"


def test_slow_reply_is_a_transient_timeout(fake, clock):
    channel = WechatSubscribeChannel(api_base=fake.base_url, app_id=fake.app_id, app_secret=fake.app_secret,
                                     timeout_seconds=0.2, clock=clock)
    fake.send_delay = 0.5
    with pytest.raises(WechatSendError) as info:
        channel.send_subscribe("openid-a", TEMPLATE, DATA)
    assert info.value.code == "TIMEOUT" and info.value.transient is True and info.value.stage == "send"


def test_concurrent_sends_share_one_token(fake, channel):
    with ThreadPoolExecutor(max_workers=8) as pool:
        msgids = list(pool.map(lambda i: channel.send_subscribe(f"openid-{i}", TEMPLATE, DATA), range(16)))
    assert fake.tokens_issued == 1
    assert len(set(msgids)) == 16 and len(fake.subscribe_sent) == 16
