from __future__ import annotations

import hashlib
import io

from flask import current_app, request, send_file
from flask_smorest import Blueprint

from app.auth import acting_scope, cipher, current_actor, login_required, request_context, settings
from app.extensions import limiter
from app.reminders import sms_channel
from app.schemas.residents import (
    FamilyConfirmSchema,
    FamilyLinkCreateSchema,
    FamilyLinkSchema,
    FamilyListSchema,
    ImportFileSchema,
    ImportQuerySchema,
    ImportReportSchema,
    MeQuerySchema,
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
@me_blp.arguments(MeQuerySchema, location="query")
@me_blp.response(200, MeSchema)
def get_me(args):
    """居民本人的档案、当前签约和待办事项；带 resident_id 时为已确认关联的家庭成员的（代办时查看）"""
    shown = residents.me_view(acting_scope(args.get("resident_id")), cipher(), request_context())
    commit()
    return shown


# --- family links (家庭成员) --------------------------------------------------------------

def _family_settings():
    return settings().family


def _family_code_key() -> str:
    """Codes to one member are limited like login codes to one phone: keyed by the member's ID number
    (hashed, so no ID number sits in the limiter's store)."""
    body = request.get_json(silent=True)
    raw = body.get("id_number", "") if isinstance(body, dict) else ""
    raw = (raw if isinstance(raw, str) else str(raw)).strip().upper().encode("utf-8", "replace")
    return "family-code:" + hashlib.sha256(raw).hexdigest()[:24]


def _family_link_key() -> str:
    return f"family-code:link:{request.view_args.get('link_id')}"


@me_blp.route("/family", methods=["POST"])
@idempotent
@limiter.limit(lambda: current_app.config["OTP_RATE_LIMIT_PER_PHONE"], key_func=_family_code_key,
               scope="family-code")
@limiter.limit(lambda: current_app.config["OTP_RATE_LIMIT_PER_IP"], scope="otp-ip")
@login_required("resident")
@me_blp.arguments(FamilyLinkCreateSchema)
@me_blp.response(201, FamilyLinkSchema)
@me_blp.alt_response(409, description="FAMILY_LINK_EXISTS（已添加）、FAMILY_LINK_LIMIT（已达上限）")
@me_blp.alt_response(422, description="FAMILY_MEMBER_NOT_FOUND（身份证号与姓名不符或未建档）、FAMILY_MEMBER_IS_SELF")
@me_blp.alt_response(429, description="向同一成员发送验证码过于频繁（与登录验证码相同的限流）")
def add_family_member(body):
    """添加家庭成员：须为已建档居民（身份证号与姓名相符）；验证码发到成员本人手机，
    成员将验证码告知本人后确认（POST /me/family/{id}/confirm）；成员没有手机号时，由其家庭医生团队当面确认。
    确认前不能代办任何事。"""
    view = residents.add_member(current_actor().scope, body, cipher(), sms_channel(),
                                current_app.config["SMS_SIGNATURE"], _family_settings())
    commit()
    return residents.link_view_dict(view)


@me_blp.route("/family", methods=["GET"])
@login_required("resident")
@me_blp.response(200, FamilyListSchema)
def list_family():
    """我的家庭成员：我可代其办理的成员（member），以及可代我办理的家人（proxy）"""
    return {"items": [residents.link_view_dict(v) for v in residents.list_links(current_actor().scope)]}


@me_blp.route("/family/<int:link_id>/confirm", methods=["POST"])
@login_required("resident")
@me_blp.arguments(FamilyConfirmSchema)
@me_blp.response(200, FamilyLinkSchema)
@me_blp.alt_response(404, description="FAMILY_LINK_NOT_FOUND")
@me_blp.alt_response(409, description="FAMILY_LINK_NOT_PENDING、FAMILY_LINK_LIMIT")
@me_blp.alt_response(422, description="FAMILY_CODE_INVALID（details.attempts_left）、FAMILY_CODE_EXPIRED")
def confirm_family_member(body, link_id):
    """用成员手机收到的验证码确认关联；确认后即可代该成员预约、签约、查看随访和评价"""
    view, error = residents.confirm_by_code(current_actor().scope, link_id, body["code"], cipher(),
                                            _family_settings())
    commit()  # a wrong code counts as an attempt although the answer is an error
    if error is not None:
        raise error
    return residents.link_view_dict(view)


@me_blp.route("/family/<int:link_id>/resend", methods=["POST"])
@limiter.limit(lambda: current_app.config["OTP_RATE_LIMIT_PER_PHONE"], key_func=_family_link_key,
               scope="family-code-resend")
@login_required("resident")
@me_blp.response(200, FamilyLinkSchema)
@me_blp.alt_response(404, description="FAMILY_LINK_NOT_FOUND")
@me_blp.alt_response(409, description="FAMILY_LINK_NOT_PENDING、FAMILY_MEMBER_NO_PHONE")
@me_blp.alt_response(429, description="发送过于频繁")
def resend_family_code(link_id):
    """重新向成员手机发送验证码（旧验证码作废）"""
    view = residents.resend_code(current_actor().scope, link_id, cipher(), sms_channel(),
                                 current_app.config["SMS_SIGNATURE"], _family_settings())
    commit()
    return residents.link_view_dict(view)


@me_blp.route("/family/<int:link_id>", methods=["DELETE"])
@login_required("resident")
@me_blp.response(204)
@me_blp.alt_response(404, description="FAMILY_LINK_NOT_FOUND")
def remove_family_link(link_id):
    """解除关联：代办人或成员本人均可解除，立即生效"""
    residents.remove_link(current_actor().scope, link_id)
    commit()


@blp.route("/<int:resident_id>/family/<int:link_id>/confirm", methods=["POST"])
@login_required("doctor", "admin")
@blp.response(200, FamilyLinkSchema)
@blp.alt_response(404, description="居民或关联不在管辖范围内（FAMILY_LINK_NOT_FOUND）")
@blp.alt_response(409, description="FAMILY_LINK_NOT_PENDING")
def staff_confirm_family_link(resident_id, link_id):
    """工作人员当面确认：成员本人在场同意由该家人代办（记录确认人）；适用于没有手机号的成员"""
    view = residents.confirm_by_staff(current_actor().scope, resident_id, link_id)
    commit()
    return residents.link_view_dict(view)
