from __future__ import annotations

import os
from typing import IO
from urllib.parse import quote

from flask import Response, send_file
from flask_smorest import Blueprint

from app.auth import cipher, current_actor, login_required, request_context
from app.schemas.exports import XLSX_BODY, ContractExportQuerySchema, WorklistExportQuerySchema
from app.tx import commit
from services import exports, followup
from services.core import clock

blp = Blueprint("exports", __name__,
                description="导出 Excel：随访工作清单、签约花名册等，与对应列表的筛选、权限范围、脱敏和审计完全一致，"
                            "不分页（文件包含全部行）")


def send_xlsx(file: IO[bytes], name: str, ascii_name: str) -> Response:
    """The workbook as a download named `<name>_<today>.xlsx`: the Chinese name
    in `filename*` (RFC 5987/6266), `ascii_name` as the fallback for old
    clients; never cached (it holds personal data); the temporary file is
    closed when the response is."""
    day = clock.today().isoformat()
    response = send_file(file, mimetype=exports.XLSX_MIMETYPE, as_attachment=True, download_name=f"{name}_{day}.xlsx",
                         conditional=False, etag=False)
    response.call_on_close(file.close)
    response.content_length = os.fstat(file.fileno()).st_size
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}_{day}.xlsx\"; "
        f"filename*=UTF-8''{quote(f'{name}_{day}.xlsx', safe='!#$&+-.^_`|~')}")
    response.headers["Cache-Control"] = "no-store, private"
    return response


def xlsx_doc(name: str, ascii_name: str, cells: str) -> dict:
    """`blp.response(200, XLSX_BODY, **xlsx_doc(...))`: an export's 200 in the
    OpenAPI spec (the .xlsx content type, what its cells hold, Content-Disposition)."""
    return {
        "content_type": exports.XLSX_MIMETYPE,
        "description": f"Excel 文件 {name}_YYYY-MM-DD.xlsx：中文表头（冻结、可筛选）；"
                       f"{cells}",
        "headers": {"Content-Disposition": {
            "description": f"attachment; filename=\"{ascii_name}_YYYY-MM-DD.xlsx\"; "
                           f"filename*=UTF-8''（{name}_YYYY-MM-DD.xlsx 的 UTF-8 百分号编码，RFC 5987）",
            "schema": {"type": "string"}}},
    }


@blp.route("/worklist.xlsx", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(WorklistExportQuerySchema, location="query")
@blp.response(200, XLSX_BODY, **xlsx_doc("随访工作清单", "worklist", "一个工作表，每行对应列表的一项；日期为日期单元格，代码显示为中文"))
@blp.alt_response(404, description="TEAM_NOT_FOUND（团队不存在或不在管辖范围内）")
def worklist_xlsx(args):
    """导出随访工作清单：与 GET /worklist 相同的筛选、排序和行（全部行，不分页）；身份证号、姓名脱敏，电话完整（供电话随访）；导出记入审计"""
    scope = current_actor().scope
    filters = followup.WorklistFilters(
        team_id=followup.worklist_team(scope, args.get("team_id")), today=clock.today(),
        within_days=args["within_days"], due_before=args.get("due_before"), status=args.get("status"),
        program=args.get("program"), village=args.get("village"), round_point_id=args.get("round_point_id"))
    file = exports.worklist_workbook(scope, filters, cipher(), request_context())
    commit()
    return send_xlsx(file, "随访工作清单", "worklist")


@blp.route("/contracts.xlsx", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(ContractExportQuerySchema, location="query")
@blp.response(200, XLSX_BODY, **xlsx_doc(
    "签约花名册", "contracts", "一个工作表，每行对应列表的一项；日期为日期单元格，金额以元计（保留两位小数，精确到分，可直接求和）"))
def contracts_xlsx(args):
    """导出签约花名册：与 GET /contracts 相同的筛选、权限范围和顺序（全部行，不分页）。

    列：签约编号、姓名、身份证号（脱敏）、联系电话（脱敏）、村（居）、签约团队、服务包、状态、起始日期、到期日期、
    标准价值、个人自付、各出资方（医保基金、基本公共卫生服务经费、财政补助、合作医院让利）分担（元）、缴费方式、收据号。
    导出记入审计（列出所涉居民）。"""
    file = exports.contract_register_workbook(current_actor().scope, args, cipher(), request_context())
    commit()
    return send_xlsx(file, "签约花名册", "contracts")
