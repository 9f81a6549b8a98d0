"""Development SMS channel: prints each message as one line on standard output,
with the recipient and the full text, so whoever runs `make run` can read a
login code off the console."""
from __future__ import annotations

import sys
import uuid

from services.reminders.channels import SendResult


class ConsoleSmsChannel:
    name = "console"

    def __init__(self, stream=None):
        self._stream = stream

    def send_sms(self, to: str, text: str) -> SendResult:
        stream = self._stream or sys.stdout
        one_line = text.replace("\r", " ").replace("\n", " ")
        message_id = "console-" + uuid.uuid4().hex[:12]
        print(f"[SMS] id={message_id} to={to} text={one_line}", file=stream, flush=True)
        return SendResult(provider_message_id=message_id, status="sent")
