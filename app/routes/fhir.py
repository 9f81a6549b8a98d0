"""FHIR Bulk Data export for the county platform (信息共享), as the Bulk Data
Access IG describes: kick-off with `Prefer: respond-async` → 202 and
`Content-Location`; polling → 202 with `X-Progress`, then 200 with the
manifest; NDJSON files (`application/fhir+ndjson`, token required); DELETE
cancels. The work runs outside the request (a thread, and the scheduler's
`fhir_exports` job for anything queued or interrupted by a restart)."""
from __future__ import annotations

from flask import Response, current_app, request, send_file, url_for
from flask_smorest import Blueprint

from app.auth import current_actor, login_required
from app.fhir_exports import bulk_settings, start_worker
from app.schemas.fhir import ExportKickOffQuerySchema, ManifestSchema
from app.tx import commit
from services.core.errors import Conflict, ValidationFailed
from services.exports.fhir import bulk

blp = Blueprint("fhir", __name__, url_prefix="/fhir",
                description="FHIR R4 批量导出（Bulk Data）：供县级全民健康信息平台采集（管理员）")


def _kick_off(args: dict, team_id: int | None):
    bulk.authorise(current_actor().scope, team_id)  # who may, before what the request says
    if "respond-async" not in request.headers.get("Prefer", ""):
        raise ValidationFailed("批量导出须以异步方式请求：请加请求头 Prefer: respond-async", code="PREFER_RESPOND_ASYNC",
                               errors={"Prefer": ["须为 respond-async"]})
    if args.get("output_format") not in (None, "application/fhir+ndjson", "application/ndjson", "ndjson"):
        raise ValidationFailed.field("_outputFormat", "仅支持 application/fhir+ndjson", code="UNSUPPORTED_FORMAT")
    export = bulk.kick_off(current_actor().scope, types=bulk.parse_types(args.get("types")),
                           since=args.get("since"), team_id=team_id, request_url=request.url,
                           settings=bulk_settings(current_app))
    commit()
    start_worker(current_app._get_current_object(), export.id)
    response = Response(status=202)
    response.headers["Content-Location"] = url_for("fhir.export_status", export_id=export.id, _external=True)
    return response


@blp.route("/$export", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(ExportKickOffQuerySchema, location="query")
@blp.response(202, description="已受理：Content-Location 为任务状态地址")
@blp.alt_response(403, description="仅管理员（医生为 403）")
def export_all(args):
    """发起批量导出（医共体管理员为全部数据，机构管理员为本机构及下级机构）。须带 Prefer: respond-async；
    _type 为资源类型（逗号分隔，默认全部），_since 为时间点（只导出此后新建或变更的记录）。"""
    return _kick_off(args, None)


@blp.route("/Group/<int:team_id>/$export", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(ExportKickOffQuerySchema, location="query")
@blp.response(202, description="已受理：Content-Location 为任务状态地址")
@blp.alt_response(403, description="仅管理员")
@blp.alt_response(404, description="团队不在管辖范围内")
def export_team(args, team_id):
    """发起一个家庭医生团队的批量导出（该团队管理的居民及其记录）"""
    return _kick_off(args, team_id)


@blp.route("/exports/<export_id>", methods=["GET"])
@login_required("doctor", "admin")
@blp.response(200, ManifestSchema)
@blp.alt_response(202, description="进行中：X-Progress 为进度")
@blp.alt_response(404, description="EXPORT_NOT_FOUND（不存在、不在管辖范围内或已过期）")
@blp.alt_response(409, description="EXPORT_FAILED 或 EXPORT_CANCELLED")
def export_status(export_id):
    """导出任务状态：进行中为 202（X-Progress、Retry-After），完成后为 200 与清单（manifest）"""
    export = bulk.visible_export(current_actor().scope, export_id)
    if export.status in ("queued", "running"):
        response = Response(status=202)
        response.headers["X-Progress"] = export.progress or export.status
        response.headers["Retry-After"] = "2"
        return response
    if export.status == "failed":
        raise Conflict("导出失败：" + (export.error or "未知原因"), code="EXPORT_FAILED")
    if export.status == "cancelled":
        raise Conflict("导出已取消", code="EXPORT_CANCELLED")
    return bulk.manifest(export, url_for("fhir.export_status", export_id="", _external=True).rstrip("/"))


@blp.route("/exports/<export_id>", methods=["DELETE"])
@login_required("doctor", "admin")
@blp.response(202, description="已取消并删除文件")
@blp.alt_response(404, description="EXPORT_NOT_FOUND")
def cancel_export(export_id):
    """取消导出任务（进行中即停止），并删除已生成的文件"""
    bulk.cancel(current_actor().scope, export_id, bulk_settings(current_app))
    commit()
    return Response(status=202)


@blp.route("/exports/<export_id>/<name>", methods=["GET"])
@login_required("doctor", "admin")
@blp.response(200, {"type": "string", "format": "binary"}, content_type=bulk.NDJSON,
              description="NDJSON：每行一个 FHIR R4 资源")
@blp.alt_response(404, description="EXPORT_NOT_FOUND")
def export_file(export_id, name):
    """下载导出文件（每种资源一个 NDJSON 文件）"""
    path = bulk.file_path(current_actor().scope, export_id, name, bulk_settings(current_app))
    response = send_file(path, mimetype=bulk.NDJSON, conditional=False, etag=False)
    response.headers["Cache-Control"] = "no-store, private"
    return response
