from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from app.schemas.common import Int
from app.schemas.residents import ResidentSchema


class ContractSummarySchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    status = fields.String()
    team_id = Int()
    team_name = fields.Function(lambda c: c.team.name)
    starts_on = fields.Date(allow_none=True)
    ends_on = fields.Date(allow_none=True)


class MeSchema(ma.Schema):
    class Meta:
        ordered = True

    profile = fields.Nested(ResidentSchema)
    contract = fields.Nested(ContractSummarySchema, allow_none=True,
                             metadata={"description": "当前签约（生效中或待处理），无则为 null"})
    upcoming = fields.List(fields.Dict(), metadata={"description": "即将到来的随访（kind=followup，due_date）和预约（kind=appointment，starts_at 带时区偏移），按日期排序"})
