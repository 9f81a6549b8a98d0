"""create_app(): config, extensions, blueprints, error handlers, CLI."""
from __future__ import annotations

import datetime as dt
import logging
import os
import uuid

from flask import Flask, g, request, send_from_directory
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import build_settings, insecure_settings, load_config


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True, static_folder=None)  # /admin/static serves the page's files
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(load_config(app.instance_path))
    if overrides:
        app.config.update(overrides)
    _check_production(app)
    logging.basicConfig(level=app.config["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    from services.core import clock
    clock.set_zone(app.config["TIMEZONE"])

    app.config["JWT_ACCESS_TOKEN_EXPIRES"] = dt.timedelta(
        seconds=app.config.get("JWT_ACCESS_SECONDS") or app.config["JWT_ACCESS_MINUTES"] * 60)
    app.config["JWT_REFRESH_TOKEN_EXPIRES"] = dt.timedelta(days=app.config["JWT_REFRESH_DAYS"])
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    from werkzeug.routing import IntegerConverter

    from app import schemas  # noqa: F401  (Chinese marshmallow messages)
    from app.schemas.common import INT_MAX
    NO_SUCH_ID = -1  # ids start at 1

    class IdConverter(IntegerConverter):
        """<int:...> path ids: ASCII digits only ("１" is no id), and one beyond the
        32-bit key range becomes an id no row has, so the route answers its 404."""

        regex = r"[0-9]+"

        def to_python(self, value: str) -> int:
            number = int(value)
            return number if number <= INT_MAX else NO_SUCH_ID

    app.url_map.converters["int"] = IdConverter
    from app.errors import register_error_handlers
    from app.extensions import api, compress, jwt, limiter, migrate
    from services import models  # noqa: F401  (register every table)
    from services.core.crypto import PiiCipher
    from services.core.db import db, render_item

    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True, render_item=render_item)
    jwt.init_app(app)
    limiter.init_app(app)
    compress.init_app(app)
    from services.sync.feed import install_change_tracking
    install_change_tracking()
    app.extensions["pii_cipher"] = PiiCipher(app.config["PII_ENCRYPTION_KEY"])
    app.extensions["followup_rules"] = _followup_rules(app)
    app.extensions["settings"] = build_settings(app.config)
    from app import auth  # noqa: F401  (JWT loaders)
    _install_principal_cache(app)

    if not os.environ.get("SWAGGER_UI_URL") and _swagger_ui_path():
        app.config["OPENAPI_SWAGGER_UI_URL"] = "/api/swagger-ui/"
    api.init_app(app, spec_kwargs={
        "components": {"securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "info": {"description": _API_DESCRIPTION},
    })
    from app.routes import register_blueprints
    register_blueprints(app, api)
    from app.openapi import document_error_responses
    document_error_responses(api)
    register_error_handlers(app)
    _register_request_id(app)
    _register_request_guards(app)
    _register_swagger_assets(app)

    from app.cli import register_cli
    register_cli(app)
    return app


_API_DESCRIPTION = (
    "县域医共体家庭医生签约、慢病随访、预约与提醒服务的后端接口。\n\n"
    "所有接口前缀 `/api/v1`；错误统一返回 `{code, message, errors?, details?}`；"
    "列表统一返回 `{items, page, page_size, total}`。"
    "身份证号与手机号默认脱敏，查看原文须调用 reveal 接口并记入审计日志。"
)


def _install_principal_cache(app: Flask) -> None:
    """Who each token speaks for, remembered per process (services/access/principals.py)."""
    from flask import current_app, has_app_context

    from services.access.principals import PrincipalCache, install_invalidation

    ttl = min(app.config["AUTH_CACHE_SECONDS"], app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds() / 2)
    app.extensions["principal_cache"] = PrincipalCache(ttl)
    install_invalidation(lambda: current_app.extensions.get("principal_cache") if has_app_context() else None)


def _followup_rules(app: Flask):
    """The follow-up rules: national defaults, overridden by FOLLOWUP_RULES_FILE (JSON) if set."""
    import json

    from services.followup.judgement.rules import load_rules

    path = app.config.get("FOLLOWUP_RULES_FILE")
    overrides = None
    if path:
        with open(path, encoding="utf-8") as fh:
            overrides = json.load(fh)
    return load_rules(overrides)


def _check_production(app: Flask) -> None:
    if app.config.get("APP_ENV") != "production":
        return
    problems = insecure_settings(app.config)
    if problems:
        detail = "; ".join(f"{p.name}: {p.reason}" for p in problems)
        raise RuntimeError(f"refusing to start in production with insecure settings: {detail}")


def _register_request_id(app: Flask) -> None:
    @app.before_request
    def _assign_request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming[:64] if incoming else uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response):
        if getattr(g, "request_id", None):
            response.headers["X-Request-ID"] = g.request_id
        return response


MAX_JSON_DEPTH = 32


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests arrays/objects deeper than `limit`, found by one
    scan of the bytes (outside strings) before any parser recurses into it."""
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _register_request_guards(app: Flask) -> None:
    """Refuse, with the one error body, what must never reach a view: an over-long
    URL (414) and JSON nested deeper than any document of this API (400)."""
    from app.errors import error_response

    @app.before_request
    def _guard_request():
        if len(request.full_path) > app.config["MAX_URL_LENGTH"]:
            return error_response(414, "URI_TOO_LONG", f"请求地址过长（最长 {app.config['MAX_URL_LENGTH']} 个字符）")
        if request.is_json and request.content_length != 0:
            raw = request.get_data(cache=True)
            if raw and json_too_deep(raw):
                return error_response(400, "MALFORMED_REQUEST", f"请求体 JSON 嵌套过深（最多 {MAX_JSON_DEPTH} 层）")
        return None


def _register_swagger_assets(app: Flask) -> None:
    """Serve Swagger UI's files locally so /api/docs works without internet."""
    path = _swagger_ui_path()
    if path is None:  # pragma: no cover - falls back to the CDN setting
        return

    @app.route("/api/swagger-ui/<path:filename>")
    def swagger_ui_asset(filename):
        return send_from_directory(path, filename)


def _swagger_ui_path() -> str | None:
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # pragma: no cover
        return None
    return swagger_ui_path
