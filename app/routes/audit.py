from __future__ import annotations

from flask_smorest import Blueprint

from app.auth import current_actor, login_required
from app.schemas.audit import AuditPageSchema, AuditQuerySchema
from services import audit
from services.pagination import paginate

blp = Blueprint("audit", __name__, url_prefix="/audit-logs", description="个人信息访问审计日志（管理员）")


@blp.route("", methods=["GET"])
@login_required("admin")
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditPageSchema)
def list_audit_logs(args):
    """谁在何时从何处读取、修改或查看了哪位居民的信息（管辖范围内，最新在前）"""
    stmt = audit.audit_query(current_actor().scope, resident_id=args.get("resident_id"),
                             action=args.get("action"), actor_type=args.get("actor_type"),
                             actor_id=args.get("actor_id"))
    return paginate(stmt, args["page"], args["page_size"]).as_dict()
