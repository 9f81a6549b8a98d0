"""SMS texts. Every text starts with the signature in 【】 and names no diagnosis."""
from __future__ import annotations


def login_code_text(signature: str, code: str, ttl_minutes: int) -> str:
    return f"【{signature}】您的登录验证码为{code}，{ttl_minutes}分钟内有效。如非本人操作，请忽略本短信。"
