"""WeChat mini-program sign-in: jscode2session, and the openid <-> resident link."""
from __future__ import annotations

from dataclasses import dataclass

import requests
from sqlalchemy import select

from services.core.db import db
from services.core.errors import Conflict, DomainError, TooManyRequests, Unauthorized, UpstreamError
from services.models import Resident


@dataclass(frozen=True)
class WechatSettings:
    api_base: str
    app_id: str
    app_secret: str
    timeout: float = 5.0


@dataclass(frozen=True)
class WechatSession:
    openid: str
    unionid: str | None


def code_to_session(settings: WechatSettings, js_code: str) -> WechatSession:
    """GET /sns/jscode2session as WeChat documents it; errors become domain errors."""
    url = settings.api_base.rstrip("/") + "/sns/jscode2session"
    params = {"appid": settings.app_id, "secret": settings.app_secret,
              "js_code": js_code, "grant_type": "authorization_code"}
    try:
        resp = requests.get(url, params=params, timeout=settings.timeout)
        data = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise UpstreamError("微信登录服务暂时不可用，请稍后再试", code="WECHAT_UNAVAILABLE") from exc
    errcode = data.get("errcode") or 0
    if errcode == 0 and data.get("openid"):
        return WechatSession(openid=data["openid"], unionid=data.get("unionid"))
    if errcode in (40029, 40163, 40226):
        raise Unauthorized("微信登录凭证无效或已使用，请重新登录", code="WECHAT_CODE_INVALID")
    if errcode == 45011:
        raise TooManyRequests("微信登录过于频繁，请稍后再试")
    raise UpstreamError(f"微信登录失败（错误码 {errcode}）", code="WECHAT_ERROR")


def resident_for_openid(openid: str) -> Resident | None:
    return db.session.scalar(select(Resident).where(Resident.wechat_openid == openid))


def link_openid(resident: Resident, openid: str) -> None:
    """Bind a WeChat account to a resident; one openid belongs to one resident."""
    other = resident_for_openid(openid)
    if other is not None and other.id != resident.id:
        raise Conflict("该微信账号已绑定其他居民", code="WECHAT_ALREADY_LINKED")
    resident.wechat_openid = openid


def try_link(resident: Resident, settings: WechatSettings, js_code: str) -> str | None:
    """Link the WeChat account behind `js_code` to the resident if WeChat
    agrees; returns the error code when it could not (the link is optional,
    so a failure here must not undo a successful SMS-code login)."""
    try:
        session = code_to_session(settings, js_code)
        link_openid(resident, session.openid)
    except DomainError as exc:
        return exc.code
    return None


def sign_in(openid: str, signed_in_resident_id: int | None) -> Resident:
    """The resident for this WeChat account. An account not yet linked is
    linked to the resident who is already signed in (after an SMS-code
    login); with nobody signed in it is refused."""
    resident = resident_for_openid(openid)
    if resident is not None:
        return resident
    if signed_in_resident_id is None:
        raise Unauthorized("该微信尚未绑定居民，请先使用手机号验证码登录完成绑定", code="WECHAT_NOT_LINKED")
    resident = db.session.get(Resident, signed_in_resident_id)
    if resident is None:
        raise Unauthorized("居民账号不存在", code="TOKEN_INVALID")
    link_openid(resident, openid)
    return resident
