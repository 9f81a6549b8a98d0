from __future__ import annotations

from flask import current_app, request
from flask_jwt_extended import get_jwt
from flask_smorest import Blueprint

from app.auth import (
    cipher,
    current_actor,
    decode_own_refresh_token,
    issue_tokens,
    login_required,
    optional_resident_id,
    settings,
    token_lifetime,
)
from app.extensions import limiter
from app.reminders import sms_channel
from app.schemas.access import (
    LogoutSchema,
    OtpAcceptedSchema,
    OtpRequestSchema,
    RefreshResponseSchema,
    ResidentLoginResponseSchema,
    ResidentLoginSchema,
    StaffLoginResponseSchema,
    StaffLoginSchema,
    WechatLoginSchema,
)
from app.tx import commit
from services import access
from services.core.errors import Unauthorized
from services.core.phones import PhoneError, normalize_mobile

blp = Blueprint("auth", __name__, url_prefix="/auth", description="登录与令牌")


def _staff_user(staff) -> dict:
    return {"id": staff.id, "username": staff.username, "name": staff.name, "role": staff.role,
            "institution_id": staff.team.institution_id if staff.team else staff.institution_id,
            "team_id": staff.team_id if staff.role == "doctor" else None,
            "team_role": staff.team_role, "community_id": staff.community_id}


@blp.route("/staff/login", methods=["POST"])
@limiter.limit(lambda: current_app.config["STAFF_LOGIN_RATE_LIMIT_PER_IP"], scope="staff-login-ip")
@blp.arguments(StaffLoginSchema)
@blp.response(200, StaffLoginResponseSchema)
@blp.alt_response(401, description="用户名或密码错误（INVALID_CREDENTIALS）")
@blp.alt_response(429, description="连续失败 5 次，账号锁定 15 分钟（ACCOUNT_LOCKED）")
def staff_login(body):
    """工作人员用户名密码登录"""
    outcome = access.authenticate_staff(body["username"], body["password"], request.remote_addr,
                                            settings().lockout)
    commit()  # failures and lockouts are recorded even when refused
    if outcome.error is not None:
        raise outcome.error
    staff = outcome.staff
    return {**issue_tokens("staff", staff.id, staff.role), "user": _staff_user(staff)}


def _phone_key() -> str:
    body = request.get_json(silent=True)
    raw = body.get("phone", "") if isinstance(body, dict) else ""
    raw = raw if isinstance(raw, str) else str(raw)
    raw = raw.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate must not break the key
    try:
        return "otp-phone:" + normalize_mobile(raw)
    except PhoneError:
        return "otp-phone:" + raw[:30]


@blp.route("/otp", methods=["POST"])
@limiter.limit(lambda: current_app.config["OTP_RATE_LIMIT_PER_PHONE"], key_func=_phone_key,
               scope="otp-phone")
@limiter.limit(lambda: current_app.config["OTP_RATE_LIMIT_PER_IP"], scope="otp-ip")
@blp.arguments(OtpRequestSchema)
@blp.response(202, OtpAcceptedSchema)
@blp.alt_response(429, description="发送过于频繁（按手机号和 IP 限流）")
def request_otp(body):
    """发送 6 位短信验证码（5 分钟内有效）

    无论手机号是否已建档都返回 202，不泄露居民是否存在；仅向已建档居民的手机号发送。
    """
    c = current_app.config
    channel = sms_channel()
    access.request_login_code(body["phone"], request.remote_addr, settings().otp, cipher(), channel,
                           c["SMS_SIGNATURE"])
    commit()
    return {"message": "如该手机号已在家庭医生处建档，验证码已发送", "expires_in": c["OTP_TTL_SECONDS"]}


def _resident_login_body(resident) -> dict:
    return {**issue_tokens("resident", resident.id, "resident"),
            "resident": {"id": resident.id, "name": resident.name, "role": "resident",
                         "wechat_linked": resident.wechat_openid is not None}}


