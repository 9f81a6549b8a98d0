"""Message channels behind one small interface.

The foundation has the console channel (development: every message is one
line on standard output); Twilio and WeChat come with the reminders work.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str | None
    status: str  # "sent" | "queued" | ...


class SmsChannel(Protocol):
    name: str

    def send_sms(self, to: str, text: str) -> SendResult: ...


def build_sms_channel(backend: str, **settings) -> SmsChannel:
    if backend == "console":
        from services.reminders.channels.console import ConsoleSmsChannel

        return ConsoleSmsChannel()
    raise ValueError(f"unknown SMS_BACKEND {backend!r} (supported now: console)")
