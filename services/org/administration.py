"""Administration of the organisation: institutions, teams and staff accounts.

An institution admin manages their institution and those below it; the
medical-community admin manages everything in the community. Objects outside
the admin's scope are reported as not found.
"""
from __future__ import annotations

from sqlalchemy import Select, or_, select

from services.access.scope import Scope, visible_team
from services.access.staff_login import hash_password
from services.core.db import db, flush_or_conflict, one_or_404
from services.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.core.pagination import Page, paginate
from services.models import Institution, Staff, Team
from services.models.org import INSTITUTION_TYPES
from services.org.directory import TeamCard, team_cards

MIN_PASSWORD_LENGTH = 8

# Which institution types may sit under which (None: the top of the community).
ALLOWED_PARENTS = {
    "county_hospital": (None,),
    "township_health_center": ("county_hospital",),
    "community_health_center": ("county_hospital",),
    "village_clinic": ("township_health_center", "community_health_center"),
}


def _is_community_admin(scope: Scope) -> bool:
    return scope.role == "admin" and scope.home_institution_id is None


def _flush(code: str, message: str) -> None:
    flush_or_conflict(Conflict(message, code=code))


# --- institutions -------------------------------------------------------------

def create_institution(data: dict, scope: Scope) -> Institution:
    if data["type"] not in INSTITUTION_TYPES:
        raise ValidationFailed.field("type", "机构类型无效")
    parent = None
    if data.get("parent_id") is not None:
        parent = db.session.get(Institution, data["parent_id"])
        if parent is None or parent.id not in scope.institution_ids:
            raise ValidationFailed.field("parent_id", "上级机构不存在或不在您的管辖范围内")
    elif not _is_community_admin(scope):
        raise Forbidden("只有医共体管理员可以新建顶级机构")
    allowed = ALLOWED_PARENTS[data["type"]]
    if (parent.type if parent else None) not in allowed:
        raise ValidationFailed.field("parent_id", "上级机构类型与本机构类型不匹配")
    if db.session.scalar(select(Institution.id).where(Institution.code == data["code"])):
        raise Conflict("机构编码已存在", code="INSTITUTION_CODE_TAKEN")
    inst = Institution(community_id=scope.community_id, parent_id=parent.id if parent else None,
                       code=data["code"], name=data["name"], type=data["type"],
                       address=data.get("address"), phone=data.get("phone"))
    db.session.add(inst)
    _flush("INSTITUTION_CODE_TAKEN", "机构编码已存在")
    return inst


# --- teams --------------------------------------------------------------------

def create_team(data: dict, scope: Scope, per_doctor: int) -> TeamCard:
    inst = db.session.get(Institution, data["institution_id"])
    if inst is None or inst.id not in scope.institution_ids:
        raise ValidationFailed.field("institution_id", "机构不存在或不在您的管辖范围内")
    if inst.type == "village_clinic":
        raise ValidationFailed.field("institution_id", "家庭医生团队应设在乡镇卫生院、社区卫生服务中心或县级医院")
    if db.session.scalar(select(Team.id).where(Team.code == data["code"])):
        raise Conflict("团队编码已存在", code="TEAM_CODE_TAKEN")
    team = Team(institution_id=inst.id, code=data["code"], name=data["name"],
                capacity_per_doctor=data.get("capacity_per_doctor"), service_area=data.get("service_area"),
                phone=data.get("phone"), introduction=data.get("introduction"))
    db.session.add(team)
    _flush("TEAM_CODE_TAKEN", "团队编码已存在")
    return team_cards([team], per_doctor)[0]


def update_team(team_id: int, data: dict, scope: Scope, per_doctor: int) -> TeamCard:
    team = visible_team(team_id, scope)
    for key in ("name", "capacity_per_doctor", "service_area", "phone", "introduction"):
        if key in data:
            setattr(team, key, data[key])
    if "lead_doctor_id" in data:
        lead_id = data["lead_doctor_id"]
        if lead_id is not None:
            lead = db.session.get(Staff, lead_id)
            if lead is None or lead.team_id != team.id or lead.team_role != "doctor" or not lead.active:
                raise ValidationFailed.field("lead_doctor_id", "团队长须为本团队在岗的医生")
        team.lead_doctor_id = lead_id
    return team_cards([team], per_doctor)[0]


