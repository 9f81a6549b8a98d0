"""A local fake of Twilio's Messages REST API, served over real HTTP.

The real SDK talks to it (TwilioSmsChannel(api_base=fake.base_url)), so the
request format, Basic auth, error bodies and paging are exercised for real.
`fake.sent` is the log of messages Twilio accepted: later tests use it as the
proof of exactly-once delivery. Failures can be injected (fail_next,
transient_rate, permanent, latency), and signed webhook requests (status
callbacks, inbound SMS) can be produced for the app's webhook tests.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from twilio.request_validator import RequestValidator

from services.core import clock as app_clock

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "0" * 30 + "01"
DEFAULT_AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
DEFAULT_FROM = "+15005550006"

_MESSAGES_RE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MESSAGE_RE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")

ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    21211: "The 'To' number is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
}

# GSM 03.38 basic set (enough to decide 160- vs 70-character segments).
_GSM = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ!\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def rfc2822(value: dt.datetime) -> str:
    """Twilio's date format: 'Tue, 05 Mar 2024 08:00:00 +0000'."""
    return format_datetime(value.astimezone(dt.timezone.utc).replace(microsecond=0))


def num_segments(body: str) -> int:
    if all(ch in _GSM for ch in body):
        single, multi = 160, 153
    else:
        single, multi = 70, 67
    if len(body) <= single:
        return 1
    return -(-len(body) // multi)


def _parse_filter_date(value: str) -> tuple[dt.datetime, bool]:
    """Parse a DateSent filter value; returns (instant, is_whole_day)."""
    value = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        day = dt.date.fromisoformat(value)
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc), True
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed, False


