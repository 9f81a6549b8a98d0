"""Who is calling: JWT identities, role checks and the caller's scope.

Identities are "staff:<id>" or "resident:<id>"; the role travels as a claim.
Whether the account is still active, the token and its sign-in unrevoked, and
the staff member's scope are one lookup per token, cached for a few seconds
(services/access/principals.py): a change made in this process is seen at
once, one made in another worker within AUTH_CACHE_SECONDS, far inside an
access token's lifetime. Each sign-in is a token family (the `fam` claim,
kept through every refresh-token rotation; see services/access/tokens.py): a
revoked family refuses all of its tokens. Refresh tokens are never cached.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from flask import current_app, g, request
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    decode_token,
    get_jwt,
    get_jwt_identity,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError

from app.config import Settings
from app.errors import error_response
from app.extensions import jwt
from services.access import tokens
from services.access.principals import Principal, PrincipalCache, principal_for
from services.access.scope import Scope
from services.core.audit import RequestContext
from services.core.crypto import PiiCipher
from services.core.errors import Forbidden, Unauthorized

BEARER = {"security": [{"bearerAuth": []}]}


@dataclass
class Actor:
    scope: Scope

    @property
    def role(self) -> str:
        return self.scope.role


def issue_tokens(kind: str, subject_id: int, role: str, family: str | None = None) -> dict:
    """An access and a refresh token. A sign-in starts a new token family (the
    `fam` claim of both); a refresh passes the family of the token it retires."""
    identity = f"{kind}:{subject_id}"
    claims = {"role": role, tokens.FAMILY_CLAIM: family or tokens.new_family_id()}
    return {
        "access_token": create_access_token(identity=identity, additional_claims=claims),
        "refresh_token": create_refresh_token(identity=identity, additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
    }


def token_lifetime() -> dt.timedelta:
    """The longest any token lives: how long a revoked family must be remembered."""
    c = current_app.config
    return max(c["JWT_ACCESS_TOKEN_EXPIRES"], c["JWT_REFRESH_TOKEN_EXPIRES"])


def principal_cache() -> PrincipalCache | None:
    return current_app.extensions.get("principal_cache")


def _principal(payload: dict) -> Principal:
    """The one (cached) lookup behind a decoded token, remembered for the request."""
    # Per request (not on g: an app context may outlive a request, as in tests).
    known = request.environ.setdefault("fdoc.principals", {})
    jti = payload.get("jti")
    if jti in known:
        return known[jti]
    kind, _, raw_id = str(payload.get("sub") or "").partition(":")
    if not raw_id.isdigit() or kind not in ("staff", "resident"):
        raise Unauthorized("登录凭证无效", code="TOKEN_INVALID")
    if payload.get("type") == "refresh":
        # Never cached; revocation was checked by the blocklist loader (a used
        # refresh token must reach POST /auth/refresh to be seen as reused).
        principal = principal_for(kind, int(raw_id), None, None, None)
    else:
        principal = principal_for(kind, int(raw_id), jti, payload.get(tokens.FAMILY_CLAIM), principal_cache())
    known[jti] = principal
    return principal


def _load_actor(payload: dict) -> Actor:
    principal = _principal(payload)
    if principal.scope is not None:
        return Actor(scope=principal.scope)
    if principal.refusal == "revoked":
        raise Unauthorized("登录凭证已注销，请重新登录", code="TOKEN_REVOKED")
    if principal.refusal == "missing":
        raise Unauthorized("居民账号不存在", code="TOKEN_INVALID")
    raise Unauthorized("账号不存在或已停用", code="TOKEN_INVALID")


def current_actor() -> Actor:
    return g.actor


def login_required(*roles: str, refresh: bool = False):
    """Require a valid access token (or refresh token) and one of `roles` (any if empty)."""

    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            verify_jwt_in_request(refresh=refresh)
            actor = _load_actor(get_jwt())
            if roles and actor.role not in roles:
                raise Forbidden()
            g.actor = actor
            return func(*args, **kwargs)

        doc = dict(getattr(wrapper, "_apidoc", {}) or {})
        manual = dict(doc.get("manual_doc", {}))
        manual.update(BEARER)
        doc["manual_doc"] = manual
        wrapper._apidoc = doc
        return wrapper

    return decorator


def acting_scope(resident_id: int | None = None):
    """The caller's scope; for a resident naming an actively linked family member (家庭成员), that
    member's scope with the caller recorded as the actor; anyone else named is 404."""
    from services.residents import family

    return family.acting_scope(current_actor().scope, resident_id)