# --- staff --------------------------------------------------------------------

def staff_query(scope: Scope, *, team_id: int | None = None, role: str | None = None,
                institution_id: int | None = None) -> Select:
    visible = Staff.institution_id.in_(sorted(scope.institution_ids))
    if _is_community_admin(scope):
        visible = or_(visible, Staff.community_id == scope.community_id)
    stmt = select(Staff).where(visible).order_by(Staff.id)
    if team_id is not None:
        stmt = stmt.where(Staff.team_id == team_id)
    if role:
        stmt = stmt.where(Staff.role == role)
    if institution_id is not None:
        stmt = stmt.where(Staff.institution_id == institution_id)
    return stmt


def get_staff(staff_id: int, scope: Scope) -> Staff:
    return one_or_404(staff_query(scope).where(Staff.id == staff_id), NotFound("工作人员不存在", code="STAFF_NOT_FOUND"))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed.field("password", f"密码长度不能少于 {MIN_PASSWORD_LENGTH} 位")


def _placement(data: dict, scope: Scope) -> tuple[int | None, int | None, str | None]:
    """(institution_id, team_id, team_role) for a new or moved account."""
    if data["role"] == "doctor":
        if data.get("team_id") is None or not data.get("team_role"):
            raise ValidationFailed("团队成员须指定 team_id 和 team_role",
                                   errors={"team_id": ["必填字段"], "team_role": ["必填字段"]})
        team = db.session.get(Team, data["team_id"])
        if team is None or team.institution_id not in scope.institution_ids:
            raise ValidationFailed.field("team_id", "团队不存在或不在您的管辖范围内")
        return team.institution_id, team.id, data["team_role"]
    institution_id = data.get("institution_id")
    if institution_id is None:
        if not _is_community_admin(scope):
            raise Forbidden("只有医共体管理员可以创建医共体管理员账号")
        return None, None, None
    if institution_id not in scope.institution_ids:
        raise ValidationFailed.field("institution_id", "机构不存在或不在您的管辖范围内")
    return institution_id, None, None


def create_staff(data: dict, scope: Scope) -> Staff:
    _check_password(data["password"])
    username = data["username"].strip()
    if db.session.scalar(select(Staff.id).where(Staff.username == username)):
        raise Conflict("用户名已被使用", code="USERNAME_TAKEN")
    institution_id, team_id, team_role = _placement(data, scope)
    staff = Staff(username=username, name=data["name"], password_hash=hash_password(data["password"]),
                  role=data["role"], community_id=scope.community_id, institution_id=institution_id,
                  team_id=team_id, team_role=team_role, active=True)
    db.session.add(staff)
    _flush("USERNAME_TAKEN", "用户名已被使用")
    return staff


def update_staff(staff_id: int, data: dict, scope: Scope) -> Staff:
    staff = get_staff(staff_id, scope)
    if "name" in data:
        staff.name = data["name"]
    if "password" in data:
        _check_password(data["password"])
        staff.password_hash = hash_password(data["password"])
    if data.get("unlock"):
        staff.locked_until = None
    if "active" in data:
        if staff.id == scope.actor_id and not data["active"]:
            raise ValidationFailed.field("active", "不能停用自己的账号")
        staff.active = data["active"]
    if staff.role == "doctor" and ("team_id" in data or "team_role" in data):
        merged = {"role": "doctor", "team_id": data.get("team_id", staff.team_id),
                  "team_role": data.get("team_role", staff.team_role)}
        new_inst, new_team, new_role = _placement(merged, scope)
        staff.institution_id, staff.team_id, staff.team_role = new_inst, new_team, new_role
    _drop_lead_if_no_longer_eligible(staff)
    return staff


def _drop_lead_if_no_longer_eligible(staff: Staff) -> None:
    """A lead who leaves, stops being a doctor on the team, or is deactivated is no longer lead."""
    led = db.session.scalars(select(Team).where(Team.lead_doctor_id == staff.id)).all()
    for team in led:
        if staff.team_id != team.id or staff.team_role != "doctor" or not staff.active:
            team.lead_doctor_id = None


def staff_page(scope: Scope, team_id: int | None, role: str | None, institution_id: int | None, page: int,
               page_size: int) -> Page:
    return paginate(staff_query(scope, team_id=team_id, role=role, institution_id=institution_id), page, page_size)
