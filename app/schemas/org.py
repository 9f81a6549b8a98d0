from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.schemas.common import Int, PageQuerySchema, page_schema
from services.models.org import INSTITUTION_TYPE_LABELS, INSTITUTION_TYPES
from services.models.staff import TEAM_ROLE_LABELS


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


class PersonBriefSchema(ma.Schema):
    id = Int()
    name = fields.String()


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


class RoundPointSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    name = fields.String()
    village = fields.String()
    address = fields.String(allow_none=True)
    institution_id = Int()
    institution_name = fields.Function(lambda r: r.institution.name)
    schedule = fields.Function(lambda r: [], metadata={"description": "即将开展的巡诊安排（预约功能上线后填充）"})


class RoundPointQuerySchema(PageQuerySchema):
    institution_id = Int()
    village = fields.String()


InstitutionPageSchema = page_schema(InstitutionSchema, "InstitutionPage")
TeamPageSchema = page_schema(TeamCardSchema, "TeamPage")
RoundPointPageSchema = page_schema(RoundPointSchema, "RoundPointPage")