def acting_scope_for(kind: str, record_id: int):
    """As acting_scope, for a record named by its id (`appointment` or `contract`): a linked member's
    record is read and changed in the member's scope; anything else is left to the caller's (404)."""
    from services.residents import family

    return family.acting_scope_for_record(current_actor().scope, kind, record_id)


def optional_actor() -> Actor | None:
    """The caller if the request carries a valid token, else None (public endpoints)."""
    verify_jwt_in_request(optional=True)
    if not get_jwt_identity():
        return None
    g.actor = _load_actor(get_jwt())
    return g.actor


def optional_resident_id() -> int | None:
    """The signed-in resident's id if the request carries a valid resident token."""
    verify_jwt_in_request(optional=True)
    kind, _, raw_id = (get_jwt_identity() or "").partition(":")
    return int(raw_id) if kind == "resident" and raw_id.isdigit() else None


def decode_own_refresh_token(raw: str, subject: str) -> dict:
    """Decode a refresh token the caller wants revoked; it must be their own."""
    try:
        decoded = decode_token(raw, allow_expired=True)
    except (JWTExtendedException, PyJWTError) as exc:
        raise Unauthorized("刷新令牌无效", code="TOKEN_INVALID") from exc
    if decoded.get("sub") != subject or decoded.get("type") != "refresh":
        raise Unauthorized("刷新令牌与当前登录用户不符", code="TOKEN_INVALID")
    return decoded


def request_context() -> RequestContext:
    return RequestContext(ip=request.remote_addr, user_agent=request.headers.get("User-Agent"),
                          request_id=getattr(g, "request_id", None))


def cipher() -> PiiCipher:
    return current_app.extensions["pii_cipher"]


def settings() -> Settings:
    """The typed settings built once in create_app."""
    return current_app.extensions["settings"]


# flask-jwt-extended hooks: revoked ids live in the database; every auth error
# uses the one error body.
@jwt.token_in_blocklist_loader
def _is_revoked(_header, payload) -> bool:
    if payload.get("type") == "refresh":
        # Refresh tokens are only accepted by POST /auth/refresh. A used one is
        # let through to it (unless its family is revoked already) so that the
        # endpoint sees the reuse, revokes the family and answers TOKEN_REUSED.
        return tokens.is_family_revoked(tokens.family_of(payload))
    # An access token: the revocation check is part of the one cached lookup.
    return _principal(payload).refusal == "revoked"


@jwt.unauthorized_loader
def _missing(reason):
    return error_response(401, "UNAUTHORIZED", "未登录：请在 Authorization 头中携带 Bearer 令牌")


@jwt.invalid_token_loader
def _invalid(reason):
    return error_response(401, "TOKEN_INVALID", "登录凭证无效")


@jwt.expired_token_loader
def _expired(_header, _payload):
    return error_response(401, "TOKEN_EXPIRED", "登录已过期，请刷新令牌或重新登录")


@jwt.revoked_token_loader
def _revoked(_header, _payload):
    return error_response(401, "TOKEN_REVOKED", "登录凭证已注销，请重新登录")


@jwt.needs_fresh_token_loader
def _needs_fresh(_header, _payload):
    return error_response(401, "FRESH_TOKEN_REQUIRED", "请重新登录后再试")


@jwt.user_lookup_error_loader
def _lookup_error(_header, _payload):
    return error_response(401, "TOKEN_INVALID", "登录凭证无效")
