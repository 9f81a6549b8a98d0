"""A local fake of the WeChat API, served over real HTTP.

It records every request so tests can check the exact request format the
client sends (path, appid, secret, js_code, grant_type).

Endpoints:
* GET /sns/jscode2session (mini-program sign-in; codes from `issue_code`).
* GET /cgi-bin/token (client-credential access token; checks `app_id` and
  `app_secret`, counts `tokens_issued`, tokens live `token_ttl` seconds).
* POST /cgi-bin/message/subscribe/send (subscribe messages; accepted ones are
  recorded in `subscribe_sent`; `refuse_openids`, `expire_tokens()` and
  `fail_next_send()` simulate WeChat's refusals and failures).

Like WeChat, every reply is JSON sent as Content-Type text/plain.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeWechat:
    def __init__(self):
        self.requests: list[dict] = []
        self.codes: dict[str, dict] = {}  # js_code -> response body
        self.used: set[str] = set()
        # Client-credential token and subscribe messages. The defaults match
        # app/config.py's WECHAT_APP_ID / WECHAT_APP_SECRET.
        self.app_id = "wx-demo-appid"
        self.app_secret = "wx-demo-secret"
        self.token_ttl = 7200
        self.tokens_issued = 0
        self.tokens: dict[str, float] = {}  # access_token -> monotonic expiry
        self.subscribe_sent: list[dict] = []
        self.refuse_openids: set[str] = set()
        self.send_delay = 0.0  # seconds to sleep before answering a send (timeouts)
        self._failures: list[tuple[int, int]] = []  # (http_status, errcode) for the next sends
        self._msgids = itertools.count(2_000_000_001)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append({"path": url.path, "params": params})
                if url.path == "/cgi-bin/token":
                    return self._send(200, fake._token_reply(params))
                if url.path != "/sns/jscode2session":
                    return self._send(404, {"errcode": 404, "errmsg": "not found"})
                if params.get("grant_type") != "authorization_code" or not params.get("appid"):
                    return self._send(200, {"errcode": 40013, "errmsg": "invalid appid"})
                code = params.get("js_code", "")
                if code in fake.used or code not in fake.codes:
                    return self._send(200, {"errcode": 40029, "errmsg": "invalid code"})
                fake.used.add(code)
                return self._send(200, fake.codes[code])

            def do_POST(self):  # noqa: N802
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    body = None
                fake.requests.append({"path": url.path, "params": params, "body": body})
                if url.path != "/cgi-bin/message/subscribe/send":
                    return self._send(404, {"errcode": 404, "errmsg": "not found"})
                if fake.send_delay:
                    time.sleep(fake.send_delay)
                return self._send(*fake._subscribe_reply(params.get("access_token", ""), body))

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")  # WeChat really sends text/plain
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test); nothing to answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval so leaving the `with` block takes milliseconds, not 0.5 s.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def issue_code(self, code: str, openid: str, unionid: str | None = None) -> str:
        body = {"openid": openid, "session_key": "sk-" + openid}
        if unionid:
            body["unionid"] = unionid
        self.codes[code] = body
        return code

    def expire_tokens(self) -> None:
        """Make every access token issued so far invalid (the next send gets 40001)."""
        with self._lock:
            self.tokens.clear()

    def fail_next_send(self, n: int = 1, errcode: int = -1, http_status: int = 200) -> None:
        """The next `n` subscribe sends with a valid token fail with `errcode`
        (or with HTTP `http_status` when that is not 200); nothing is recorded."""
        with self._lock:
            self._failures.extend([(http_status, errcode)] * n)

    def _token_reply(self, params: dict) -> dict:
        if params.get("grant_type") != "client_credential":
            return {"errcode": 40002, "errmsg": "invalid grant_type"}
        if params.get("appid") != self.app_id:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if params.get("secret") != self.app_secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        with self._lock:
            self.tokens_issued += 1
            token = f"fake-token-{self.tokens_issued}"
            self.tokens[token] = time.monotonic() + self.token_ttl
        return {"access_token": token, "expires_in": self.token_ttl}

    def _subscribe_reply(self, token: str, body) -> tuple[int, dict]:
        with self._lock:
            expiry = self.tokens.get(token)
            if expiry is None:
                return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
            if time.monotonic() >= expiry:
                return 200, {"errcode": 42001, "errmsg": "access_token expired"}
            if self._failures:
                status, errcode = self._failures.pop(0)
                if status != 200:
                    return status, {"errcode": status, "errmsg": "fake http error"}
                return 200, {"errcode": errcode, "errmsg": "system error" if errcode == -1 else "fake error"}
        if not isinstance(body, dict):
            return 200, {"errcode": 47001, "errmsg": "data format error"}
        touser, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
        if not touser:
            return 200, {"errcode": 40003, "errmsg": "invalid openid"}
        if not template_id:
            return 200, {"errcode": 40037, "errmsg": "invalid template_id"}
        if not isinstance(data, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()):
            return 200, {"errcode": 47003, "errmsg": "argument invalid! data.value invalid"}
        if touser in self.refuse_openids:
            return 200, {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
        with self._lock:
            self.subscribe_sent.append({"touser": touser, "template_id": template_id,
                                        "data": data, "page": body.get("page")})
            msgid = next(self._msgids)
        return 200, {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
