"""WeChat mini-program subscribe messages (订阅消息).

A resident who tapped "allow" on a subscribe prompt can be sent one message
per authorisation from the server. Sending needs an access token from the
client-credential endpoint; it is cached here until shortly before it expires.

Error classification (`WechatSendError`):

* transient (retry the WeChat send later): network timeouts and refused
  connections, HTTP 5xx and 429, an unreadable reply, errcode -1 (system
  busy), 45009 (API rate/quota limit), and an access token that is still
  refused after one refetch (another process refreshed it under us).
* permanent (do not retry WeChat; `fallback_to_sms` is True so the reminder
  still reaches the resident by SMS): 43101 (the resident refused or has no
  subscription left), 40003 (invalid openid), 40037 (invalid template_id),
  47003 (template data does not fit the template), 41030 (invalid page),
  credential errors from the token endpoint (40013 invalid appid, 40125
  invalid secret, 40164 IP not whitelisted), other HTTP 4xx, and any errcode
  not listed as transient.

Note that each call of /cgi-bin/token invalidates the previous token (after
a short overlap), so every process that holds its own channel fetches its own
token and may invalidate another's; the one refetch-and-retry on 40001/42001
absorbs that.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from typing import Any

import requests

from services.core import clock as service_clock

REFRESH_EARLY = dt.timedelta(minutes=5)
DEFAULT_TOKEN_TTL = 7200

TOKEN_INVALID_ERRCODES = frozenset({40001, 40014, 42001})  # invalid credential / invalid token / expired
TRANSIENT_ERRCODES = frozenset({-1, 45009})  # system busy / rate or quota limit
REFUSED_ERRCODE = 43101  # user refused, or no subscription left


class WechatSendError(Exception):
    """A subscribe message was not sent.

    `code` is the WeChat errcode as a string ("43101"), or "HTTP_<status>",
    "TIMEOUT", "CONNECTION", "NETWORK", "BAD_RESPONSE". `stage` says whether
    it happened while getting the access token ("token") or sending ("send").
    """

    def __init__(self, code: str, message: str, *, transient: bool, stage: str = "send",
                 errcode: int | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.transient = transient
        self.stage = stage
        self.errcode = errcode

    @property
    def fallback_to_sms(self) -> bool:
        """Permanent failures (refusal, bad openid/template/data, bad credentials)
        will not go away by retrying WeChat, so the reminder should go by SMS."""
        return not self.transient

    @property
    def user_refused(self) -> bool:
        """The resident has no subscription for this template (43101)."""
        return self.errcode == REFUSED_ERRCODE


class WechatSubscribeChannel:
    """Sends subscribe messages; one instance per process holds one cached token."""

    name = "wechat"

    def __init__(self, *, api_base: str, app_id: str, app_secret: str, timeout_seconds: float = 5,
                 clock: Callable[[], dt.datetime] | None = None, session: requests.Session | None = None,
                 miniprogram_state: str = "formal"):
        self._api_base = api_base.rstrip("/")
        self._app_id = app_id
        self._app_secret = app_secret
        self._timeout = timeout_seconds
        # services.core.clock.now is datetime.now(timezone.utc) unless a test froze it.
        self._clock = clock or service_clock.now
        self._session = session or requests.Session()
        self._miniprogram_state = miniprogram_state
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_refresh_at: dt.datetime | None = None

    # --- public --------------------------------------------------------------

    def send_subscribe(self, openid: str, template_id: str, data: dict[str, str],
                       page: str | None = None) -> str:
        """Send one subscribe message; returns WeChat's msgid as a string.

        Raises WechatSendError. A token WeChat calls invalid or expired is
        dropped, refetched and the send retried once.
        """
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": str(value)} for key, value in data.items()},
            "miniprogram_state": self._miniprogram_state,
            "lang": "zh_CN",
        }
        if page is not None:
            body["page"] = page
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")

        token = self._access_token()
        reply = self._send_once(token, payload)
        errcode = _errcode(reply)
        if errcode in TOKEN_INVALID_ERRCODES:
            self._drop_token(token)
            token = self._access_token()
            reply = self._send_once(token, payload)
            errcode = _errcode(reply)
            if errcode in TOKEN_INVALID_ERRCODES:
                raise WechatSendError(str(errcode), _errmsg(reply, "access_token 刷新后仍被拒绝"),
                                      transient=True, errcode=errcode)
        if errcode != 0:
            raise _errcode_error(errcode, reply, stage="send")
        msgid = reply.get("msgid")
        if msgid is None:
            raise WechatSendError("BAD_RESPONSE", "微信未返回 msgid", transient=True)
        return str(msgid)

    def invalidate_token(self) -> None:
        """Forget the cached token (e.g. after rotating the app secret)."""
        with self._lock:
            self._token = None
            self._token_refresh_at = None

    # --- token ---------------------------------------------------------------

    def _access_token(self) -> str:
        # Fetch under the lock: two concurrent fetches would invalidate each other.
        with self._lock:
            now = self._clock()
            if self._token is not None and self._token_refresh_at is not None and now < self._token_refresh_at:
                return self._token
            reply = self._request("GET", "/cgi-bin/token", stage="token", params={
                "grant_type": "client_credential", "appid": self._app_id, "secret": self._app_secret})
            errcode = _errcode(reply)
            token = reply.get("access_token")
            if errcode != 0 or not token:
                if errcode == 0:
                    raise WechatSendError("BAD_RESPONSE", "微信未返回 access_token", transient=True, stage="token")
                raise _errcode_error(errcode, reply, stage="token")
            try:
                ttl = int(reply.get("expires_in") or DEFAULT_TOKEN_TTL)
            except (TypeError, ValueError):
                ttl = DEFAULT_TOKEN_TTL
            lifetime = dt.timedelta(seconds=ttl)
            # Refresh 5 minutes early; a (test-sized) short token keeps half its life.
            early = REFRESH_EARLY if lifetime > 2 * REFRESH_EARLY else lifetime / 2
            self._token = str(token)
            self._token_refresh_at = now + lifetime - early
            return self._token

    def _drop_token(self, token: str) -> None:
        # Only drop the token that failed, not one another thread just fetched.
        with self._lock:
            if self._token == token:
                self._token = None
                self._token_refresh_at = None

    # --- HTTP ----------------------------------------------------------------

    def _send_once(self, token: str, payload: bytes) -> dict:
        return self._request("POST", "/cgi-bin/message/subscribe/send", stage="send",
                             params={"access_token": token}, data=payload,
                             headers={"Content-Type": "application/json; charset=utf-8"})

    def _request(self, method: str, path: str, *, stage: str, **kwargs: Any) -> dict:
        """One HTTP call; network and HTTP-level failures become WechatSendError."""
        try:
            resp = self._session.request(method, self._api_base + path, timeout=self._timeout, **kwargs)
        except requests.Timeout as exc:  # before ConnectionError: ConnectTimeout is both
            raise WechatSendError("TIMEOUT", f"微信接口超时: {exc}", transient=True, stage=stage) from exc
        except requests.ConnectionError as exc:
            raise WechatSendError("CONNECTION", f"无法连接微信接口: {exc}", transient=True, stage=stage) from exc
        except requests.RequestException as exc:
            raise WechatSendError("NETWORK", f"微信接口请求失败: {exc}", transient=True, stage=stage) from exc
        if resp.status_code != 200:
            transient = resp.status_code >= 500 or resp.status_code == 429
            raise WechatSendError(f"HTTP_{resp.status_code}", f"微信接口返回 HTTP {resp.status_code}",
                                  transient=transient, stage=stage)
        # WeChat replies with Content-Type text/plain, so parse the text ourselves.
        try:
            reply = json.loads(resp.text)
        except ValueError as exc:
            raise WechatSendError("BAD_RESPONSE", "微信接口返回了无法解析的内容", transient=True,
                                  stage=stage) from exc
        if not isinstance(reply, dict):
            raise WechatSendError("BAD_RESPONSE", "微信接口返回了无法解析的内容", transient=True, stage=stage)
        return reply


def _errcode(reply: dict) -> int:
    try:
        return int(reply.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1


def _errmsg(reply: dict, default: str) -> str:
    return str(reply.get("errmsg") or default)


def _errcode_error(errcode: int, reply: dict, *, stage: str) -> WechatSendError:
    # Anything not known to be transient is permanent (on the token endpoint
    # that includes 40001, which there means a wrong secret, not a stale token).
    return WechatSendError(str(errcode), _errmsg(reply, "微信接口错误"), transient=errcode in TRANSIENT_ERRCODES,
                           stage=stage, errcode=errcode)
