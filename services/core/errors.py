"""Domain errors: each has a stable code, an HTTP-ish status and a Chinese message.

Services raise these; the HTTP layer turns them into the one error body.
"""
from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "BAD_REQUEST"
    message = "请求无效"

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 errors: dict[str, list[str]] | None = None, extra: dict | None = None,
                 headers: dict[str, str] | None = None):
        self.message = message or self.message
        if code:
            self.code = code
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(DomainError):
    """422: the input is well-formed but breaks a rule; `errors` names the fields."""

    status = 422
    code = "VALIDATION_ERROR"
    message = "提交的数据未通过校验"

    @classmethod
    def field(cls, field: str, message: str, *, code: str | None = None) -> "ValidationFailed":
        return cls(message, code=code, errors={field: [message]})


class NotFound(DomainError):
    """404: absent, or present but outside the caller's scope (never say which)."""

    status = 404
    code = "NOT_FOUND"
    message = "资源不存在"


class Conflict(DomainError):
    status = 409
    code = "CONFLICT"
    message = "与当前状态冲突"


class Unauthorized(DomainError):
    status = 401
    code = "UNAUTHORIZED"
    message = "未登录或登录已过期"


class Forbidden(DomainError):
    status = 403
    code = "FORBIDDEN"
    message = "当前角色无权执行此操作"


class TooManyRequests(DomainError):
    status = 429
    code = "RATE_LIMITED"
    message = "请求过于频繁，请稍后再试"


class UpstreamError(DomainError):
    """502: an external system (WeChat, SMS) failed; nothing was changed."""

    status = 502
    code = "UPSTREAM_ERROR"
    message = "外部服务暂时不可用，请稍后再试"
