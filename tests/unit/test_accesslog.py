import datetime as dt
from types import SimpleNamespace

from gunicorn.config import Config

from app.accesslog import EscapingLogger, escape


def test_escape_turns_control_characters_into_visible_escapes():
    assert escape("/api/v1/x\n127.0.0.1 - forged 200") == "/api/v1/x\\x0a127.0.0.1 - forged 200"
    assert escape("a\x1b[31mred\u2028") == "a\\x1b[31mred\\u2028"
    assert escape("/api/v1/居民") == "/api/v1/居民" and escape(200) == 200


def test_access_log_atoms_are_escaped():
    cfg = Config()
    logger = EscapingLogger(cfg)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/x%0Ay", "SERVER_PROTOCOL": "HTTP/1.1",
               "PATH_INFO": "/x\ny", "QUERY_STRING": "", "REMOTE_ADDR": "127.0.0.1"}
    resp = SimpleNamespace(status="404 NOT FOUND", sent=10, headers=[("X-Request-ID", "r\r\nid")])
    atoms = logger.atoms(resp, SimpleNamespace(headers=[]), environ, dt.timedelta(milliseconds=5))
    assert atoms["U"] == "/x\\x0ay" and "\n" not in "".join(str(v) for v in atoms.values())
    assert atoms["{x-request-id}o"] == "r\\x0d\\x0aid"
