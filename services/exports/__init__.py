"""Exports (导出): registers that go out as Excel for the county's offices (the
team's follow-up worklist, the contract register 签约花名册, the indicators),
all written by one streaming spreadsheet writer (`xlsx`) so a 100,000-row
register never sits in memory, with the same scope, masking and audit as the
JSON lists they mirror (`registers`).
"""
from services.core.exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "xlsx": ("XLSX_MIMETYPE", "Column", "Sheet", "write_workbook"),
    "registers": ("CONTRACT_REGISTER_COLUMNS", "WORKLIST_COLUMNS", "contract_register_workbook",
                  "worklist_workbook"),
})
