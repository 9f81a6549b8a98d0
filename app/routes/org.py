from __future__ import annotations

from flask_smorest import Blueprint

from app.auth import current_actor, login_required, settings
from app.schemas.org import (
    InstitutionCreateSchema,
    InstitutionPageSchema,
    InstitutionQuerySchema,
    InstitutionSchema,
    RoundPointCreateSchema,
    RoundPointPageSchema,
    RoundPointQuerySchema,
    RoundPointSchema,
    RoundPointUpdateSchema,
    StaffCreateSchema,
    StaffPageSchema,
    StaffQuerySchema,
    StaffSchema,
    StaffUpdateSchema,
    TeamCardSchema,
    TeamCreateSchema,
    TeamPageSchema,
    TeamQuerySchema,
    TeamUpdateSchema,
)
from app.tx import commit, idempotent
from services import org

blp = Blueprint("organisation", __name__, description="医共体、机构、家庭医生团队与巡诊点（公开）")


def _per_doctor() -> int:
    return settings().team_capacity_per_doctor


def _schedule_days() -> int:
    return settings().round_point_schedule_days


@blp.route("/institutions")
@blp.arguments(InstitutionQuerySchema, location="query")
@blp.response(200, InstitutionPageSchema)
def list_institutions(args):
    """医共体内的机构（县医院、乡镇卫生院、社区卫生服务中心、村卫生室）"""
    return org.institutions_page(args.get("type"), args.get("parent_id"), args["page"], args["page_size"])


@blp.route("/institutions/<int:institution_id>")
@blp.response(200, InstitutionSchema)
def get_institution(institution_id):
    """单个机构"""
    return org.get_institution(institution_id)


@blp.route("/teams")
@blp.arguments(TeamQuerySchema, location="query")
@blp.response(200, TeamPageSchema)
def list_teams(args):
    """家庭医生团队名片：成员、所属机构、剩余签约名额"""
    return org.teams_page(args.get("institution_id"), args["page"], args["page_size"], _per_doctor())


@blp.route("/teams/<int:team_id>")
@blp.response(200, TeamCardSchema)
def get_team(team_id):
    """单个团队名片"""
    return org.team_card(team_id, _per_doctor())


@blp.route("/round-points")
@blp.arguments(RoundPointQuerySchema, location="query")
@blp.response(200, RoundPointPageSchema)
def list_round_points(args):
    """巡诊点：地点、所在村、所属机构，以及即将开展的巡诊安排（默认未来 14 天）"""
    return org.round_points_page(args.get("institution_id"), args.get("village"), args["page"], args["page_size"],
                                 _schedule_days())


@blp.route("/round-points/<int:point_id>")
@blp.response(200, RoundPointSchema)
@blp.alt_response(404, description="ROUND_POINT_NOT_FOUND")
def get_round_point(point_id):
    """单个巡诊点及其即将开展的巡诊安排"""
    return org.round_point_view(point_id, _schedule_days())


@blp.route("/round-points", methods=["POST"])
@idempotent
@login_required("admin")
@blp.arguments(RoundPointCreateSchema)
@blp.response(201, RoundPointSchema)
@blp.alt_response(409, description="ROUND_POINT_EXISTS（同一机构已有同名巡诊点）")
def create_round_point(body):
    """新建巡诊点（管理员，限管辖范围内的机构）"""
    point = org.create_round_point(body, current_actor().scope, _schedule_days())
    commit()
    return point


@blp.route("/round-points/<int:point_id>", methods=["PATCH"])
@login_required("admin")
@blp.arguments(RoundPointUpdateSchema)
@blp.response(200, RoundPointSchema)
def update_round_point(body, point_id):
    """修改巡诊点（名称、村、地址、所属机构）"""
    point = org.update_round_point(point_id, body, current_actor().scope, _schedule_days())
    commit()
    return point


@blp.route("/round-points/<int:point_id>", methods=["DELETE"])
@login_required("admin")
@blp.response(204)
@blp.alt_response(409, description="ROUND_POINT_IN_USE（还有未结束的巡诊安排）")
def retire_round_point(point_id):
    """停用巡诊点（保留历史记录；有未结束的巡诊安排时不能停用）"""
    org.retire_round_point(point_id, current_actor().scope)
    commit()


@blp.route("/institutions", methods=["POST"])
@idempotent
@login_required("admin")
@blp.arguments(InstitutionCreateSchema)
@blp.response(201, InstitutionSchema)
@blp.alt_response(409, description="机构编码已存在（INSTITUTION_CODE_TAKEN）")
def create_institution(body):
    """新建机构（管理员；村卫生室挂在乡镇卫生院或社区卫生服务中心下）"""
    inst = org.create_institution(body, current_actor().scope)
    commit()
    return inst


@blp.route("/teams", methods=["POST"])
@idempotent
@login_required("admin")
@blp.arguments(TeamCreateSchema)
@blp.response(201, TeamCardSchema)
@blp.alt_response(409, description="团队编码已存在（TEAM_CODE_TAKEN）")
def create_team(body):
    """新建家庭医生团队（管理员）"""
    card = org.create_team(body, current_actor().scope, _per_doctor())
    commit()
    return card


@blp.route("/teams/<int:team_id>", methods=["PATCH"])
@login_required("admin")
@blp.arguments(TeamUpdateSchema)
@blp.response(200, TeamCardSchema)
def update_team(body, team_id):
    """修改团队（名称、团队长、每名医生签约上限等）"""
    card = org.update_team(team_id, body, current_actor().scope, _per_doctor())
    commit()
    return card

# --- staff accounts (admins) -------------------------------------------------------

staff_blp = Blueprint("staff", __name__, url_prefix="/staff", description="工作人员账号管理（管理员）")


@staff_blp.route("", methods=["GET"])
@login_required("admin")
@staff_blp.arguments(StaffQuerySchema, location="query")
@staff_blp.response(200, StaffPageSchema)
def list_staff(args):
    """管辖范围内的工作人员"""
    return org.staff_page(current_actor().scope, args.get("team_id"), args.get("role"), args.get("institution_id"),
                          args["page"], args["page_size"])


@staff_blp.route("", methods=["POST"])
@idempotent
@login_required("admin")
@staff_blp.arguments(StaffCreateSchema)
@staff_blp.response(201, StaffSchema)
@staff_blp.alt_response(409, description="用户名已被使用（USERNAME_TAKEN）")
def create_staff(body):
    """新建工作人员账号（团队成员或管理员）"""
    staff = org.create_staff(body, current_actor().scope)
    commit()
    return staff


@staff_blp.route("/<int:staff_id>", methods=["GET"])
@login_required("admin")
@staff_blp.response(200, StaffSchema)
def get_staff(staff_id):
    """单个工作人员"""
    return org.get_staff(staff_id, current_actor().scope)


@staff_blp.route("/<int:staff_id>", methods=["PATCH"])
@login_required("admin")
@staff_blp.arguments(StaffUpdateSchema)
@staff_blp.response(200, StaffSchema)
def update_staff(body, staff_id):
    """修改姓名、重置密码、停用/启用、解除锁定、调整团队"""
    staff = org.update_staff(staff_id, body, current_actor().scope)
    commit()
    return staff
