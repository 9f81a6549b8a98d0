"""Twilio SMS channel: a thin wrapper over the official SDK (twilio.rest.Client).

Why a wrapper: the dispatcher needs one exception type that says whether a
failure is worth retrying (`SendError.transient`) and whether the recipient
opted out, and it needs a way to ask Twilio "did I already send this?" after a
crash (`find_sent`). Everything else is the SDK's own behaviour.

Delivery caveat: a TIMEOUT (and a CONNECTION error raised after the request
was written) is ambiguous -- Twilio may have accepted the message even though
we never saw the answer. Reconcile with `find_sent` before sending again.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from services.reminders.channels import SendResult

OPT_OUT_CODE = "21610"


class SendError(Exception):
    """A failed Twilio call, classified for the dispatcher's retry decision.

    `code` is Twilio's error code as a string ("21211") when Twilio gave one,
    else "HTTP_<status>", "TIMEOUT" or "CONNECTION".
    """

    def __init__(self, code: str, transient: bool, message: str, http_status: int | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.transient = transient
        self.message = message
        self.http_status = http_status

    @property
    def opt_out(self) -> bool:
        """The recipient replied STOP; never retry, and stop messaging them."""
        return self.code == OPT_OUT_CODE

    def __repr__(self) -> str:
        return f"SendError(code={self.code!r}, transient={self.transient}, message={self.message!r})"


@dataclass(frozen=True)
class SentMessage:
    sid: str
    to: str
    body: str
    status: str
    date_created: dt.datetime | None


class _RedirectingHttpClient(TwilioHttpClient):
    """Sends every SDK request to `api_base` instead of https://*.twilio.com.

    The rewrite happens at the last moment (after the SDK has applied edge /
    region hostnames and built absolute next-page URLs), so no request can
    slip through to the real API.
    """

    def __init__(self, api_base: str, **kwargs):
        super().__init__(**kwargs)
        base = urlsplit(api_base)
        if base.scheme not in ("http", "https") or not base.netloc:
            raise ValueError(f"api_base must be an absolute http(s) URL, got {api_base!r}")
        self._scheme = base.scheme
        self._netloc = base.netloc
        self._prefix = base.path.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        url = urlunsplit((self._scheme, self._netloc, self._prefix + parts.path, parts.query, parts.fragment))
        return super().request(method, url, *args, **kwargs)


class TwilioSmsChannel:
    """SmsChannel backed by Twilio Programmable Messaging."""

    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback_url: str | None = None,
        api_base: str | None = None,
        timeout_seconds: float = 10,
    ):
        if not account_sid or not auth_token:
            raise ValueError("account_sid and auth_token are required")
        if bool(from_number) == bool(messaging_service_sid):
            raise ValueError("give exactly one of from_number and messaging_service_sid")
        if timeout_seconds is None or timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self.account_sid = account_sid
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.status_callback_url = status_callback_url
        self.api_base = api_base
        if api_base:
            http_client: TwilioHttpClient = _RedirectingHttpClient(api_base, timeout=timeout_seconds)
        else:
            http_client = TwilioHttpClient(timeout=timeout_seconds)
        self.client = Client(account_sid, auth_token, http_client=http_client)

    def send_sms(self, to: str, text: str) -> SendResult:
        """Create one outbound message; raises SendError on any failure."""
        kwargs: dict = {"to": to, "body": text}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            kwargs["from_"] = self.from_number
        if self.status_callback_url:
            kwargs["status_callback"] = self.status_callback_url
        try:
            message = self.client.messages.create(**kwargs)
        except Exception as exc:
            error = _classify(exc)
            if error is None:
                raise
            raise error from exc
        return SendResult(provider_message_id=message.sid, status=message.status)

    def find_sent(self, to: str, since: dt.datetime) -> list[SentMessage]:
        """Messages to `to` that Twilio lists as sent at or after `since` (crash reconciliation).

        Uses Twilio's `DateSent>=` filter. Real Twilio sets date_sent only once
        a message leaves its queue, so a message still queued/accepted may not
        be listed yet; callers that need certainty should look again a little
        later. As a guard against the API filtering at day granularity, rows
        whose date_sent (or date_created when date_sent is empty) is before
        `since` (to the second) are dropped here. Matching on body is the
        caller's job.
        """
        if since.tzinfo is None:
            raise ValueError("find_sent() needs an aware datetime")
        # The SDK formats the datetime with strftime(...Z) without converting, so convert first.
        since_utc = since.astimezone(dt.timezone.utc).replace(microsecond=0)
        try:
            rows = self.client.messages.list(to=to, date_sent_after=since_utc)
        except Exception as exc:
            error = _classify(exc)
            if error is None:
                raise
            raise error from exc
        found = []
        for m in rows:
            stamp = m.date_sent or m.date_created
            if isinstance(stamp, dt.datetime) and stamp < since_utc:
                continue
            found.append(SentMessage(sid=m.sid, to=m.to, body=m.body, status=m.status, date_created=m.date_created))
        return found


def _http_error(status: int, code: object, message: str) -> SendError:
    transient = status >= 500 or status == 429
    # The SDK fills `code` with the HTTP status when Twilio's body had no code.
    if code is None or code == "" or code == status:
        code_str = f"HTTP_{status}"
    else:
        code_str = str(code)
    return SendError(code_str, transient, message, http_status=status)


def _classify(exc: BaseException) -> SendError | None:
    """Turn an SDK / requests exception into a SendError; None for anything else (re-raised as is)."""
    status = getattr(exc, "status", None)
    if isinstance(exc, TwilioException) and isinstance(status, int):
        # TwilioRestException (legacy error body) and TwilioServiceException (RFC 9457).
        message = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", "") or ""
        return _http_error(status, getattr(exc, "code", None), str(message))
    if isinstance(exc, TwilioException) and len(exc.args) >= 2 and hasattr(exc.args[1], "status_code"):
        # List pages answer a non-200 with a bare TwilioException("Unable to fetch page", response).
        response = exc.args[1]
        code = None
        message = str(exc.args[0])
        try:
            payload = json.loads(response.text)
            code = payload.get("code")
            message = payload.get("message") or message
        except (ValueError, AttributeError):
            pass
        return _http_error(int(response.status_code), code, message)
    if isinstance(exc, requests.exceptions.Timeout):
        # ConnectTimeout is also a ConnectionError; either way nothing useful came back.
        return SendError("TIMEOUT", True, str(exc))
    if isinstance(exc, requests.exceptions.ConnectionError):
        # A read timeout while streaming the body surfaces as ConnectionError(ReadTimeoutError).
        inner = exc.args[0] if exc.args else None
        if type(inner).__name__ == "ReadTimeoutError":
            return SendError("TIMEOUT", True, str(exc))
        return SendError("CONNECTION", True, str(exc))
    if isinstance(exc, requests.exceptions.RequestException):
        return SendError("CONNECTION", True, str(exc))
    return None
