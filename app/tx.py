"""Committing at the boundary, once.

Routes call `commit()`; inside an idempotent request the commit is deferred
so the remembered response is written in the same transaction as the change.
"""
from __future__ import annotations

import functools
import hashlib

from flask import Response, g, request
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from sqlalchemy.exc import IntegrityError

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


def idempotent(view):
    """Honour `Idempotency-Key` on a POST: a retry with the same key and body
    returns the first 2xx response and changes nothing; the same key with a
    different body is refused (422 IDEMPOTENCY_KEY_REUSED)."""

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
        existing = idempotency.find(actor, key)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise ValidationFailed.field(IDEMPOTENCY_HEADER, "该 Idempotency-Key 已用于另一个不同的请求",
                                             code="IDEMPOTENCY_KEY_REUSED")
            resp = Response(existing.response_body, status=existing.status_code, mimetype="application/json")
            resp.headers["Idempotent-Replayed"] = "true"
            return resp
        g.defer_commit = True
        try:
            resp = view(*args, **kwargs)
        finally:
            g.defer_commit = False
        if 200 <= resp.status_code < 300:
            idempotency.remember(actor, key, request.method, request.path, fingerprint,
                                 resp.status_code, resp.get_data(as_text=True))
        try:
            db.session.commit()
        except IntegrityError as exc:
            db.session.rollback()
            raise Conflict("相同 Idempotency-Key 的请求正在处理，请稍后重试",
                           code="IDEMPOTENCY_IN_PROGRESS") from exc
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
