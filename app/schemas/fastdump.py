"""Serialising responses without marshmallow's per-field call chain.

marshmallow turns every field of every row into five or six Python calls
(Field.serialize → get_value → Schema.get_attribute → utils.get_value →
_get_value_for_key → hasattr/getattr) before the field's own `_serialize`.
For a page of 50 sessions with their team, doctor and round point that is
most of the request. `install()` replaces `Schema._serialize` with one that
does the same steps inline, from a plan built once per schema instance:

- the same fields (`dump_fields`), keys (`data_key`), attributes
  (`attribute`), defaults (`dump_default`) and "missing means left out";
- the same lookup as `utils.get_value` (a mapping by key, falling back to the
  attribute; an object by attribute; dotted paths through utils itself), with
  the "is it a mapping" question answered once per type;
- each field's own `_serialize`, except plain `String` and `Integer` fields,
  whose conversion (`str(value)`, `int(value)`, None kept) is done inline.

pre_dump/post_dump hooks still run (they live in `Schema.dump`); a schema that
overrides `get_attribute` or `_serialize` keeps marshmallow's own path. The
whole test suite and the schemathesis run check responses against the same
schemas, so the two paths cannot drift apart unnoticed.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from marshmallow import fields, utils
from marshmallow.utils import missing

from services.core.views import ModelView

_original_serialize = ma.Schema._serialize
_PLAN = "_fastdump_plan"
_PLAIN, _MAPPING, _VIEW, _DYNAMIC = range(4)
_MODES: dict[type, int] = {}


def _mode(t: type) -> int:
    """How utils.get_value reads an object of type `t`, decided once per type: by
    attribute (no __getitem__), by key then attribute (a mapping), as a ModelView
    (its own fields, then its class, then its model), or, for another class with a
    __getattr__, asked afresh each time."""
    mode = _MODES.get(t)
    if mode is None:
        if issubclass(t, ModelView) and "__getitem__" not in dir(t):
            mode = _VIEW
        elif getattr(t, "__getattr__", None) is not None:
            mode = _DYNAMIC
        else:
            mode = _MAPPING if hasattr(t, "__getitem__") else _PLAIN
        _MODES[t] = mode
    return mode


def _getter(key: str) -> Callable[[Any], Any]:
    if "." in key:
        return lambda obj: utils.get_value(obj, key, missing)

    def get(obj):
        t = type(obj)
        mode = _MODES.get(t)
        if mode is None:
            mode = _mode(t)
        if mode == _PLAIN:
            return getattr(obj, key, missing)
        if mode == _VIEW:
            # What ModelView's attribute lookup gives: the view's own field, else an
            # attribute of its class, else (its __getattr__) the model's.
            own = obj.__dict__
            if key in own:
                return own[key]
            if hasattr(t, key):
                return getattr(obj, key, missing)
            return getattr(own["model"], key, missing)
        if mode == _DYNAMIC and not hasattr(obj, "__getitem__"):
            return getattr(obj, key, missing)
        try:
            return obj[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            return getattr(obj, key, missing)

    return get


def _string(value, _attr, _obj):
    if value is None or type(value) is str:
        return value
    return utils.ensure_text_type(value)


def _integer(value, _attr, _obj):
    if value is None or type(value) is int:
        return value
    return int(value)


def _converter(field: fields.Field) -> Callable[[Any, str, Any], Any]:
    cls = type(field)
    if cls._serialize is fields.String._serialize and issubclass(cls, fields.String):
        return _string
    if (issubclass(cls, fields.Integer) and cls._serialize is fields.Number._serialize
            and cls._format_num is fields.Number._format_num and not field.as_string):
        return _integer
    return field._serialize


def _plan(schema: ma.Schema) -> list[tuple]:
    plan = schema.__dict__.get(_PLAN)
    if plan is None:
        plan = []
        for attr_name, field in schema.dump_fields.items():
            key = field.data_key if field.data_key is not None else attr_name
            source = attr_name if field.attribute is None else field.attribute
            getter = _getter(source) if field._CHECK_ATTRIBUTE else None
            plan.append((key, attr_name, getter, field, _converter(field)))
        schema.__dict__[_PLAN] = plan
    return plan


def _dump_one(schema: ma.Schema, plan: list[tuple], obj: Any) -> dict:
    ret = schema.dict_class()
    for key, attr_name, getter, field, convert in plan:
        if getter is not None:
            value = getter(obj)
            if value is missing:
                default = field.dump_default
                value = default() if callable(default) else default
                if value is missing:
                    continue
        else:
            value = None
        ret[key] = convert(value, attr_name, obj)
    return ret


def _fast_serialize(self: ma.Schema, obj: Any, *, many: bool = False):
    cls = type(self)
    if cls.get_attribute is not ma.Schema.get_attribute:
        return _original_serialize(self, obj, many=many)
    plan = _plan(self)
    if many and obj is not None:
        return [_dump_one(self, plan, item) for item in obj]
    return _dump_one(self, plan, obj)


def install() -> None:
    """Serialise every schema through the plan (idempotent)."""
    if ma.Schema._serialize is not _fast_serialize:
        ma.Schema._serialize = _fast_serialize


def uninstall() -> None:
    ma.Schema._serialize = _original_serialize
