"""FHIR Bulk Data export: the kick-off's query and the manifest."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from app.schemas.common import BaseSchema
from services.exports.fhir.bulk import RESOURCE_TYPES


class ExportKickOffQuerySchema(BaseSchema):
    types = fields.String(data_key="_type", metadata={
        "description": "资源类型，逗号分隔，默认全部：" + "、".join(RESOURCE_TYPES)})
    since = fields.AwareDateTime(data_key="_since", metadata={
        "description": "FHIR instant（带时区），只导出此后新建或变更的记录"})
    output_format = fields.String(data_key="_outputFormat", metadata={
        "description": "仅支持 application/fhir+ndjson（默认）"})


class ManifestOutputSchema(ma.Schema):
    class Meta:
        ordered = True

    type = fields.String(metadata={"description": "资源类型"})
    url = fields.String(metadata={"description": "NDJSON 文件地址（须带访问令牌）"})
    count = fields.Integer(metadata={"description": "资源条数"})


class ManifestSchema(ma.Schema):
    class Meta:
        ordered = True

    transactionTime = fields.String(metadata={"description": "导出所反映数据的时间点（发起时）"})
    request = fields.String(metadata={"description": "发起导出的请求地址"})
    requiresAccessToken = fields.Boolean()
    output = fields.List(fields.Nested(ManifestOutputSchema))
    error = fields.List(fields.Dict())
