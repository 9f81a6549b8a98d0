from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.schemas.common import BaseSchema, Int, LocalDateTime, PageQuerySchema, PersonBriefSchema, page_schema
from services.models.org import INSTITUTION_TYPE_LABELS, INSTITUTION_TYPES
from services.models.staff import STAFF_ROLES, TEAM_ROLE_LABELS, TEAM_ROLES


class InstitutionSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    code = fields.String()
    name = fields.String()
    type = fields.String(metadata={"description": " | ".join(INSTITUTION_TYPES)})
    type_label = fields.Function(lambda i: INSTITUTION_TYPE_LABELS.get(i.type))
    parent_id = Int(allow_none=True)
    community_id = Int()
    address = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class InstitutionQuerySchema(PageQuerySchema):
    type = fields.String(validate=validate.OneOf(INSTITUTION_TYPES))
    parent_id = Int()


class TeamMemberSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    name = fields.String()
    team_role = fields.String(metadata={"description": "doctor | nurse | public_health | village_doctor"})
    team_role_label = fields.Function(lambda s: TEAM_ROLE_LABELS.get(s.team_role))
    is_lead = fields.Boolean()


class InstitutionBriefSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    name = fields.String()
    type = fields.String()
    type_label = fields.Function(lambda i: INSTITUTION_TYPE_LABELS.get(i.type))
    address = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class TeamCardSchema(ma.Schema):
    """Public team card: who is on the team, where, and how many places are left."""

    class Meta:
        ordered = True

    id = Int()
    code = fields.String()
    name = fields.String()
    institution = fields.Nested(InstitutionBriefSchema)
    lead_doctor = fields.Nested(PersonBriefSchema, allow_none=True)
    members = fields.List(fields.Nested(TeamMemberSchema))
    service_area = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    introduction = fields.String(allow_none=True)
    doctor_count = Int()
    capacity = Int(metadata={"description": "签约上限 = 医生数 × 每名医生签约上限"})
    signed = Int(metadata={"description": "当前有效签约人数"})
    remaining = Int(metadata={"description": "剩余可签约名额"})


class TeamQuerySchema(PageQuerySchema):
    institution_id = Int()


class RoundSessionSchema(ma.Schema):
    class Meta:
        ordered = True

    slot_id = Int(attribute="id")
    team = fields.Nested(PersonBriefSchema)
    staff = fields.Nested(PersonBriefSchema, allow_none=True)
    starts_at = LocalDateTime()
    ends_at = LocalDateTime()
    capacity = Int()
    remaining = Int()
    audience = fields.String()


class RoundPointSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    name = fields.String()
    village = fields.String()
    address = fields.String(allow_none=True)
    institution_id = Int()
    institution_name = fields.Function(lambda r: r.institution.name)
    schedule = fields.List(fields.Nested(RoundSessionSchema), metadata={
        "description": "即将开展的巡诊安排（默认未来 14 天，时间按部署时区）"})


class RoundPointCreateSchema(BaseSchema):
    institution_id = Int(metadata={"description": "所属机构；机构管理员可省略（默认本机构）"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    village = fields.String(required=True, validate=validate.Length(min=1, max=100))
    address = fields.String(allow_none=True, validate=validate.Length(max=200))


class RoundPointUpdateSchema(BaseSchema):
    institution_id = Int()
    name = fields.String(validate=validate.Length(min=1, max=100))
    village = fields.String(validate=validate.Length(min=1, max=100))
    address = fields.String(allow_none=True, validate=validate.Length(max=200))


class RoundPointQuerySchema(PageQuerySchema):
    institution_id = Int()
    village = fields.String()


InstitutionPageSchema = page_schema(InstitutionSchema, "InstitutionPage")
TeamPageSchema = page_schema(TeamCardSchema, "TeamPage")
RoundPointPageSchema = page_schema(RoundPointSchema, "RoundPointPage")


# --- administration (admins) ---------------------------------------------------------
CODE = validate.Regexp(r"^[A-Za-z0-9_-]{1,40}$", error="编码只能包含字母、数字、下划线和连字符（最多 40 位）")


class InstitutionCreateSchema(BaseSchema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    type = fields.String(required=True, validate=validate.OneOf(INSTITUTION_TYPES))
    parent_id = Int(allow_none=True)
    address = fields.String(allow_none=True, validate=validate.Length(max=200))
    phone = fields.String(allow_none=True, validate=validate.Length(max=30))


class TeamCreateSchema(BaseSchema):
    institution_id = Int(required=True)
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    capacity_per_doctor = Int(allow_none=True, validate=validate.Range(min=1, max=100000),
                                         metadata={"description": "每名医生签约上限；为空则用系统默认（2000）"})
    service_area = fields.String(allow_none=True, validate=validate.Length(max=500))
    phone = fields.String(allow_none=True, validate=validate.Length(max=30))
    introduction = fields.String(allow_none=True, validate=validate.Length(max=1000))


class TeamUpdateSchema(BaseSchema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    lead_doctor_id = Int(allow_none=True)
    capacity_per_doctor = Int(allow_none=True, validate=validate.Range(min=1, max=100000))
    service_area = fields.String(allow_none=True, validate=validate.Length(max=500))
    phone = fields.String(allow_none=True, validate=validate.Length(max=30))
    introduction = fields.String(allow_none=True, validate=validate.Length(max=1000))


class StaffCreateSchema(BaseSchema):
    username = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9_.-]{3,60}$", error="用户名须为 3-60 位字母、数字、下划线、点或连字符"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=200))
    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))
    team_id = Int(allow_none=True, metadata={"description": "role=doctor 时必填"})
    team_role = fields.String(allow_none=True, validate=validate.OneOf(TEAM_ROLES))
    institution_id = Int(allow_none=True, metadata={"description": "role=admin：所管机构；为空表示医共体管理员"})


class StaffUpdateSchema(BaseSchema):
    name = fields.String(validate=validate.Length(min=1, max=60))
    password = fields.String(load_only=True, validate=validate.Length(max=200))
    active = fields.Boolean()
    unlock = fields.Boolean(metadata={"description": "true：解除登录失败锁定"})
    team_id = Int()
    team_role = fields.String(validate=validate.OneOf(TEAM_ROLES))


class StaffSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    username = fields.String()
    name = fields.String()
    role = fields.String()
    institution_id = Int(allow_none=True)
    team_id = Int(allow_none=True)
    team_role = fields.String(allow_none=True)
    active = fields.Boolean()
    locked_until = LocalDateTime(allow_none=True)
    created_at = LocalDateTime()


class StaffQuerySchema(PageQuerySchema):
    team_id = Int()
    institution_id = Int()
    role = fields.String(validate=validate.OneOf(STAFF_ROLES))


StaffPageSchema = page_schema(StaffSchema, "StaffPage")
