"""Every message text in one place.

SMS texts are notifications (通知类短信): they start with the signature in
【】, carry no promotion and never name a diagnosis or a programme, only "a
health follow-up service", so a shared family phone reveals nothing.
"""
from __future__ import annotations

import datetime as dt

TEMPLATES = {
    "login_code": "【{sig}】您的登录验证码为{code}，{ttl}分钟内有效。如非本人操作，请忽略本短信。",
    "followup_due": "【{sig}】您有一项健康随访服务将于{date}到期，请联系您的家庭医生团队{contact}。",
    "followup_overdue": "【{sig}】您的健康随访服务已于{date}到期，请尽快联系您的家庭医生团队{contact}。",
    "appointment_reminder": "【{sig}】温馨提醒：您已预约{date} {time}的家庭医生服务（{place}），请按时前往。"
                            "如需改约请联系{contact}。",
    "contract_ending": "【{sig}】您的家庭医生签约服务将于{date}到期，如需续约请联系您的家庭医生团队{contact}。",
    "session_cancelled": "【{sig}】抱歉，您预约的{date} {time}家庭医生服务（{place}）因故取消，"
                         "请重新预约或联系{contact}。",
}
# WeChat subscribe-message values are short (a `thing` value holds at most 20 characters).
WECHAT_TITLES = {
    "followup_due": "健康随访即将到期",
    "followup_overdue": "健康随访已到期",
    "appointment_reminder": "预约就诊提醒",
    "contract_ending": "家庭医生签约即将到期",
    "session_cancelled": "预约已取消",
}


def month_day(day: dt.date) -> str:
    return f"{day.month}月{day.day}日"


def render(template_code: str, signature: str, **values: str) -> str:
    return TEMPLATES[template_code].format(sig=signature, **values)


def login_code_text(signature: str, code: str, ttl_minutes: int) -> str:
    return render("login_code", signature, code=code, ttl=str(ttl_minutes))


def wechat_data(kind: str, when: str, note: str) -> dict[str, str]:
    """Values for a subscribe-message template with fields thing1 (what), time2 (when), thing3 (note)."""
    return {"thing1": WECHAT_TITLES[kind][:20], "time2": when, "thing3": note[:20]}
