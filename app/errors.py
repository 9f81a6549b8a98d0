"""One error body for every error: {"code", "message", "errors"?, "details"?}.

DomainError -> its status and code; webargs/marshmallow validation -> 422
with field messages; 404/405 and every other HTTP error -> the same body;
anything unexpected -> 500, logged with the request id, no internals.
"""
from __future__ import annotations

import logging
import time

import marshmallow as ma
from flask import Flask, g, jsonify
from werkzeug.exceptions import HTTPException

from services.core.db import db
from services.core.errors import DomainError

log = logging.getLogger("fdoc.errors")

HTTP_CODES = {
    400: ("BAD_REQUEST", "请求格式错误"),
    401: ("UNAUTHORIZED", "未登录或登录已过期"),
    403: ("FORBIDDEN", "当前角色无权执行此操作"),
    404: ("NOT_FOUND", "资源不存在"),
    405: ("METHOD_NOT_ALLOWED", "不支持该请求方法"),
    409: ("CONFLICT", "与当前状态冲突"),
    413: ("PAYLOAD_TOO_LARGE", "请求体过大"),
    414: ("URI_TOO_LONG", "请求地址过长"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "请求体须为 JSON（Content-Type: application/json）"),
    422: ("VALIDATION_ERROR", "提交的数据未通过校验"),
    429: ("RATE_LIMITED", "请求过于频繁，请稍后再试"),
    500: ("INTERNAL_ERROR", "服务器内部错误"),
}


class ErrorBodySchema(ma.Schema):
    """The error body of every non-2xx response (documentation only)."""

    code = ma.fields.String(metadata={"description": "稳定的错误代码，如 NOT_FOUND、SLOT_FULL"})
    message = ma.fields.String(metadata={"description": "中文说明"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "字段 -> 错误信息列表（仅校验错误）"},
    )
    details = ma.fields.Dict(
        keys=ma.fields.String(),
        metadata={"description": "客户端据以处理的附加信息，如签约的当前 status、locked_until、open_to_all_at、"
                                 "脱敏的 candidates；500 时为 request_id（用于排查）"},
    )


def error_response(status: int, code: str, message: str, errors: dict | None = None,
                   headers: dict | None = None, extra: dict | None = None):
    body: dict = {"code": code, "message": message}
    if errors:
        body["errors"] = errors
    if extra:
        body["details"] = extra
    resp = jsonify(body)
    resp.status_code = status
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def flatten_messages(messages, prefix: str = "") -> dict[str, list[str]]:
    """webargs nests messages by location and field; api.md wants field -> [str]."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            key = str(key)
            if not prefix and key in ("json", "query", "form", "headers", "files", "view_args", "path"):
                child = flatten_messages(value, "")
            else:
                child = flatten_messages(value, f"{prefix}.{key}" if prefix else key)
            for k, v in child.items():
                out.setdefault(k, []).extend(v)
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            out[prefix or "_schema"] = list(messages)
        else:
            for item in messages:
                for k, v in flatten_messages(item, prefix).items():
                    out.setdefault(k, []).extend(v)
    else:
        out[prefix or "_schema"] = [str(messages)]
    return out


def handle_http_exception(error: HTTPException):
    status = error.code or 500
    code, message = HTTP_CODES.get(status, ("HTTP_ERROR", error.name))
    data = getattr(error, "data", None) or {}
    headers = data.get("headers") or {}
    errors = None
    if status in (400, 422) and ("messages" in data or "errors" in data):
        errors = flatten_messages(data.get("errors") or data.get("messages"))
        if status == 400 or _is_json_decode_error(errors):
            db.session.rollback()
            return error_response(400, "MALFORMED_REQUEST", "请求体不是有效的 JSON", headers=headers)
    if "message" in data and isinstance(data["message"], str):
        message = data["message"]
    if status == 429:
        headers = {**headers, "Retry-After": str(_retry_after_seconds())}
    if status >= 500:
        return handle_unexpected(error)
    db.session.rollback()
    return error_response(status, code, message, errors=errors, headers=headers)


def _retry_after_seconds() -> int:
    """Seconds until the limit that was just hit resets (Flask-Limiter's window)."""
    from app.extensions import limiter

    try:
        current = limiter.current_limit
        if current is not None:
            return max(1, int(current.reset_at - time.time()) + 1)
    except Exception:  # noqa: BLE001 - a header must never turn a 429 into a 500
        pass
    return 60


def _is_json_decode_error(errors: dict[str, list[str]]) -> bool:
    return any("Invalid JSON" in m for msgs in errors.values() for m in msgs)


def handle_domain_error(error: DomainError):
    db.session.rollback()
    return error_response(error.status, error.code, error.message, errors=error.errors,
                          headers=error.headers, extra=error.extra)


def handle_unexpected(error: Exception):
    db.session.rollback()
    request_id = getattr(g, "request_id", None)
    original = getattr(error, "original_exception", None) or error
    log.error("unhandled error request_id=%s", request_id, exc_info=original)
    code, message = HTTP_CODES[500]
    return error_response(
        500, code, f"{message}，请联系管理员（请求编号 {request_id}）",
        extra={"request_id": request_id},
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(Exception, handle_unexpected)
