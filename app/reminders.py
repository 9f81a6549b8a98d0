"""Reminder plumbing on the Flask side: settings and channels from config,
and the thin functions the scheduler jobs and CLI commands call."""
from __future__ import annotations

import datetime as dt

from flask import Flask, current_app

from services.core.db import db
from services.reminders import dispatcher, planner
from services.reminders.channels import build_sms_channel
from services.reminders.settings import ReminderSettings

STATUS_CALLBACK_PATH = "/api/v1/webhooks/twilio/status"


def reminder_settings(app: Flask | None = None) -> ReminderSettings:
    return (app or current_app).extensions["settings"].reminders


def status_callback_url(app: Flask | None = None) -> str:
    return (app or current_app).config["PUBLIC_BASE_URL"].rstrip("/") + STATUS_CALLBACK_PATH


def sms_channel(app: Flask | None = None):
    """The configured SMS channel, built once per process (the Twilio client keeps its connections)."""
    app = app or current_app._get_current_object()
    channel = app.extensions.get("sms_channel")
    if channel is None:
        c = app.config
        settings = {}
        if c["SMS_BACKEND"] == "twilio":
            settings = {"account_sid": c["TWILIO_ACCOUNT_SID"], "auth_token": c["TWILIO_AUTH_TOKEN"],
                        "from_number": c["TWILIO_FROM"], "messaging_service_sid": c["TWILIO_MESSAGING_SERVICE_SID"],
                        "status_callback_url": status_callback_url(app), "api_base": c["TWILIO_API_BASE"],
                        "timeout_seconds": c["TWILIO_TIMEOUT_SECONDS"]}
        channel = build_sms_channel(c["SMS_BACKEND"], **settings)
        app.extensions["sms_channel"] = channel
    return channel


def wechat_channel(app: Flask | None = None):
    app = app or current_app._get_current_object()
    if not app.config["WECHAT_TEMPLATE_IDS"]:
        return None
    channel = app.extensions.get("wechat_channel")
    if channel is None:
        from services.reminders.channels.wechat import WechatSubscribeChannel

        c = app.config
        channel = WechatSubscribeChannel(api_base=c["WECHAT_API_BASE"], app_id=c["WECHAT_APP_ID"],
                                         app_secret=c["WECHAT_APP_SECRET"], timeout_seconds=c["WECHAT_TIMEOUT_SECONDS"])
        app.extensions["wechat_channel"] = channel
    return channel


def plan(app: Flask, day: dt.date | None = None) -> planner.PlanResult:
    """Plan reminders for `day` (default today), committing each batch."""
    return planner.plan_reminders(day, reminder_settings(app), commit=db.session.commit)


def dispatch(app: Flask, **kwargs) -> dispatcher.DispatchResult:
    """Plan what cannot wait for the morning run (bookings, cancelled sessions), then send.

    Each of the dispatcher's sender threads works in an app context of its own,
    so in a session of its own (SMS_DISPATCH_THREADS of them on PostgreSQL)."""
    settings = reminder_settings(app)
    planner.plan_event_reminders(settings, commit=db.session.commit)
    channels = dispatcher.Channels(sms=sms_channel(app), wechat=wechat_channel(app))
    kwargs.setdefault("worker_context", app.app_context)
    return dispatcher.dispatch_once(channels, settings, **kwargs)
