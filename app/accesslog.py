"""gunicorn's access log with every value escaped: a path like `/x%0Afake line`
decodes to a newline in PATH_INFO and would otherwise forge a log line."""
from __future__ import annotations

import re

from gunicorn.glogging import Logger

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape(value: object) -> object:
    """Control characters as \\xNN (\\uNNNN above Latin-1); other values unchanged."""
    if not isinstance(value, str):
        return value
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", value)


class EscapingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        return {key: escape(value) for key, value in super().atoms(resp, req, environ, request_time).items()}
