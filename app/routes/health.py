from __future__ import annotations

from flask_smorest import Blueprint

from services.core.db import database_reachable

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
    if not database_reachable():
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}
