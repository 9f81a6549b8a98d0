"""Sign-in and scope (登录与权限): staff passwords with lockout, residents' SMS
codes, WeChat mini-program sign-in, revoked tokens and token families
(single-use refresh tokens with reuse detection), and the `Scope` that says
which residents, teams and institutions a caller may see.
"""
from services.core.exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "staff_login": ("LockoutPolicy", "authenticate_staff", "hash_password"),
    "sms_codes": ("OtpPolicy", "request_login_code", "verify_login_code"),
    "wechat_login": ("WechatSettings", "code_to_session", "sign_in", "try_link"),
    "tokens": ("FAMILY_CLAIM", "expiry_of", "family_of", "revoke_claims", "revoke_family",
               "rotate_refresh_token"),
    "scope": ("Scope", "scope_for_resident", "scope_for_staff", "staff_scope"),
})
