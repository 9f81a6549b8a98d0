import pytest

from services.core.phones import PhoneError, normalize_mobile, to_e164

MSG = "请输入有效的中国大陆手机号码"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("13800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("008613800138000", "13800138000"),
        ("  13800138000  ", "13800138000"),
        ("(+86) 138 0013 8000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),  # full-width digits from a Chinese IME
        ("19912345678", "19912345678"),
        ("16612345678", "16612345678"),
        ("15912345678", "15912345678"),
    ],
)
def test_normalize_mobile_accepts(raw, expected):
    assert normalize_mobile(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "12345678901",  # 12x is not a mobile range
        "10012345678",
        "01012345678",  # Beijing landline
        "010-12345678",
        "4008123123",  # 400 service number
        "10086",  # short code
        "+85291234567",  # Hong Kong mobile
        "+12025550123",  # US number
        "+44 7911 123456",  # UK mobile
        "13800138000 ext 12",  # extensions are not SMS targets
        "138OO138OOO",  # letters (vanity conversion would accept it)
        "1380013800O",
    ],
)
def test_normalize_mobile_rejects(raw):
    with pytest.raises(PhoneError) as excinfo:
        normalize_mobile(raw)
    assert excinfo.value.message == MSG
    assert str(excinfo.value) == MSG
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize("raw", [None, 13800138000])
def test_normalize_mobile_rejects_non_strings(raw):
    with pytest.raises(PhoneError):
        normalize_mobile(raw)


@pytest.mark.parametrize(
    "national, expected",
    [
        ("13800138000", "+8613800138000"),
        ("19912345678", "+8619912345678"),
        ("+86 138 0013 8000", "+8613800138000"),
    ],
)
def test_to_e164(national, expected):
    assert to_e164(national) == expected


@pytest.mark.parametrize("national", ["12345678901", "01012345678", ""])
def test_to_e164_rejects_invalid(national):
    with pytest.raises(PhoneError) as excinfo:
        to_e164(national)
    assert str(excinfo.value) == MSG
