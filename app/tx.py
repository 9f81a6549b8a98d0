"""Committing at the boundary, once.

Routes call `commit()`; inside an idempotent request the commit is deferred
so the remembered response is written in the same transaction as the change.
"""
from __future__ import annotations

import functools
import hashlib

from flask import Response, g, request
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request

from services.core import idempotency
from services.core.db import db
from services.core.errors import Conflict, ValidationFailed

IDEMPOTENCY_HEADER = "Idempotency-Key"


def commit() -> None:
    if getattr(g, "defer_commit", False):
        db.session.flush()
    else:
        db.session.commit()


def _actor() -> str:
    try:
        verify_jwt_in_request(optional=True)
        identity = get_jwt_identity()
    except Exception:  # noqa: BLE001 - the view's own auth check reports token problems
        identity = None
    return identity or f"anonymous:{request.remote_addr}"


def _answer_for(existing, fingerprint: str) -> Response:
    """What a request whose key another request holds gets: the first answer again,
    or 409 while that one is still running, or 422 for another body under the key."""
    if existing.fingerprint != fingerprint:
        raise ValidationFailed.field(IDEMPOTENCY_HEADER, "该 Idempotency-Key 已用于另一个不同的请求",
                                     code="IDEMPOTENCY_KEY_REUSED")
    if existing.status_code == idempotency.IN_PROGRESS:
        raise Conflict("相同 Idempotency-Key 的请求正在处理，请稍后重试", code="IDEMPOTENCY_IN_PROGRESS",
                       headers={"Retry-After": "1"})
    resp = Response(existing.response_body, status=existing.status_code, mimetype="application/json")
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def idempotent(view):
    """Honour `Idempotency-Key` on a POST: of N requests with one key and one body,
    exactly one does the work; a retry replays its first 2xx response, a request
    that arrives while it runs gets 409 IDEMPOTENCY_IN_PROGRESS with Retry-After,
    and the same key with another body is 422 IDEMPOTENCY_KEY_REUSED."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if not key:
            return view(*args, **kwargs)
        key = key.strip()
        if not 1 <= len(key) <= 100:
            raise ValidationFailed.field(IDEMPOTENCY_HEADER, "Idempotency-Key 长度须在 1 到 100 之间",
                                         code="INVALID_IDEMPOTENCY_KEY")
        actor = _actor()
        fingerprint = hashlib.sha256(
            request.method.encode() + b" " + request.path.encode() + b"\n" + request.get_data()
        ).hexdigest()
        claimed = idempotency.claim(actor, key, request.method, request.path, fingerprint)
        if claimed.existing is not None:
            return _answer_for(claimed.existing, fingerprint)
        g.defer_commit = True
        try:
            resp = view(*args, **kwargs)
        except BaseException:
            g.defer_commit = False
            idempotency.release(claimed.record_id)
            raise
        g.defer_commit = False
        if not 200 <= resp.status_code < 300:
            idempotency.release(claimed.record_id)
            return resp
        idempotency.complete(claimed.record_id, resp.status_code, resp.get_data(as_text=True))
        db.session.commit()
        return resp

    doc = dict(getattr(wrapper, "_apidoc", {}) or {})
    manual = dict(doc.get("manual_doc", {}))
    manual["parameters"] = list(manual.get("parameters", [])) + [{
        "in": "header", "name": IDEMPOTENCY_HEADER, "required": False, "schema": {"type": "string", "maxLength": 100},
        "description": "可选：移动端重试时携带相同的键，返回首次结果且不重复创建",
    }]
    doc["manual_doc"] = manual
    wrapper._apidoc = doc
    return wrapper
