"""Extension objects; bound to the app in create_app (db lives in services.core.db)."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

import marshmallow as ma
from flask import current_app
from flask_compress import Compress
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_smorest import Api
from flask_smorest.arguments import ArgumentsMixin
from webargs.flaskparser import FlaskParser

from app.errors import ErrorBodySchema, handle_http_exception


class FdocApi(Api):
    """flask-smorest Api whose error body is the one of api.md."""

    ERROR_SCHEMA = ErrorBodySchema

    def handle_http_exception(self, error):  # noqa: D401 - flask-smorest hook
        return handle_http_exception(error)


class CachingJWTManager(JWTManager):
    """Verifies each distinct token once per worker, not once per request.

    A token string that verified (signature, claims) under this app's key is
    remembered with its claims; presenting the same string again skips the two
    decodes, but its `exp` and `nbf` are still checked against the clock each
    time, so an expired token is refused as before (and then decoded for real,
    so the error is the library's own). Tokens for CSRF checks or decoded with
    allow_expired are never cached. Bounded LRU; keyed by key + token.
    """

    MAX_ENTRIES = 20_000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._verified: OrderedDict[tuple, dict] = OrderedDict()
        self._verified_lock = threading.Lock()

    def _decode_jwt_from_config(self, encoded_token: str, csrf_value=None, allow_expired: bool = False) -> dict:
        if csrf_value is not None or allow_expired:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        config = current_app.config
        key = (config["JWT_SECRET_KEY"], encoded_token)
        now = time.time()
        leeway = config.get("JWT_DECODE_LEEWAY", 0)
        leeway = leeway.total_seconds() if hasattr(leeway, "total_seconds") else leeway
        with self._verified_lock:
            claims = self._verified.get(key)
            if claims is not None:
                self._verified.move_to_end(key)
        if claims is not None and claims.get("exp", now + 1) > now - leeway and claims.get("nbf", now) <= now + leeway:
            return dict(claims)
        claims = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        with self._verified_lock:
            self._verified[key] = dict(claims)
            while len(self._verified) > self.MAX_ENTRIES:
                self._verified.popitem(last=False)
        return claims


class SchemaReusingParser(FlaskParser):
    """webargs builds a new schema instance for every request when a route names a
    schema class (as every route here does); one instance per class serves them all
    (loading keeps no state on the schema)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._schemas: dict[type, ma.Schema] = {}

    def _get_schema(self, argmap, req):
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas.setdefault(argmap, argmap())
            return schema
        return super()._get_schema(argmap, req)


# Every Blueprint's @blp.arguments parses with it.
ArgumentsMixin.ARGUMENTS_PARSER = SchemaReusingParser()

api = FdocApi()
migrate = Migrate()
jwt = CachingJWTManager()
# Headers off: Flask-Limiter would otherwise put Retry-After on successful
# responses too and rewrite ours; app.errors sets Retry-After on each 429.
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)

# Only the routes decorated with `compress.compressed()` (the sync pull) are
# compressed; COMPRESS_REGISTER is off in config.
compress = Compress()
