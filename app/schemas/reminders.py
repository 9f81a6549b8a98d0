from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.schemas.common import BaseSchema, Date, Int, LocalDateTime, PageQuerySchema, page_schema
from services.core.masking import mask_phone
from services.models.reminder import MESSAGE_KINDS, MESSAGE_STATUSES


class TwilioStatusFormSchema(ma.Schema):
    """Twilio's status callback (form-encoded); other fields Twilio sends are accepted too."""

    class Meta:
        unknown = ma.INCLUDE

    MessageSid = fields.String(metadata={"description": "SM..."})
    MessageStatus = fields.String(metadata={"description": "queued | sent | delivered | undelivered | failed"})
    ErrorCode = fields.String(metadata={"description": "失败时的 Twilio 错误码，如 30003"})
    To = fields.String()
    From = fields.String()
    AccountSid = fields.String()


class TwilioInboundFormSchema(ma.Schema):
    """An SMS reply forwarded by Twilio (form-encoded)."""

    class Meta:
        unknown = ma.INCLUDE

    From = fields.String(metadata={"description": "回复的手机号（E.164）"})
    Body = fields.String(metadata={"description": "退订 / TD / T / STOP 退订；订阅 / START 恢复"})
    To = fields.String()
    MessageSid = fields.String()
    AccountSid = fields.String()


class PreferencesUpdateSchema(BaseSchema):
    sms = fields.Boolean(required=True, metadata={"description": "false：不再接收提醒短信（登录验证码仍会发送）"})


class PreferencesSchema(ma.Schema):
    class Meta:
        ordered = True

    sms = fields.Boolean()
    number_opted_out = fields.Boolean(metadata={"description": "手机号曾回复退订（TD/STOP）"})
    wechat_linked = fields.Boolean()
    wechat_subscriptions = Int(metadata={"description": "尚未使用的一次性订阅数"})


class WechatSubscriptionCreateSchema(BaseSchema):
    template_id = fields.String(required=True, validate=validate.Length(min=1, max=64),
                                metadata={"description": "用户在小程序中同意订阅的模板 ID（一次同意可发一条）"})


class WechatSubscriptionSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    template_id = fields.String()
    created_at = LocalDateTime()
    used_at = LocalDateTime(allow_none=True)


def _masked_recipient(m):
    if not m.recipient:
        return None
    national = m.recipient[3:] if m.recipient.startswith("+86") else m.recipient
    return mask_phone(national)


class MessageSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    kind = fields.String(metadata={"description": " | ".join(MESSAGE_KINDS)})
    resident_id = Int(allow_none=True)
    recipient = fields.Function(_masked_recipient, metadata={"description": "脱敏手机号"})
    channel = fields.String(metadata={"description": "sms | wechat"})
    template_code = fields.String()
    text = fields.String()
    status = fields.String(metadata={"description": " | ".join(MESSAGE_STATUSES)})
    status_reason = fields.String(allow_none=True)
    attempts = Int()
    next_attempt_at = LocalDateTime(allow_none=True)
    provider_message_id = fields.String(allow_none=True)
    error_code = fields.String(allow_none=True)
    sent_at = LocalDateTime(allow_none=True)
    delivered_at = LocalDateTime(allow_none=True)
    created_at = LocalDateTime()
    dedupe_key = fields.String()


class MessageQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(MESSAGE_STATUSES))
    kind = fields.String(validate=validate.OneOf(MESSAGE_KINDS))
    resident_id = Int()
    date_from = Date(metadata={"description": "按创建日期（部署时区）"})
    date_to = Date()


class StatsQuerySchema(BaseSchema):
    date_from = Date(metadata={"description": "默认 7 天前"})
    date_to = Date(metadata={"description": "默认今天；最长 366 天"})


class DayStatsSchema(ma.Schema):
    class Meta:
        ordered = True

    date = Date()
    sent = Int()
    delivered = Int()
    failed = Int()
    failed_by_error_code = fields.Dict(keys=fields.String(), values=Int())
    wechat = Int(metadata={"description": "其中经微信订阅消息发送的条数"})
    delivery_rate = fields.Float(allow_none=True, metadata={"description": "delivered ÷ sent"})


class MessageStatsSchema(ma.Schema):
    date_from = Date()
    date_to = Date()
    days = fields.List(fields.Nested(DayStatsSchema))


MessagePageSchema = page_schema(MessageSchema, "MessagePage")