class FakeTwilio:
    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        default_from: str = DEFAULT_FROM,
        seed: int = 0,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.default_from = default_from  # also the number a Messaging Service "picks" in callbacks
        self.clock = clock or app_clock.now  # follows services.core.clock.freeze by default
        self.lock = threading.Lock()
        self.sent: list[dict] = []  # accepted messages: sid, to, from, body, status_callback, created_at, ...
        self.requests: list[dict] = []  # every request: method, path, params
        self.permanent: dict[str, int] = {}  # To number -> Twilio error code (HTTP 400)
        self.transient_rate = 0.0
        self.latency = 0.0
        self.random = random.Random(seed)
        self._fail_queue: list[tuple[int, int | None]] = []
        self._statuses: dict[str, str] = {}  # sid -> current status (changed by callbacks / set_status)
        self._error_codes: dict[str, int | None] = {}
        self._transient_count = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self._handle("GET")

            def do_POST(self):  # noqa: N802
                self._handle("POST")

            def _handle(self, method):
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                if method == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    raw = self.rfile.read(length).decode() if length else ""
                    params.update({k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()})
                with fake.lock:
                    fake.requests.append({"method": method, "path": url.path, "params": dict(params)})
                if fake.latency:
                    time.sleep(fake.latency)
                status, body = fake._route(method, url.path, params, self.headers.get("Authorization"))
                self._send(status, body)

            def _send(self, status, body):
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    if status == 429:
                        self.send_header("Retry-After", "1")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test); Twilio would have kept the message too

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval keeps shutdown() (every test teardown) fast.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    # ---- set-up -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, n: int = 1, status: int = 503, code: int | None = None) -> None:
        """The next n create requests fail with `status` (and Twilio `code`, if given); nothing is recorded."""
        with self.lock:
            self._fail_queue.extend([(status, code)] * n)

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        """Move a message on (sent, delivered, failed...), as Twilio would over time."""
        with self.lock:
            self._find(sid)
            self._statuses[sid] = status
            self._error_codes[sid] = error_code

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # ---- webhook helpers ------------------------------------------------------

    def status_callback_request(
        self, sid: str, status: str, url: str, auth_token: str | None = None, error_code: int | None = None
    ) -> tuple[dict[str, str], str]:
        """(form params, X-Twilio-Signature) of the status callback Twilio would POST to `url`.

        Also moves the message to `status` here, so a later list/fetch agrees.
        ErrorCode is included for failed/undelivered (default 30003, unreachable handset).
        """
        with self.lock:
            msg = self._find(sid)
            if status in ("failed", "undelivered") and error_code is None:
                error_code = 30003
            self._statuses[sid] = status
            self._error_codes[sid] = error_code
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": msg["from"] or self.default_from,
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": msg["to"],
        }
        if msg.get("messaging_service_sid"):
            params["MessagingServiceSid"] = msg["messaging_service_sid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return params, self.sign(url, params, auth_token)

    def inbound_request(
        self, from_number: str, body: str, url: str, auth_token: str | None = None, to: str | None = None
    ) -> tuple[dict[str, str], str]:
        """(form params, X-Twilio-Signature) of an incoming SMS webhook (e.g. a patient replying STOP)."""
        sid = "SM" + uuid.uuid4().hex
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_number,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": str(num_segments(body)),
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to or self.default_from,
        }
        return params, self.sign(url, params, auth_token)

    def sign(self, url: str, params: dict[str, str], auth_token: str | None = None) -> str:
        return RequestValidator(auth_token or self.auth_token).compute_signature(url, params)

    # ---- request handling (called from server threads) -----------------------

    def _find(self, sid: str) -> dict:
        for msg in self.sent:
            if msg["sid"] == sid:
                return msg
        raise KeyError(sid)

    def _route(self, method: str, path: str, params: dict, authorization: str | None) -> tuple[int, dict]:
        list_match = _MESSAGES_RE.match(path)
        one_match = _MESSAGE_RE.match(path)
        match = list_match or one_match
        account = match.group("account") if match else None
        if not self._authorized(authorization):
            return 401, self._error(20003, 401)
        if account is None or account != self.account_sid:
            return 404, self._error(20404, 404)
        if list_match and method == "POST":
            return self._create(params)
        if list_match and method == "GET":
            return self._list(params)
        if one_match and method == "GET":
            with self.lock:
                try:
                    msg = self._find(one_match.group("sid"))
                except KeyError:
                    return 404, self._error(20404, 404)
                return 200, self._resource(msg, listed=True)
        return 405, {"code": 20004, "message": "Method not allowed", "more_info": "", "status": 405}

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.account_sid and password == self.auth_token

    @staticmethod
    def _error(code: int | None, status: int, message: str | None = None) -> dict:
        body: dict = {"message": message or ERROR_MESSAGES.get(code, "Error"), "status": status}
        if code is not None:
            # Without "code" the SDK reports the HTTP status as the code.
            body["code"] = code
            body["more_info"] = f"https://www.twilio.com/docs/errors/{code}"
        return body

    def _create(self, params: dict) -> tuple[int, dict]:
        with self.lock:
            if self._fail_queue:
                status, code = self._fail_queue.pop(0)
                return status, self._error(code, status, "Service unavailable (injected)")
            if self.transient_rate and self.random.random() < self.transient_rate:
                status = (503, 429)[self._transient_count % 2]
                self._transient_count += 1
                return status, self._error(None, status, "Transient failure (injected)")
            to = params.get("To", "")
            body = params.get("Body", "")
            from_ = params.get("From") or None
            service = params.get("MessagingServiceSid") or None
            if not to:
                return 400, self._error(21604, 400)
            if not body:
                return 400, self._error(21602, 400)
            if not from_ and not service:
                return 400, self._error(21603, 400)
            if to in self.permanent:
                return 400, self._error(self.permanent[to], 400)
            now = self.clock()
            msg = {
                "sid": "SM" + uuid.uuid4().hex,
                "to": to,
                "from": from_,
                "body": body,
                "status_callback": params.get("StatusCallback"),
                "messaging_service_sid": service,
                "created_at": now,
            }
            self.sent.append(msg)
            # Real Twilio answers "accepted" when a Messaging Service still has to pick the sender.
            self._statuses[msg["sid"]] = "queued" if from_ else "accepted"
            return 201, self._resource(msg, listed=False)

    def _resource(self, msg: dict, listed: bool) -> dict:
        sid = msg["sid"]
        created = rfc2822(msg["created_at"])
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        error_code = self._error_codes.get(sid)
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": msg["body"],
            "date_created": created,
            "date_updated": created,
            # Fake simplification: a message counts as sent the moment it was created, so
            # listings show date_sent = date_created; the create response itself says null.
            "date_sent": created if listed else None,
            "direction": "outbound-api",
            "error_code": error_code,
            "error_message": None,
            "from": msg["from"],
            "messaging_service_sid": msg["messaging_service_sid"],
            "num_media": "0",
            "num_segments": str(num_segments(msg["body"])),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": self._statuses.get(sid, "queued"),
            "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
            "to": msg["to"],
            "uri": f"{base}.json",
        }

    def _list(self, params: dict) -> tuple[int, dict]:
        try:
            page = int(params.get("Page", 0))
            page_size = max(1, min(1000, int(params.get("PageSize", 50))))
            filters = []
            for key in ("DateSent", "DateSent>", "DateSent<"):
                if params.get(key):
                    filters.append((key, *_parse_filter_date(params[key])))
        except ValueError as exc:
            return 400, {"code": 20001, "message": f"Invalid parameter: {exc}", "more_info": "", "status": 400}

        def keep(msg: dict) -> bool:
            if params.get("To") and msg["to"] != params["To"]:
                return False
            if params.get("From") and msg["from"] != params["From"]:
                return False
            sent_at = msg["created_at"].astimezone(dt.timezone.utc).replace(microsecond=0)  # date_sent = date_created
            for key, at, whole_day in filters:
                end = at + dt.timedelta(days=1) if whole_day else at
                if key == "DateSent>" and sent_at < at:  # "DateSent>=": on or after
                    return False
                if key == "DateSent<" and (sent_at >= end if whole_day else sent_at > at):  # on or before
                    return False
                if key == "DateSent" and not (at <= sent_at < end if whole_day else sent_at == at):
                    return False
            return True

        with self.lock:
            # Newest first, like Twilio.
            rows = [m for m in reversed(self.sent) if keep(m)]
            rows.sort(key=lambda m: m["created_at"], reverse=True)
            chunk = rows[page * page_size : (page + 1) * page_size]
            resources = [self._resource(m, listed=True) for m in chunk]

        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        query = {k: v for k, v in params.items() if k not in ("Page", "PageSize", "PageToken")}

        def page_uri(n: int) -> str:
            return base + "?" + urlencode({**query, "PageSize": page_size, "Page": n, "PageToken": f"PA{n}"})

        has_next = (page + 1) * page_size < len(rows)
        return 200, {
            "messages": resources,
            "page": page,
            "page_size": page_size,
            "start": page * page_size,
            "end": page * page_size + max(len(resources) - 1, 0),
            "uri": page_uri(page),
            "first_page_uri": page_uri(0),
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "next_page_uri": page_uri(page + 1) if has_next else None,
        }
