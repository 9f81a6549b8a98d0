from __future__ import annotations

import datetime as dt

from flask import Response, current_app, request
from flask_smorest import Blueprint
from twilio.request_validator import RequestValidator

from app.auth import current_actor, login_required, request_context
from app.schemas.reminders import (
    MessagePageSchema,
    MessageQuerySchema,
    MessageStatsSchema,
    PreferencesSchema,
    PreferencesUpdateSchema,
    StatsQuerySchema,
    TwilioInboundFormSchema,
    TwilioStatusFormSchema,
    WechatSubscriptionCreateSchema,
    WechatSubscriptionSchema,
)
from app.tx import commit
from services.core import clock
from services.core.errors import DomainError
from services.reminders import outbox

blp = Blueprint("reminders", __name__, description="提醒与消息：通知偏好、短信回执与退订、发送记录")


class BadSignature(DomainError):
    status = 403
    code = "INVALID_SIGNATURE"
    message = "回调签名校验失败"


def _check_twilio_signature() -> dict:
    """Twilio signs the full URL it called plus the POSTed form; the URL is ours as
    configured (PUBLIC_BASE_URL), since a proxy may change what Flask sees."""
    token = current_app.config["TWILIO_AUTH_TOKEN"]
    params = request.form.to_dict()
    url = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + request.full_path.rstrip("?")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature or not RequestValidator(token).validate(url, params, signature):
        raise BadSignature()
    return params


@blp.route("/webhooks/twilio/status", methods=["POST"])
@blp.arguments(TwilioStatusFormSchema, location="form", as_kwargs=True)
@blp.response(204)
@blp.alt_response(403, description="INVALID_SIGNATURE")
def twilio_status(**_documented):
    """Twilio 状态回调（校验 X-Twilio-Signature）；幂等，状态只前进不后退"""
    params = _check_twilio_signature()
    sid, status = params.get("MessageSid") or params.get("SmsSid"), params.get("MessageStatus") or params.get("SmsStatus")
    if sid and status:
        outbox.apply_status_callback(sid, status, params.get("ErrorCode") or None)
        commit()


@blp.route("/webhooks/twilio/inbound", methods=["POST"])
@blp.arguments(TwilioInboundFormSchema, location="form", as_kwargs=True)
@blp.response(200, description="空的 TwiML <Response/>（text/xml）")
@blp.alt_response(403, description="INVALID_SIGNATURE")
def twilio_inbound(**_documented):
    """居民回复短信：退订、TD、T、STOP 退订该号码；订阅、START 恢复"""
    params = _check_twilio_signature()
    outbox.handle_inbound(params.get("From", ""), params.get("Body", ""))
    commit()
    return Response('<?xml version="1.0" encoding="UTF-8"?><Response></Response>', mimetype="text/xml")


def _me() -> int:
    return current_actor().scope.resident_id


@blp.route("/me/notification-preferences", methods=["GET"])
@login_required("resident")
@blp.response(200, PreferencesSchema)
def get_preferences():
    """本人的通知偏好"""
    return outbox.preferences(_me())


@blp.route("/me/notification-preferences", methods=["PATCH"])
@login_required("resident")
@blp.arguments(PreferencesUpdateSchema)
@blp.response(200, PreferencesSchema)
def update_preferences(body):
    """开启或关闭提醒短信（登录验证码不受影响）"""
    prefs = outbox.set_sms_preference(_me(), body["sms"])
    commit()
    return prefs


@blp.route("/me/wechat-subscriptions", methods=["POST"])
@login_required("resident")
@blp.arguments(WechatSubscriptionCreateSchema)
@blp.response(201, WechatSubscriptionSchema)
@blp.alt_response(409, description="WECHAT_NOT_LINKED")
def add_subscription(body):
    """记录一次小程序订阅消息授权（一次授权可发送一条提醒）"""
    known = set(current_app.config["WECHAT_TEMPLATE_IDS"].values())
    sub = outbox.add_wechat_subscription(_me(), body["template_id"], known)
    commit()
    return sub


@blp.route("/messages", methods=["GET"])
@login_required("admin")
@blp.arguments(MessageQuerySchema, location="query")
@blp.response(200, MessagePageSchema)
def list_messages(args):
    """发送记录（管理员，限管辖范围内的居民）：状态、渠道、错误码"""
    page, page_size = args.pop("page"), args.pop("page_size")
    result = outbox.messages_page(current_actor().scope, outbox.MessageFilters(**args), page, page_size,
                                  request_context())
    commit()
    return result


@blp.route("/messages/stats", methods=["GET"])
@login_required("admin")
@blp.arguments(StatsQuerySchema, location="query")
@blp.response(200, MessageStatsSchema)
def message_stats(args):
    """按日统计：已发送、已送达、失败（按错误码）与送达率"""
    last = args.get("date_to") or clock.today()
    first, last = clock.checked_range(args.get("date_from") or last - dt.timedelta(days=6), last, 366)
    return {"date_from": first, "date_to": last, "days": outbox.delivery_stats(current_actor().scope, first, last)}
