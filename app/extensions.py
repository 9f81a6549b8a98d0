"""Extension objects; bound to the app in create_app (db lives in services.core.db)."""
from __future__ import annotations

from flask_compress import Compress
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_smorest import Api

from app.errors import ErrorBodySchema, handle_http_exception


class FdocApi(Api):
    """flask-smorest Api whose error body is the one of api.md."""

    ERROR_SCHEMA = ErrorBodySchema

    def handle_http_exception(self, error):  # noqa: D401 - flask-smorest hook
        return handle_http_exception(error)


api = FdocApi()
migrate = Migrate()
jwt = JWTManager()
# Headers off: Flask-Limiter would otherwise put Retry-After on successful
# responses too and rewrite ours; app.errors sets Retry-After on each 429.
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)

# Only the routes decorated with `compress.compressed()` (the sync pull) are
# compressed; COMPRESS_REGISTER is off in config.
compress = Compress()
