"""Masking of personal data for display and logs.

The single place that decides how much of an ID number, phone number or name
may be shown, so every page, export and log line masks the same way.
"""

from __future__ import annotations

__all__ = ["mask_id_number", "mask_phone", "mask_name"]


def _mask_middle(value: str, keep_start: int, keep_end: int) -> str:
    """Keep the ends and star the middle; fully star values too short to hide anything."""
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    stars = "*" * (len(value) - keep_start - keep_end)
    return value[:keep_start] + stars + value[len(value) - keep_end:]


def mask_id_number(number: str | None) -> str | None:
    """"11010519491231002X" -> "110105********002X" (area code and last 4 kept).

    Values that are not 18 characters long (should not happen for stored data)
    keep only the first 3 and last 2 characters.
    """
    if number is None:
        return None
    if len(number) == 18:
        return _mask_middle(number, 6, 4)
    return _mask_middle(number, 3, 2)


def mask_phone(phone: str | None) -> str | None:
    """"13856785678" -> "138****5678" (first 3 and last 4 kept)."""
    if phone is None:
        return None
    return _mask_middle(phone, 3, 4)


def mask_name(name: str | None) -> str | None:
    """Chinese convention: "张三" -> "张*", "王小明" -> "王*明", "欧阳娜娜" -> "欧**娜".

    A one-character name is returned unchanged (nothing sensible to hide).
    """
    if name is None:
        return None
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
