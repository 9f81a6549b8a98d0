"""A local fake of the WeChat API (jscode2session), served over real HTTP.

It records every request so tests can check the exact request format the
client sends (path, appid, secret, js_code, grant_type).
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeWechat:
    def __init__(self):
        self.requests: list[dict] = []
        self.codes: dict[str, dict] = {}  # js_code -> response body
        self.used: set[str] = set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append({"path": url.path, "params": params})
                if url.path != "/sns/jscode2session":
                    return self._send(404, {"errcode": 404, "errmsg": "not found"})
                if params.get("grant_type") != "authorization_code" or not params.get("appid"):
                    return self._send(200, {"errcode": 40013, "errmsg": "invalid appid"})
                code = params.get("js_code", "")
                if code in fake.used or code not in fake.codes:
                    return self._send(200, {"errcode": 40029, "errmsg": "invalid code"})
                fake.used.add(code)
                return self._send(200, fake.codes[code])

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")  # WeChat really sends text/plain
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

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

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
