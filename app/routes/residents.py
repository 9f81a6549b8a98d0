from __future__ import annotations

import io

from flask import send_file
from flask_smorest import Blueprint

from app.auth import cipher, current_actor, login_required, request_context
from app.schemas.residents import (
    ImportFileSchema,
    ImportQuerySchema,
    ImportReportSchema,
    MeSchema,
    ResidentCreateSchema,
    ResidentPageSchema,
    ResidentQuerySchema,
    ResidentSchema,
    ResidentUpdateSchema,
    RevealRequestSchema,
    RevealResponseSchema,
)
from app.tx import commit, idempotent
from services import residents

blp = Blueprint("residents", __name__, url_prefix="/residents", description="居民档案")


@blp.route("", methods=["POST"])
@idempotent
@login_required("doctor", "admin")
@blp.arguments(ResidentCreateSchema)
@blp.response(201, ResidentSchema)
@blp.alt_response(409, description="该身份证号已建档（RESIDENT_EXISTS）")
@blp.alt_response(422, description="校验失败，如 INVALID_ID_NUMBER、INVALID_PHONE")
def create_resident(body):
    """新建居民档案（身份证号加密存储，返回脱敏）"""
    shown = residents.create_resident(body, current_actor().scope, cipher(), request_context())
    commit()
    return shown


@blp.route("", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(ResidentQuerySchema, location="query")
@blp.response(200, ResidentPageSchema)
def list_residents(args):
    """查询管辖范围内的居民（q 匹配姓名或手机号；完整身份证号精确匹配）"""
    page, page_size = args.pop("page"), args.pop("page_size")
    result = residents.residents_page(current_actor().scope, cipher(), args, page, page_size, request_context())
    commit()
    return result


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@blp.route("/import", methods=["POST"])
@login_required("admin")
@blp.arguments(ImportQuerySchema, location="query")
@blp.arguments(ImportFileSchema, location="files")
@blp.response(200, ImportReportSchema)
@blp.alt_response(422, description="IMPORT_BAD_HEADER（表头不符，details 列出缺少与未知的列）、IMPORT_UNREADABLE、"
                                   "IMPORT_TOO_MANY_ROWS，或 all_or_nothing 时 IMPORT_FAILED")
def import_residents(args, files):
    """从 Excel/CSV 批量导入居民（管理员）：逐行按新建档案的规则校验，报告每个错误的行号、列名和原因；
    dry_run=true 只校验不写入；身份证号已建档的居民更新而不重复建档；all_or_nothing=true 时有任何错误则不写入。"""
    upload = files["file"]
    report = residents.import_residents(upload.filename or "", upload.stream, current_actor().scope, cipher(),
                                        dry_run=args["dry_run"], all_or_nothing=args["all_or_nothing"],
                                        ctx=request_context())
    if not args["dry_run"]:
        commit()
    return report


@blp.route("/import/template.xlsx", methods=["GET"])
@login_required("doctor", "admin")
@blp.response(200, description="居民导入模板（.xlsx）", content_type=XLSX)
def import_template():
    """下载居民导入模板：姓名、身份证号、手机号、住址、村/社区、人群标签、居住起始日期、所属机构、巡诊点，附填写说明"""
    out = io.BytesIO()
    residents.template_workbook(out)
    out.seek(0)
    return send_file(out, mimetype=XLSX, as_attachment=True, download_name="居民导入模板.xlsx")


@blp.route("/<int:resident_id>", methods=["GET"])
@login_required("doctor", "admin", "resident")
@blp.response(200, ResidentSchema)
@blp.alt_response(404, description="不存在或不在管辖范围内")
def get_resident(resident_id):
    """读取居民档案（居民本人只能读取自己的）"""
    shown = residents.read_resident(resident_id, current_actor().scope, cipher(), request_context())
    commit()
    return shown


@blp.route("/<int:resident_id>", methods=["PATCH"])
@login_required("doctor", "admin")
@blp.arguments(ResidentUpdateSchema)
@blp.response(200, ResidentSchema)
@blp.alt_response(404, description="不存在或不在管辖范围内")
def update_resident(body, resident_id):
    """修改居民档案（仅修改提交的字段）"""
    shown = residents.update_resident(resident_id, body, current_actor().scope, cipher(), request_context())
    commit()
    return shown


@blp.route("/<int:resident_id>/reveal", methods=["POST"])
@login_required("doctor", "admin")
@blp.arguments(RevealRequestSchema, required=False)
@blp.response(200, RevealResponseSchema)
@blp.alt_response(404, description="不存在或不在管辖范围内")
def reveal(body, resident_id):
    """查看完整身份证号和手机号（写入审计日志）"""
    revealed = residents.reveal_resident(resident_id, current_actor().scope, cipher(),
                                         (body or {}).get("reason"), request_context())
    commit()
    return {"id": revealed.resident.id, "id_number": revealed.id_number, "phone": revealed.phone}


# --- the signed-in resident ----------------------------------------------------------

me_blp = Blueprint("me", __name__, url_prefix="/me", description="居民本人")


@me_blp.route("", methods=["GET"])
@login_required("resident")
@me_blp.response(200, MeSchema)
def get_me():
    """居民本人的档案、当前签约和待办事项"""
    shown = residents.me_view(current_actor().scope, cipher(), request_context())
    commit()
    return shown
