"""Chinese default messages for marshmallow, so every 422 speaks Chinese.

Imported once by app.schemas before any schema is defined.
"""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

_FIELD_MESSAGES = {
    fields.Field: {"required": "必填字段", "null": "不能为空", "validator_failed": "取值无效"},
    fields.Nested: {"type": "类型无效，应为对象"},
    fields.List: {"invalid": "应为列表"},
    fields.Tuple: {"invalid": "应为数组"},
    fields.String: {"invalid": "应为字符串", "invalid_utf8": "不是有效的 UTF-8 字符串"},
    fields.UUID: {"invalid_uuid": "不是有效的 UUID"},
    fields.Number: {"invalid": "应为数字", "too_large": "数字过大"},
    fields.Integer: {"invalid": "应为整数"},
    fields.Float: {"special": "不允许 NaN 或无穷大"},
    fields.Decimal: {"special": "不允许 NaN 或无穷大"},
    fields.Boolean: {"invalid": "应为布尔值（true/false）"},
    fields.DateTime: {
        "invalid": "不是有效的时间，应为 ISO 8601 格式（如 2026-03-01T08:30:00+08:00）",
        "invalid_awareness": "时间须带时区偏移（如 +08:00）",
        "format": "无法格式化为时间",
    },
    fields.Date: {"invalid": "不是有效的日期，应为 YYYY-MM-DD", "format": "无法格式化为日期"},
    fields.Dict: {"invalid": "应为对象"},
    fields.Email: {"invalid": "不是有效的电子邮箱"},
    fields.URL: {"invalid": "不是有效的网址"},
}


def install() -> None:
    for cls, messages in _FIELD_MESSAGES.items():
        merged = dict(getattr(cls, "default_error_messages", {}))
        merged.update(messages)
        cls.default_error_messages = merged
    ma.Schema._default_error_messages = {"type": "输入类型无效，应为 JSON 对象", "unknown": "未知字段"}
    validate.Range.message_min = "须{min_op} {{min}}"
    validate.Range.message_max = "须{max_op} {{max}}"
    validate.Range.message_all = "须{min_op} {{min}} 且{max_op} {{max}}"
    validate.Range.message_gte = "大于或等于"
    validate.Range.message_gt = "大于"
    validate.Range.message_lte = "小于或等于"
    validate.Range.message_lt = "小于"
    validate.Length.message_min = "长度不能少于 {min}"
    validate.Length.message_max = "长度不能超过 {max}"
    validate.Length.message_all = "长度须在 {min} 到 {max} 之间"
    validate.Length.message_equal = "长度须为 {equal}"
    validate.OneOf.default_message = "须为以下之一：{choices}"
    validate.ContainsOnly.default_message = "包含无效的选项，可选：{choices}"
    validate.Regexp.default_message = "格式不正确"
    validate.Equal.default_message = "须等于 {other}"


install()
