from __future__ import annotations

from flask_smorest import Blueprint

from app.auth import current_actor, login_required
from app.schemas.audit import AuditPageSchema, AuditQuerySchema
from services.core import audit

blp = Blueprint("audit", __name__, url_prefix="/audit-logs", description="个人信息访问审计日志（管理员）")


@blp.route("", methods=["GET"])
@login_required("admin")
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditPageSchema)
def list_audit_logs(args):
    """谁在何时从何处读取、修改或查看了哪位居民的信息（管辖范围内，最新在前）"""
    page, page_size = args.pop("page"), args.pop("page_size")
    return audit.audit_page(current_actor().scope, args, page, page_size)
