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
_MAPPING: dict[type, bool] = {}


def _is_mapping(obj: Any) -> bool:
    """Whether utils.get_value would index `obj` (it has __getitem__), cached per type.
    A ModelView answers for its model (its __getattr__ delegates every name)."""
    t = type(obj)
    answer = _MAPPING.get(t)
    if answer is None:
        if isinstance(obj, ModelView):
            return hasattr(t, "__getitem__") or _is_mapping(obj.model)
        answer = hasattr(obj, "__getitem__")
        if getattr(t, "__getattr__", None) is None:  # the answer cannot change with the instance
            _MAPPING[t] = answer
    return answer


def _getter(key: str) -> Callable[[Any], Any]:
    if "." in key:
        return lambda obj: utils.get_value(obj, key, missing)

    def get(obj):
        if _is_mapping(obj):
            try:
                return obj[key]
            except (KeyError, IndexError, TypeError, AttributeError):
                return getattr(obj, key, missing)
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
