"""Message channels behind one small interface.

`console` prints every message as one line on standard output (development),
`twilio` sends through the real Twilio SDK, and `wechat` sends mini-program
subscribe messages; tests drive the real clients against local fakes.
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
    """`console` (development) or `twilio` (the real SDK; settings are the
    TwilioSmsChannel keyword arguments)."""
    if backend == "console":
        from services.reminders.channels.console import ConsoleSmsChannel

        return ConsoleSmsChannel()
    if backend == "twilio":
        from services.reminders.channels.twilio import TwilioSmsChannel

        return TwilioSmsChannel(**settings)
    raise ValueError(f"unknown SMS_BACKEND {backend!r} (supported: console, twilio)")
