"""Shared schema pieces: the base schema, pagination and time fields."""
from __future__ import annotations

import datetime as dt

import marshmallow as ma
from marshmallow import fields, validate

from services.core import clock

MAX_PAGE_SIZE = 100
MAX_PAGE = 1_000_000
# Ids are 32-bit integer columns; larger input would fail in the database.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class Int(fields.Integer):
    """An integer the database can hold: out-of-range input is a 422, not a 500."""

    def _validated(self, value):
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
    """Unknown fields are an error, so a typo never silently drops data."""

    class Meta:
        unknown = ma.RAISE
        ordered = True


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
