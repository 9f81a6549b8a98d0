import random
from datetime import date, datetime, timedelta, timezone

import pytest

from services.core import clock
from services.core.idcard import (
    IdNumberError,
    ParsedId,
    age_on,
    check_character,
    make_id_number,
    normalize_id_number,
    validate_id_number,
)

TODAY = date(2024, 6, 15)

MSG_FORMAT = "身份证号码应为18位，前17位为数字，最后一位为数字或X"
MSG_FIFTEEN = "不支持15位旧身份证号码，请使用18位身份证号码"
MSG_BIRTH_DATE = "身份证号码中的出生日期无效"
MSG_FUTURE_BIRTH = "身份证号码中的出生日期不能晚于今天"
MSG_CHECKSUM = "身份证号码校验位错误"


def with_check(first17: str) -> str:
    """A number whose checksum is right, so only the rule under test can fail."""
    return first17 + check_character(first17)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("11010519491231002X", ParsedId("11010519491231002X", "110105", date(1949, 12, 31), "female")),
        ("11010519491231002x", ParsedId("11010519491231002X", "110105", date(1949, 12, 31), "female")),
        ("  11010519491231002x\n", ParsedId("11010519491231002X", "110105", date(1949, 12, 31), "female")),
        ("110101199003070011", ParsedId("110101199003070011", "110101", date(1990, 3, 7), "male")),
        ("440305200002290037", ParsedId("440305200002290037", "440305", date(2000, 2, 29), "male")),
        ("310104190001010029", ParsedId("310104190001010029", "310104", date(1900, 1, 1), "female")),
        # Born today is allowed.
        (with_check("32010220240615001"), ParsedId(with_check("32010220240615001"), "320102", TODAY, "male")),
    ],
)
def test_valid_numbers(raw, expected):
    assert validate_id_number(raw, today=TODAY) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        # Checksum
        ("110105194912310021", MSG_CHECKSUM),
        ("110101199003070012", MSG_CHECKSUM),
        ("11010119900307001X", MSG_CHECKSUM),
        # Impossible dates (checksums made valid so the date rule is what fails)
        (with_check("11010519490230002"), MSG_BIRTH_DATE),  # Feb 30
        (with_check("11010519491301002"), MSG_BIRTH_DATE),  # month 13
        (with_check("11010519490001002"), MSG_BIRTH_DATE),  # month 00
        (with_check("11010519490100002"), MSG_BIRTH_DATE),  # day 00
        (with_check("11010519000229002"), MSG_BIRTH_DATE),  # 1900 is not a leap year
        (with_check("11010518991231002"), MSG_BIRTH_DATE),  # before 1900
        (with_check("11010500000101002"), MSG_BIRTH_DATE),  # year 0
        # Future birth date
        (with_check("11010520240616002"), MSG_FUTURE_BIRTH),
        (with_check("11010530000101002"), MSG_FUTURE_BIRTH),
        # First-generation 15-digit numbers
        ("110105491231002", MSG_FIFTEEN),
        (" 110105491231002 ", MSG_FIFTEEN),
        # Wrong characters
        ("1101051949A231002X", MSG_FORMAT),
        ("X10105194912310021", MSG_FORMAT),
        ("11010519491231002Y", MSG_FORMAT),
        ("110105 19491231002X", MSG_FORMAT),
        ("１１０１０５１９４９１２３１００２X", MSG_FORMAT),  # full-width digits
        ("11010519491231002X\x00", MSG_FORMAT),
        # Wrong length
        ("", MSG_FORMAT),
        ("   ", MSG_FORMAT),
        ("11010519491231002", MSG_FORMAT),
        ("11010519491231002X1", MSG_FORMAT),
        ("1101051949123100", MSG_FORMAT),
        ("11010549123100X", MSG_FORMAT),  # 15 chars but not 15 digits
    ],
)
def test_invalid_numbers(raw, message):
    with pytest.raises(IdNumberError) as excinfo:
        validate_id_number(raw, today=TODAY)
    assert excinfo.value.message == message
    assert str(excinfo.value) == message
    assert isinstance(excinfo.value, ValueError)


def test_default_today_comes_from_project_clock():
    # 2024-06-14 17:00 UTC is already 2024-06-15 01:00 in Asia/Shanghai.
    born_shanghai_today = with_check("11010520240615002")
    with clock.freeze(datetime(2024, 6, 14, 17, 0, tzinfo=timezone.utc)):
        assert validate_id_number(born_shanghai_today).birth_date == date(2024, 6, 15)
    with clock.freeze(datetime(2024, 6, 14, 15, 0, tzinfo=timezone.utc)):
        with pytest.raises(IdNumberError) as excinfo:
            validate_id_number(born_shanghai_today)
    assert excinfo.value.message == MSG_FUTURE_BIRTH


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("11010519491231002x", "11010519491231002X"),
        ("  11010519491231002X  ", "11010519491231002X"),
        ("\t110101199003070011\n", "110101199003070011"),
        ("110105491231002", "110105491231002"),
        ("", ""),
    ],
)
def test_normalize_id_number(raw, expected):
    assert normalize_id_number(raw) == expected


