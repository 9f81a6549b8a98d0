import pytest

from services.core.masking import mask_id_number, mask_name, mask_phone


@pytest.mark.parametrize(
    "number, expected",
    [
        ("11010519491231002X", "110105********002X"),
        ("110101199003070011", "110101********0011"),
        (None, None),
        # Defensive path: anything not 18 long keeps first 3 / last 2.
        ("110105491231002", "110**********02"),
        ("1101051949123100211", "110**************11"),
        ("123456", "123*56"),
        ("12345", "*****"),
        ("12", "**"),
        ("", ""),
    ],
)
def test_mask_id_number(number, expected):
    assert mask_id_number(number) == expected


@pytest.mark.parametrize(
    "phone, expected",
    [
        ("13856785678", "138****5678"),
        ("13800138000", "138****8000"),
        (None, None),
        ("+8613856785678", "+86*******5678"),
        ("12345678", "123*5678"),
        ("1234567", "*******"),
        ("", ""),
    ],
)
def test_mask_phone(phone, expected):
    assert mask_phone(phone) == expected


@pytest.mark.parametrize(
    "name, expected",
    [
        ("张三", "张*"),
        ("王小明", "王*明"),
        ("欧阳娜娜", "欧**娜"),
        ("司马相如", "司**如"),
        ("李", "李"),
        ("", ""),
        (None, None),
        ("阿卜杜·艾力", "阿****力"),
    ],
)
def test_mask_name(name, expected):
    assert mask_name(name) == expected
