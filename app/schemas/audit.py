from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.schemas.common import Int, LocalDateTime, PageQuerySchema, page_schema
from services.models.audit import AUDIT_ACTIONS


class AuditLogSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    at = LocalDateTime()
    actor_type = fields.String()
    actor_id = Int(allow_none=True)
    actor_name = fields.String(allow_none=True, metadata={"description": "工作人员用户名；居民为 resident:<id>"})
    action = fields.String()
    resident_id = Int(allow_none=True)
    institution_id = Int(allow_none=True)
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    detail = fields.Dict(allow_none=True)


class AuditQuerySchema(PageQuerySchema):
    resident_id = Int()
    action = fields.String(validate=validate.OneOf(AUDIT_ACTIONS))
    actor_type = fields.String(validate=validate.OneOf(("staff", "resident", "system")))
    actor_id = Int()


AuditPageSchema = page_schema(AuditLogSchema, "AuditLogPage")
