"""Mainland China mobile numbers.

We send SMS notifications (appointments, follow-ups), so only numbers that can
receive SMS in mainland China are accepted, and they are stored in one
canonical form (the 11-digit national number) so lookups and de-duplication
work regardless of how the user typed them.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

__all__ = ["PhoneError", "normalize_mobile", "to_e164"]

MSG_INVALID_MOBILE = "请输入有效的中国大陆手机号码"

_ACCEPTED_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


class PhoneError(ValueError):
    """Invalid phone number; ``message`` is Chinese and safe to show to users."""

    def __init__(self, message: str = MSG_INVALID_MOBILE) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _parse_cn_mobile(raw: str) -> phonenumbers.PhoneNumber:
    if not isinstance(raw, str):
        raise PhoneError()
    # phonenumbers converts letters ("vanity" numbers) to digits and accepts
    # extensions ("ext 12"); neither makes sense for an SMS target.
    if any(ch.isalpha() for ch in raw):
        raise PhoneError()
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        raise PhoneError() from None
    if (
        number.extension
        or number.country_code != 86
        or not phonenumbers.is_valid_number_for_region(number, "CN")
        or phonenumbers.number_type(number) not in _ACCEPTED_TYPES
    ):
        raise PhoneError()
    return number


def normalize_mobile(raw: str) -> str:
    """Return the 11-digit national number, e.g. "13800138000".

    Accepts spaces, dashes, a +86 / 86 / 0086 prefix and full-width digits.
    Raises PhoneError for anything that is not a valid mainland mobile number.
    """
    return phonenumbers.national_significant_number(_parse_cn_mobile(raw))


def to_e164(national: str) -> str:
    """Return the E.164 form, e.g. "+8613800138000", as SMS gateways expect."""
    return phonenumbers.format_number(_parse_cn_mobile(national), PhoneNumberFormat.E164)