@blp.route("/resident/login", methods=["POST"])
@blp.arguments(ResidentLoginSchema)
@blp.response(200, ResidentLoginResponseSchema)
@blp.alt_response(401, description="验证码错误或过期（OTP_INVALID）")
@blp.alt_response(409, description="一个手机号关联多位居民（RESIDENT_CHOICE_REQUIRED，附 candidates）")
def resident_login(body):
    """居民手机号 + 验证码登录；可同时传 wechat_code 绑定微信

    绑定微信是附带操作：微信不可用或 code 无效时仍然登录成功，
    `wechat_link_error` 给出未绑定的原因（如 WECHAT_UNAVAILABLE）。
    """
    outcome = access.verify_login_code(body["phone"], body["code"], settings().otp, cipher(),
                                    body.get("resident_id"))
    if outcome.error is not None:
        commit()  # the failed attempt counts
        raise outcome.error
    link_error = None
    if body.get("wechat_code"):
        link_error = access.try_link(outcome.resident, settings().wechat, body["wechat_code"])
    commit()
    return {**_resident_login_body(outcome.resident), "wechat_link_error": link_error}


@blp.route("/wechat/login", methods=["POST"])
@blp.arguments(WechatLoginSchema)
@blp.response(200, ResidentLoginResponseSchema)
@blp.alt_response(401, description="微信尚未绑定居民（WECHAT_NOT_LINKED）或 code 无效")
@blp.alt_response(502, description="微信接口不可用（WECHAT_UNAVAILABLE）")
def wechat_login(body):
    """微信小程序登录（jscode2session）

    已绑定的微信直接登录。未绑定时：若请求带有居民的访问令牌（先用手机号验证码登录），
    则把该微信绑定到此居民并登录；否则返回 401 WECHAT_NOT_LINKED。
    """
    session = access.code_to_session(settings().wechat, body["code"])
    resident = access.sign_in(session.openid, optional_resident_id())
    commit()
    return _resident_login_body(resident)


@blp.route("/refresh", methods=["POST"])
@login_required(refresh=True)
@blp.response(200, RefreshResponseSchema)
@blp.alt_response(401, description="刷新令牌无效、过期或已注销（TOKEN_INVALID / TOKEN_EXPIRED / TOKEN_REVOKED）；"
                                   "已使用过的刷新令牌再次出现（TOKEN_REUSED）：视为被盗用，"
                                   "本次登录的全部访问令牌和刷新令牌随即注销，须重新登录")
def refresh():
    """用刷新令牌换取新的访问令牌和新的刷新令牌（Authorization: Bearer <refresh_token>）

    刷新令牌只能使用一次：每次刷新返回新的 `refresh_token`，旧的随即作废。
    同一刷新令牌被再次使用（包括两个请求同时使用）时，只有一个请求成功，
    其余请求返回 401 TOKEN_REUSED，且该次登录签发的所有令牌（含刚换出的新令牌）一并注销。
    """
    claims = get_jwt()
    family = access.family_of(claims)
    if not access.rotate_refresh_token(claims["jti"], claims["sub"], family, access.expiry_of(claims),
                                       token_lifetime()):
        commit()  # the family stays revoked although the answer is an error
        raise Unauthorized("该刷新令牌已使用过，可能已被他人获取；为保护账号安全，本次登录已全部注销，请重新登录",
                           code="TOKEN_REUSED")
    actor = current_actor()
    kind, _, raw_id = claims["sub"].partition(":")
    body = issue_tokens(kind, int(raw_id), actor.role, family=family)
    commit()
    return body


@blp.route("/logout", methods=["POST"])
@login_required()
@blp.arguments(LogoutSchema, required=False)
@blp.response(204)
def logout(body):
    """注销：吊销当前访问令牌及其所属的整次登录（同一令牌族的全部访问令牌和刷新令牌），
    以及请求体中可选的刷新令牌（连同其令牌族）"""
    claims = get_jwt()
    refresh_token = (body or {}).get("refresh_token")
    refresh_claims = decode_own_refresh_token(refresh_token, claims["sub"]) if refresh_token else None
    access.revoke_claims(claims)
    families = {claims[access.FAMILY_CLAIM]} if claims.get(access.FAMILY_CLAIM) else set()
    if refresh_claims is not None:
        access.revoke_claims(refresh_claims)
        families.add(access.family_of(refresh_claims))
    for family in sorted(families):
        access.revoke_family(family, claims["sub"], "logout", token_lifetime())
    commit()
    return None
