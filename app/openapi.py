"""Every operation documents each error status it can return, with the one error body.

Views document their own domain errors (`alt_response(409, description="SLOT_FULL…")`);
the statuses the plumbing adds to every operation of a kind are documented here,
once, after the blueprints are registered: 400 and 413 for a body, 422 for
parameters or a body, 401/403 for a signed-in operation, 404 for a path with an
id or a signed-in operation (records it names may not be the caller's),
409/422 for `Idempotency-Key`, 414 for any over-long URL.
"""
from __future__ import annotations

from flask_smorest import Api

ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
METHODS = ("get", "post", "put", "patch", "delete")

DESCRIPTIONS = {
    400: "MALFORMED_REQUEST（请求体不是有效的 JSON，或嵌套过深）",
    401: "UNAUTHORIZED、TOKEN_EXPIRED、TOKEN_INVALID、TOKEN_REVOKED（未登录或登录已过期）",
    403: "FORBIDDEN（当前角色无权执行此操作）",
    404: "不存在或不在管辖范围内",
    409: "与当前状态冲突；携带 Idempotency-Key 时 IDEMPOTENCY_IN_PROGRESS（Retry-After）",
    413: "PAYLOAD_TOO_LARGE（请求体过大）",
    414: "URI_TOO_LONG（请求地址过长）",
    415: "UNSUPPORTED_MEDIA_TYPE（请求体须为 JSON）",
    422: "VALIDATION_ERROR（字段校验失败，errors 给出字段信息）；IDEMPOTENCY_KEY_REUSED",
    429: "RATE_LIMITED（请求过于频繁，Retry-After 给出秒数）",
}


def _statuses(path: str, method: str, op: dict) -> set[int]:
    statuses = {414}
    has_body = "requestBody" in op or method in ("post", "put", "patch")
    if has_body:
        statuses |= {400, 413, 415, 422}
    if method in ("post", "put", "patch", "delete") and op.get("security"):
        statuses.add(409)  # a write can meet a state that forbids it (the view's own 409 says which)
    params = op.get("parameters") or []
    if any(p.get("in") in ("query", "header") for p in params if isinstance(p, dict)) or has_body:
        statuses.add(422)
    if op.get("security"):
        statuses |= {401, 403, 404}  # 404: a record named in the path, query or body is not the caller's
    if "{" in path:
        statuses.add(404)
    if any(isinstance(p, dict) and p.get("name") == "Idempotency-Key" for p in params):
        statuses |= {409, 422}
    return statuses


def document_error_responses(api: Api) -> None:
    for path, operations in api.spec._paths.items():  # apispec keeps registered paths here
        for method, op in operations.items():
            if method not in METHODS or not isinstance(op, dict):
                continue
            responses = op.setdefault("responses", {})
            present = {int(k) for k in responses if str(k).isdigit()}
            for status in _statuses(path, method, op) - present:
                responses[str(status)] = {"description": DESCRIPTIONS[status], "content": ERROR_REF}
            for key, response in responses.items():
                if str(key).isdigit() and int(key) >= 400 and isinstance(response, dict) and "$ref" not in response:
                    response.setdefault("content", ERROR_REF)
