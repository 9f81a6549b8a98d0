from __future__ import annotations

from flask_smorest import Blueprint

from app.auth import current_actor, login_required
from app.schemas.admin import StaffCreateSchema, StaffPageSchema, StaffQuerySchema, StaffSchema, StaffUpdateSchema
from app.tx import commit, idempotent
from services import admin
from services.pagination import paginate

blp = Blueprint("staff", __name__, url_prefix="/staff", description="工作人员账号管理（管理员）")


@blp.route("", methods=["GET"])
@login_required("admin")
@blp.arguments(StaffQuerySchema, location="query")
@blp.response(200, StaffPageSchema)
def list_staff(args):
    """管辖范围内的工作人员"""
    stmt = admin.staff_query(current_actor().scope, team_id=args.get("team_id"), role=args.get("role"),
                             institution_id=args.get("institution_id"))
    return paginate(stmt, args["page"], args["page_size"]).as_dict()


@blp.route("", methods=["POST"])
@idempotent
@login_required("admin")
@blp.arguments(StaffCreateSchema)
@blp.response(201, StaffSchema)
@blp.alt_response(409, description="用户名已被使用（USERNAME_TAKEN）")
def create_staff(body):
    """新建工作人员账号（团队成员或管理员）"""
    staff = admin.create_staff(body, current_actor().scope)
    commit()
    return staff


@blp.route("/<int:staff_id>", methods=["GET"])
@login_required("admin")
@blp.response(200, StaffSchema)
def get_staff(staff_id):
    """单个工作人员"""
    return admin.get_staff(staff_id, current_actor().scope)


@blp.route("/<int:staff_id>", methods=["PATCH"])
@login_required("admin")
@blp.arguments(StaffUpdateSchema)
@blp.response(200, StaffSchema)
def update_staff(body, staff_id):
    """修改姓名、重置密码、停用/启用、解除锁定、调整团队"""
    staff = admin.update_staff(staff_id, body, current_actor().scope)
    commit()
    return staff