@pytest.mark.parametrize(
    "first17, expected",
    [
        ("11010519491231002", "X"),
        ("11010119900307001", "1"),
        ("44030520000229003", "7"),
        ("31010419000101002", "9"),
    ],
)
def test_check_character(first17, expected):
    assert check_character(first17) == expected


def _iso7064_mod11_2(first17: str) -> str:
    """Independent formulation (weights 2^(17-i) mod 11) to cross-check the table."""
    total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def test_check_character_matches_iso7064():
    rng = random.Random(7064)
    for _ in range(5000):
        first17 = "".join(rng.choice("0123456789") for _ in range(17))
        assert check_character(first17) == _iso7064_mod11_2(first17)


@pytest.mark.parametrize("bad", ["1101051949123100", "110105194912310021", "1101051949123100A", ""])
def test_check_character_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        check_character(bad)


@pytest.mark.parametrize(
    "area_code, birth, sequence, sex, expected",
    [
        ("110105", date(1949, 12, 31), 0, "female", "11010519491231002X"),
        ("110101", date(1990, 3, 7), 0, "male", "110101199003070011"),
        ("440305", date(2000, 2, 29), 99, "male", with_check("44030520000229991")),
    ],
)
def test_make_id_number_exact(area_code, birth, sequence, sex, expected):
    assert make_id_number(area_code, birth, sequence, sex) == expected


def test_make_id_number_round_trips():
    rng = random.Random(20240615)
    start = date(1900, 1, 1)
    span = (TODAY - start).days
    areas = ["110105", "310104", "440305", "510107", "650102"]
    checks_seen = set()
    for _ in range(2000):
        birth = start + timedelta(days=rng.randint(0, span))
        sex = rng.choice(["male", "female"])
        area = rng.choice(areas)
        number = make_id_number(area, birth, rng.randint(0, 99), sex)
        checks_seen.add(number[-1])
        parsed = validate_id_number(number, today=TODAY)
        assert parsed == ParsedId(number, area, birth, sex)
    # The sample is large enough to exercise every check character, X included.
    assert checks_seen == set("0123456789X")


@pytest.mark.parametrize(
    "args",
    [
        ("11010", date(1990, 1, 1), 0, "male"),
        ("11010A", date(1990, 1, 1), 0, "male"),
        ("110105", date(1990, 1, 1), -1, "male"),
        ("110105", date(1990, 1, 1), 100, "male"),
        ("110105", date(1990, 1, 1), 0, "M"),
        ("110105", date(1899, 12, 31), 0, "female"),
    ],
)
def test_make_id_number_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        make_id_number(*args)


@pytest.mark.parametrize(
    "birth, on, expected",
    [
        (date(1990, 6, 15), date(1990, 6, 15), 0),
        (date(1990, 6, 15), date(2024, 6, 14), 33),  # day before birthday
        (date(1990, 6, 15), date(2024, 6, 15), 34),  # birthday
        (date(1990, 6, 15), date(2024, 6, 16), 34),
        (date(1990, 12, 31), date(2024, 1, 1), 33),
        (date(1990, 1, 1), date(2023, 12, 31), 33),
        # Feb 29 births
        (date(2000, 2, 29), date(2001, 2, 28), 0),
        (date(2000, 2, 29), date(2001, 3, 1), 1),
        (date(2000, 2, 29), date(2023, 2, 28), 22),
        (date(2000, 2, 29), date(2023, 3, 1), 23),
        (date(2000, 2, 29), date(2024, 2, 28), 23),
        (date(2000, 2, 29), date(2024, 2, 29), 24),
        # Born Mar 1, checked on Feb 29 of a leap year
        (date(2000, 3, 1), date(2024, 2, 29), 23),
    ],
)
def test_age_on(birth, on, expected):
    assert age_on(birth, on) == expected


def test_age_on_rejects_date_before_birth():
    with pytest.raises(ValueError):
        age_on(date(2000, 1, 2), date(2000, 1, 1))


@pytest.mark.parametrize("prefix", ["00", "10", "20", "39", "47", "66", "70", "80", "83", "99"])
def test_first_two_digits_must_be_a_province_code(prefix):
    first17 = prefix + "0105194912310" + "02"
    with pytest.raises(IdNumberError, match="省级行政区划"):
        validate_id_number(first17 + check_character(first17), today=date(2026, 1, 1))


@pytest.mark.parametrize("prefix", ["11", "46", "54", "65", "71", "81", "82"])
def test_every_province_code_is_accepted(prefix):
    first17 = prefix + "0105194912310" + "02"
    assert validate_id_number(first17 + check_character(first17), today=date(2026, 1, 1)).area_code[:2] == prefix
