"""Offline sync: the pull's query and page, the push's records and results."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.schemas.common import BaseSchema, Int

CHANGE_TYPES = ("resident", "enrolment", "appointment", "contract", "round_point", "catalog")
PUSH_TYPES = ("followup", "not_reached", "service_delivery", "resident_update", "contract_signing")
PUSH_STATUSES = ("created", "updated", "duplicate", "rejected")
MAX_PUSH_RECORDS = 500


class SyncPullQuerySchema(BaseSchema):
    cursor = fields.String(validate=validate.Length(min=1, max=4000),
                           metadata={"description": "上次同步返回的 cursor；不传为首次全量同步"})
    limit = Int(load_default=500, validate=validate.Range(min=1, max=1000),
                metadata={"description": "每页最多变更条数（默认 500，最大 1000）"})
    team_id = Int(metadata={"description": "管理员须指定团队；医生默认本团队"})


class ChangeSchema(ma.Schema):
    class Meta:
        ordered = True

    type = fields.String(metadata={"enum": list(CHANGE_TYPES)})
    id = fields.Integer()
    version = fields.Integer(metadata={"description": "记录每次变化时改变；居民为 resident_update 的 base_version"})
    deleted = fields.Boolean(metadata={"description": "true：手机上删除该记录（居民离开团队、已取消、已结束）"})
    data = fields.Dict(allow_none=True, metadata={"description": "记录内容；属于居民的记录含 resident_id"})


class SyncPullSchema(ma.Schema):
    class Meta:
        ordered = True

    changes = fields.List(fields.Nested(ChangeSchema))
    cursor = fields.String(metadata={"description": "下次同步带上；不透明"})
    has_more = fields.Boolean(metadata={"description": "true：继续用新 cursor 拉取"})


class PushRecordSchema(BaseSchema):
    uuid = fields.UUID(required=True, metadata={"description": "手机生成的记录 UUID；重复推送只存一次"})
    type = fields.String(required=True, validate=validate.OneOf(PUSH_TYPES))
    client_time = fields.AwareDateTime(required=True, metadata={"description": "手机记录时间（含时区）"})
    base_version = Int(allow_none=True, metadata={"description": "resident_update 必填：修改所依据的版本"})
    data = fields.Dict(required=True, metadata={
        "description": "followup / not_reached：POST /followups 的请求体；service_delivery：contract_id 加 "
                       "POST /contracts/{id}/services 的请求体；resident_update：resident_id 加修改的字段；"
                       "contract_signing：POST /contracts 的请求体"})


class SyncPushSchema(BaseSchema):
    records = fields.List(fields.Nested(PushRecordSchema), required=True,
                          validate=validate.Length(min=1, max=MAX_PUSH_RECORDS))


class PushResultSchema(ma.Schema):
    class Meta:
        ordered = True

    uuid = fields.String()
    status = fields.String(metadata={"enum": list(PUSH_STATUSES)})
    code = fields.String(metadata={"description": "rejected 时：OUT_OF_SCOPE、VALIDATION_FAILED、CONFLICT、"
                                                  "CONTRACT_ALREADY_ACTIVE、ENTITLEMENT_EXHAUSTED、NOT_ENROLLED 等"})
    message = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    current = fields.Dict(metadata={"description": "CONFLICT 时服务器上的当前记录"})
    result = fields.Dict(allow_none=True, metadata={"description": "与在线接口相同的结果（随访含评估）"})
    first_status = fields.String(metadata={"description": "duplicate 时：第一次推送的结果状态"})


class SyncPushResultSchema(ma.Schema):
    results = fields.List(fields.Nested(PushResultSchema))
