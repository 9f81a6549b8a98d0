"""Resident identity card numbers (GB 11643-1999, 18-digit form).

Patients are identified by their ID number, so we validate it strictly on the
way in: a typo caught here is far cheaper than a duplicated or mismatched
health record later. Only the 18-digit (second-generation) format is accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from services.core import clock

__all__ = [
    "IdNumberError",
    "ParsedId",
    "normalize_id_number",
    "validate_id_number",
    "check_character",
    "make_id_number",
    "age_on",
]

# Explicit ASCII classes: ``\d`` and ``str.isdigit`` would also accept
# full-width or other Unicode digits, which int() happily converts.
_ID18_RE = re.compile(r"[0-9]{17}[0-9X]")
_ID15_RE = re.compile(r"[0-9]{15}")
_DIGITS17_RE = re.compile(r"[0-9]{17}")
_AREA_RE = re.compile(r"[0-9]{6}")

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_MIN_BIRTH_YEAR = 1900

MSG_FORMAT = "身份证号码应为18位，前17位为数字，最后一位为数字或X"
MSG_FIFTEEN = "不支持15位旧身份证号码，请使用18位身份证号码"
MSG_BIRTH_DATE = "身份证号码中的出生日期无效"
MSG_FUTURE_BIRTH = "身份证号码中的出生日期不能晚于今天"
MSG_CHECKSUM = "身份证号码校验位错误"
MSG_PROVINCE = "身份证号码前两位不是有效的省级行政区划代码"

# GB/T 2260 province-level codes (the first two digits of every ID number).
PROVINCE_CODES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "71", "81", "82",
})


class IdNumberError(ValueError):
    """Invalid ID number; ``message`` is Chinese and safe to show to users."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ParsedId:
    """The facts encoded in a validated ID number."""

    number: str  # normalized: 18 characters, upper-case X
    area_code: str  # first 6 digits (administrative division at issue time)
    birth_date: date
    sex: str  # "male" | "female"


def normalize_id_number(raw: str) -> str:
    """Strip surrounding whitespace and upper-case a trailing x.

    Users often type a lower-case x or paste with spaces; storing one canonical
    form keeps lookup hashes and uniqueness checks consistent.
    """
    value = raw.strip()
    if value.endswith("x"):
        value = value[:-1] + "X"
    return value


def check_character(first17: str) -> str:
    """Return the check character (0-9 or X) for the first 17 digits."""
    if not isinstance(first17, str) or not _DIGITS17_RE.fullmatch(first17):
        raise ValueError("first17 must be exactly 17 ASCII digits")
    total = sum(int(ch) * weight for ch, weight in zip(first17, _WEIGHTS, strict=False))
    return _CHECK_CHARS[total % 11]


def validate_id_number(raw: str, today: date | None = None) -> ParsedId:
    """Validate an 18-digit ID number and decode it.

    ``today`` is injectable so the "birth date not in the future" rule can be
    tested deterministically; by default it is the project clock's today
    (deployment time zone, freezable in tests) rather than the server's local
    date. Raises IdNumberError with a Chinese message.
    """
    if not isinstance(raw, str):
        raise IdNumberError(MSG_FORMAT)
    number = normalize_id_number(raw)

    if _ID15_RE.fullmatch(number):
        raise IdNumberError(MSG_FIFTEEN)
    if not _ID18_RE.fullmatch(number):
        raise IdNumberError(MSG_FORMAT)

    if number[:2] not in PROVINCE_CODES:
        raise IdNumberError(MSG_PROVINCE)
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdNumberError(MSG_BIRTH_DATE) from None
    if birth.year < _MIN_BIRTH_YEAR:
        raise IdNumberError(MSG_BIRTH_DATE)
    if birth > (today if today is not None else clock.today()):
        raise IdNumberError(MSG_FUTURE_BIRTH)

    if check_character(number[:17]) != number[17]:
        raise IdNumberError(MSG_CHECKSUM)

    sex = "male" if int(number[16]) % 2 == 1 else "female"
    return ParsedId(number=number, area_code=number[:6], birth_date=birth, sex=sex)


def make_id_number(area_code: str, birth_date: date, sequence: int, sex: str) -> str:
    """Build a valid ID number, for demo data and tests only.

    ``sequence`` (0-99) fills the first two digits of the 3-digit sequence
    part; the third digit is 1 for male and 2 for female.
    """
    if not isinstance(area_code, str) or not _AREA_RE.fullmatch(area_code):
        raise ValueError("area_code must be exactly 6 ASCII digits")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or not 0 <= sequence <= 99:
        raise ValueError("sequence must be an int between 0 and 99")
    if sex not in ("male", "female"):
        raise ValueError("sex must be 'male' or 'female'")
    if not _MIN_BIRTH_YEAR <= birth_date.year <= 9999:
        raise ValueError("birth_date year must be >= 1900")
    sex_digit = "1" if sex == "male" else "2"
    first17 = f"{area_code}{birth_date:%Y%m%d}{sequence:02d}{sex_digit}"
    return first17 + check_character(first17)


def age_on(birth_date: date, on: date) -> int:
    """Exact age in completed years on ``on``.

    A Feb 29 birthday counts as reached on Mar 1 in non-leap years, which the
    tuple comparison gives naturally ((2, 28) < (2, 29) <= (3, 1)).
    """
    if on < birth_date:
        raise ValueError("'on' must not be earlier than birth_date")
    before_birthday = (on.month, on.day) < (birth_date.month, birth_date.day)
    return on.year - birth_date.year - int(before_birthday)
