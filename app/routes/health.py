from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import text

from services.db import db

blp = Blueprint("health", __name__, description="运行状态检查")


@blp.route("/healthz")
@blp.response(200)
def healthz():
    """进程存活（不访问数据库）"""
    return {"status": "ok"}


@blp.route("/readyz")
@blp.response(200)
@blp.alt_response(503, description="数据库不可达")
def readyz():
    """数据库可达时返回 200，否则 503"""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means not ready
        db.session.rollback()
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}
