"""Shared schema pieces: the base schema, pagination and time fields."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

import marshmallow as ma
from marshmallow import fields, validate

from services.core import clock

MAX_PAGE_SIZE = 100
MAX_PAGE = 1_000_000
# Ids are 32-bit integer columns; larger input would fail in the database.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class Int(fields.Integer):
    """An integer the database can hold: out-of-range input is a 422, not a 500.

    A JSON number must be a whole number (1.5 or 1.0 is refused, never rounded);
    a query-string value must be ASCII digits with an optional sign (no "１", no "1e3").
    """

    def _validated(self, value):
        if isinstance(value, bool) or isinstance(value, float):
            raise self.make_error("invalid")
        if isinstance(value, str) and not _ASCII_INT.fullmatch(value.strip()):
            raise self.make_error("invalid")
        number = super()._validated(value)
        if number is not None and not INT_MIN <= number <= INT_MAX:
            raise self.make_error("too_large")
        return number


class Date(fields.Date):
    """A calendar date within 1900..2999, so day arithmetic and time-zone
    conversion near the ends of the calendar cannot fail."""

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if not dt.date(1900, 1, 1) <= day <= dt.date(2999, 12, 31):
            raise ma.ValidationError("日期须在 1900-01-01 至 2999-12-31 之间")
        return day


class BaseSchema(ma.Schema):
    """Unknown fields are an error, so a typo never silently drops data; text that
    is not valid Unicode or carries control characters is refused field by field."""

    class Meta:
        unknown = ma.RAISE
        ordered = True

    @ma.pre_load
    def _refuse_bad_text(self, data, **kwargs):
        if not isinstance(data, Mapping):
            return data  # marshmallow's own "应为 JSON 对象" error follows
        problems: dict[str, list[str]] = {}
        _check_text(data, "", problems)
        if problems:
            raise ma.ValidationError(problems)
        return data


_ASCII_INT = re.compile(r"[+-]?[0-9]{1,20}")
# C0/C1 controls except tab, newline and carriage return; bidi embeddings,
# overrides and isolates; zero-width and BOM characters that hide text.
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e"
                       "\u2060-\u2069\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(value, path: str, problems: dict[str, list[str]]) -> None:
    if isinstance(value, str):
        if _SURROGATE.search(value):
            problems.setdefault(path or "_schema", []).append("包含无效的 Unicode 字符（孤立代理项）")
        elif _BAD_TEXT.search(value):
            problems.setdefault(path or "_schema", []).append("包含控制字符或不可见的格式字符")
    elif isinstance(value, Mapping):
        for key, child in value.items():
            key_text = str(key)
            if isinstance(key, str) and (_SURROGATE.search(key) or _BAD_TEXT.search(key)):
                problems.setdefault("_schema", []).append("字段名包含无效字符")
                key_text = "?"
            _check_text(child, f"{path}.{key_text}" if path else key_text, problems)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            _check_text(child, f"{path}.{i}" if path else str(i), problems)


class LocalDateTime(fields.DateTime):
    """Dumps instants in the deployment's time zone with its offset."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return clock.to_local(value).isoformat()


class PageQuerySchema(BaseSchema):
    page = Int(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = Int(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The list envelope of api.md: {items, page, page_size, total}."""
    return type(
        name,
        (ma.Schema,),
        {
            "items": fields.List(fields.Nested(item_schema)),
            "page": fields.Integer(),
            "page_size": fields.Integer(),
            "total": fields.Integer(),
            "Meta": type("Meta", (), {"ordered": True}),
        },
    )


class TagSchema(ma.Schema):
    code = fields.String()
    label = fields.String()


class PersonBriefSchema(ma.Schema):
    """The one brief form of a person, team or place shown inside another record: id and name."""

    id = Int()
    name = fields.String()
