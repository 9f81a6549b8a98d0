from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from app.auth import current_actor, login_required
from app.schemas.admin import InstitutionCreateSchema, TeamCreateSchema, TeamUpdateSchema
from app.schemas.org import (
    InstitutionPageSchema,
    InstitutionQuerySchema,
    InstitutionSchema,
    RoundPointCreateSchema,
    RoundPointPageSchema,
    RoundPointQuerySchema,
    RoundPointSchema,
    RoundPointUpdateSchema,
    TeamCardSchema,
    TeamPageSchema,
    TeamQuerySchema,
)
from app.tx import commit, idempotent
from services import admin, org, round_points
from services.pagination import paginate

blp = Blueprint("organisation", __name__, description="医共体、机构、家庭医生团队与巡诊点（公开）")


class _Member:
    """A team member as shown on the public card (no contact details)."""

    def __init__(self, staff, lead_id):
        self.id, self.name, self.team_role = staff.id, staff.name, staff.team_role
        self.is_lead = staff.id == lead_id


def _cards(teams) -> list[dict]:
    out = []
    for card in org.team_cards(teams, current_app.config["TEAM_CAPACITY_PER_DOCTOR"]):
        team = card.team
        out.append({
            "id": team.id, "code": team.code, "name": team.name, "institution": team.institution,
            "lead_doctor": team.lead_doctor,
            "members": [_Member(m, team.lead_doctor_id) for m in team.members if m.active],
            "service_area": team.service_area, "phone": team.phone,
            "introduction": team.introduction, "doctor_count": card.doctor_count,
            "capacity": card.capacity, "signed": card.signed, "remaining": card.remaining,
        })
    return out


@blp.route("/institutions")
@blp.arguments(InstitutionQuerySchema, location="query")
@blp.response(200, InstitutionPageSchema)
def list_institutions(args):
    """医共体内的机构（县医院、乡镇卫生院、社区卫生服务中心、村卫生室）"""
    stmt = org.institutions_query(args.get("type"), args.get("parent_id"))
    return paginate(stmt, args["page"], args["page_size"]).as_dict()


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
    page = paginate(org.teams_query(args.get("institution_id")), args["page"], args["page_size"])
    return page.as_dict(_cards(page.items))


@blp.route("/teams/<int:team_id>")
@blp.response(200, TeamCardSchema)
def get_team(team_id):
    """单个团队名片"""
    return _cards([org.get_team(team_id)])[0]


def _with_schedule(points: list) -> list:
    days = current_app.config["ROUND_POINT_SCHEDULE_DAYS"]
    sessions = round_points.upcoming_sessions([p.id for p in points], days)
    for point in points:
        point.schedule = sessions[point.id]
    return points


@blp.route("/round-points")
@blp.arguments(RoundPointQuerySchema, location="query")
@blp.response(200, RoundPointPageSchema)
def list_round_points(args):
    """巡诊点：地点、所在村、所属机构，以及即将开展的巡诊安排（默认未来 14 天）"""
    stmt = round_points.round_points_query(args.get("institution_id"), args.get("village"))
    page = paginate(stmt, args["page"], args["page_size"])
    return page.as_dict(_with_schedule(page.items))


@blp.route("/round-points/<int:point_id>")
@blp.response(200, RoundPointSchema)
@blp.alt_response(404, description="ROUND_POINT_NOT_FOUND")
def get_round_point(point_id):
    """单个巡诊点及其即将开展的巡诊安排"""
    return _with_schedule([round_points.get_round_point(point_id)])[0]


@blp.route("/round-points", methods=["POST"])
@idempotent
@login_required("admin")
@blp.arguments(RoundPointCreateSchema)
@blp.response(201, RoundPointSchema)
@blp.alt_response(409, description="ROUND_POINT_EXISTS（同一机构已有同名巡诊点）")
def create_round_point(body):
    """新建巡诊点（管理员，限管辖范围内的机构）"""
    point = round_points.create_round_point(body, current_actor().scope)
    commit()
    return _with_schedule([point])[0]


@blp.route("/round-points/<int:point_id>", methods=["PATCH"])
@login_required("admin")
@blp.arguments(RoundPointUpdateSchema)
@blp.response(200, RoundPointSchema)
def update_round_point(body, point_id):
    """修改巡诊点（名称、村、地址、所属机构）"""
    point = round_points.update_round_point(point_id, body, current_actor().scope)
    commit()
    return _with_schedule([point])[0]


@blp.route("/round-points/<int:point_id>", methods=["DELETE"])
@login_required("admin")
@blp.response(204)
@blp.alt_response(409, description="ROUND_POINT_IN_USE（还有未结束的巡诊安排）")
def retire_round_point(point_id):
    """停用巡诊点（保留历史记录；有未结束的巡诊安排时不能停用）"""
    round_points.retire_round_point(point_id, current_actor().scope)
    commit()


@blp.route("/institutions", methods=["POST"])
@idempotent
@login_required("admin")
@blp.arguments(InstitutionCreateSchema)
@blp.response(201, InstitutionSchema)
@blp.alt_response(409, description="机构编码已存在（INSTITUTION_CODE_TAKEN）")
def create_institution(body):
    """新建机构（管理员；村卫生室挂在乡镇卫生院或社区卫生服务中心下）"""
    inst = admin.create_institution(body, current_actor().scope)
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
    team = admin.create_team(body, current_actor().scope)
    commit()
    return _cards([team])[0]


@blp.route("/teams/<int:team_id>", methods=["PATCH"])
@login_required("admin")
@blp.arguments(TeamUpdateSchema)
@blp.response(200, TeamCardSchema)
def update_team(body, team_id):
    """修改团队（名称、团队长、每名医生签约上限等）"""
    team = admin.update_team(team_id, body, current_actor().scope)
    commit()
    return _cards([team])[0]
