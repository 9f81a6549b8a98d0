"""Query schemas of the Excel exports: each export takes its JSON list's
filters, without pagination (a file holds every row)."""
from __future__ import annotations

from app.schemas.common import BaseSchema
from app.schemas.contracts import ContractQuerySchema
from app.schemas.followup import WorklistQuerySchema

PAGINATION = ("page", "page_size")

# How an export is documented in the OpenAPI spec: a binary .xlsx body.
XLSX_BODY = {"type": "string", "format": "binary"}


class WorklistExportQuerySchema(WorklistQuerySchema):
    class Meta(BaseSchema.Meta):
        exclude = PAGINATION


class ContractExportQuerySchema(ContractQuerySchema):
    class Meta(BaseSchema.Meta):
        exclude = PAGINATION
