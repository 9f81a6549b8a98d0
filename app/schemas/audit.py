from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.schemas.common import LocalDateTime, PageQuerySchema, page_schema
from services.models.audit import AUDIT_ACTIONS


class AuditLogSchema(ma.Schema):
    class Meta:
        ordered = True

    id = fields.Integer()
    at = LocalDateTime()
    actor_type = fields.String()
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String(allow_none=True, metadata={"description": "工作人员用户名；居民为 resident:<id>"})
    action = fields.String()
    resident_id = fields.Integer(allow_none=True)
    institution_id = fields.Integer(allow_none=True)
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    detail = fields.Dict(allow_none=True)


class AuditQuerySchema(PageQuerySchema):
    resident_id = fields.Integer()
    action = fields.String(validate=validate.OneOf(AUDIT_ACTIONS))
    actor_type = fields.String(validate=validate.OneOf(("staff", "resident", "system")))
    actor_id = fields.Integer()


AuditPageSchema = page_schema(AuditLogSchema, "AuditLogPage")
