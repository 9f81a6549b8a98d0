"""The response serialiser's plan gives exactly what marshmallow's own path gives."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace

import marshmallow as ma
import pytest
from marshmallow import fields

from app.schemas import fastdump
from app.schemas.common import Date, Int, LocalDateTime
from services.core.views import ModelView


class Inner(ma.Schema):
    id = Int()
    name = fields.String()


class Everything(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    as_text = fields.Integer(as_string=True, attribute="count_value")
    label = fields.String(data_key="title")
    city = fields.String(attribute="address.city")
    missing_one = fields.String()
    defaulted = fields.String(dump_default="默认")
    called_default = Int(dump_default=lambda: 7)
    nothing = fields.String(allow_none=True)
    number_text = fields.String()
    flag = fields.Boolean()
    when = Date()
    at = LocalDateTime()
    ratio = fields.Float()
    inner = fields.Nested(Inner)
    inners = fields.List(fields.Nested(Inner))
    many_inner = fields.Nested(Inner, many=True)
    tags = fields.List(fields.String())
    computed = fields.Function(lambda o: f"#{o.id if hasattr(o, 'id') else o['id']}")
    method = fields.Method("_shout")

    def _shout(self, obj):
        return "!"


@dataclass
class View(ModelView):
    model: object
    flag: bool


def _objects():
    base = dict(id=3, count_value=42, label="标签", address=SimpleNamespace(city="县城"), defaulted=None, nothing=None,
                number_text=12, flag=1, when=dt.date(2026, 3, 2),
                at=dt.datetime(2026, 3, 2, 1, 30, tzinfo=dt.timezone.utc), ratio=1,
                inner=SimpleNamespace(id="5", name="甲"), inners=[{"id": 1, "name": "乙"}],
                many_inner=[SimpleNamespace(id=2, name="丙")], tags=["a", "b"])
    as_dict = dict(base, address={"city": "乡镇"})
    as_object = SimpleNamespace(**base)
    model = SimpleNamespace(**{k: v for k, v in base.items() if k != "flag"})
    return [as_dict, as_object, View(model, flag=False)]


@pytest.mark.parametrize("index", range(3))
def test_plan_equals_marshmallow(index):
    obj = _objects()[index]
    fast = Everything().dump(obj)
    fastdump.uninstall()
    try:
        slow = Everything().dump(obj)
    finally:
        fastdump.install()
    assert fast == slow
    assert list(fast) == list(slow)  # same keys, same order
    assert fast["title"] == "标签" and "missing_one" not in fast and fast["called_default"] == 7


def test_many_and_none():
    schema = Everything()
    objs = _objects()
    fast_many = schema.dump(objs, many=True)
    fastdump.uninstall()
    try:
        slow_many = Everything().dump(objs, many=True)
        slow_inner_none = Inner().dump(None)
    finally:
        fastdump.install()
    assert fast_many == slow_many and len(fast_many) == 3
    assert Inner().dump(None) == slow_inner_none


def test_the_app_uses_the_plan():
    assert ma.Schema._serialize is fastdump._fast_serialize
