from __future__ import annotations

import datetime as dt

from flask import current_app
from flask_smorest import Blueprint

from app.auth import current_actor, login_required
from app.routes.exports import send_xlsx, xlsx_doc
from app.schemas.exports import XLSX_BODY
from app.schemas.stats import (
    MonthlyQuerySchema,
    MonthlySchema,
    OverdueSchema,
    OverviewSchema,
    PeriodQuerySchema,
    ReminderBreakdownSchema,
    UnitQuerySchema,
    UnitsSchema,
    WorkloadQuerySchema,
    WorkloadSchema,
)
from services import stats
from services.core import clock
from services.exports import indicators as sheets

blp = Blueprint("stats", __name__, url_prefix="/stats",
                description="全县视图：签约率、续约率、履约率、慢病管理指标、提醒送达率、满意度，逐月趋势与绩效工作量")


def _settings() -> stats.OverviewSettings:
    return stats.OverviewSettings(visits_per_year=current_app.extensions["followup_rules"].visits_per_year)


def _period(args: dict) -> tuple[dt.date, dt.date]:
    today = clock.today()
    date_to = args.get("date_to") or today
    return args.get("date_from") or dt.date(date_to.year, 1, 1), date_to


def _unit(args: dict) -> stats.Unit:
    return stats.resolve_unit(current_actor().scope, args.get("team_id"), args.get("institution_id"))


def overview_for(args: dict) -> dict:
    date_from, date_to = _period(args)
    return stats.overview(_unit(args), date_from, date_to, _settings())


def workload_for(args: dict) -> dict:
    date_from, date_to = _period(args)
    return stats.workload(_unit(args), date_from, date_to, sort=args["sort"], order=args["order"])


@blp.route("/overview", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(PeriodQuerySchema, location="query")
@blp.response(200, OverviewSchema)
@blp.alt_response(404, description="团队或机构不存在或不在管辖范围内")
def overview(args):
    """总览：签约率（总体与各重点人群）、续约率、履约率、各慢病项目规范管理率与控制率、提醒送达率、满意度。

    团队成员看本团队（指定其他团队为 404）；机构管理员看本机构及下级机构；医共体管理员看全部。
    每项为 {numerator, denominator, rate}，各字段的准确口径见响应结构说明。"""
    return overview_for(args)


@blp.route("/monthly", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(MonthlyQuerySchema, location="query")
@blp.response(200, MonthlySchema)
@blp.alt_response(404, description="团队或机构不存在或不在管辖范围内")
def monthly(args):
    """逐月指标（供图表）：每月为一个统计期，本月截至今天；签约率按月末（本月为今天）统计。"""
    return stats.monthly(_unit(args), stats.metric_names(args.get("metric")), args["months"], _settings())


@blp.route("/workload", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(WorkloadQuerySchema, location="query")
@blp.response(200, WorkloadSchema)
@blp.alt_response(404, description="团队或机构不存在或不在管辖范围内")
def workload(args):
    """绩效工作量：每个团队、每位人员在统计期内的签约（新签、续约）、面对面随访、未访到、履约服务、预约到诊与满意度。"""
    return workload_for(args)


@blp.route("/units", methods=["GET"])
@login_required("doctor", "admin")
@blp.response(200, UnitsSchema)
def units():
    """可选统计单位：调用者权限范围内的机构与团队（供看板的机构/团队选择器；团队成员只有本团队）。"""
    return stats.pickable_units(current_actor().scope, clock.today())


@blp.route("/overdue", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(UnitQuerySchema, location="query")
@blp.response(200, OverdueSchema)
@blp.alt_response(404, description="团队或机构不存在或不在管辖范围内")
def overdue(args):
    """逾期未随访：今天各团队、各村/社区逾期的在管慢病患者数（与工作清单“逾期”部分同一口径），按项目分列。"""
    return stats.overdue_followups(_unit(args), clock.today())


@blp.route("/reminders", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(PeriodQuerySchema, location="query")
@blp.response(200, ReminderBreakdownSchema)
@blp.alt_response(404, description="团队或机构不存在或不在管辖范围内")
def reminders(args):
    """提醒送达情况：统计期内发给本单位居民的提醒已发送、已送达、失败（按原因）及逐日明细；
    居民范围与 /stats/overview 的提醒送达率相同。"""
    date_from, date_to = _period(args)
    return stats.reminder_breakdown(current_actor().scope, _unit(args), date_from, date_to)


@blp.route("/overview.xlsx", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(PeriodQuerySchema, location="query")
@blp.response(200, XLSX_BODY, **xlsx_doc("指标总览", "overview", "每行一个指标：分子、分母、比率（满意度为平均分），"
                                         "与 GET /stats/overview 对同一查询的结果一致"))
@blp.alt_response(404, description="团队或机构不存在或不在管辖范围内")
def overview_xlsx(args):
    """导出指标总览（Excel）：与 GET /stats/overview 相同的参数、权限范围和数值"""
    return send_xlsx(sheets.overview_workbook(overview_for(args)), "指标总览", "overview")


@blp.route("/workload.xlsx", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(WorkloadQuerySchema, location="query")
@blp.response(200, XLSX_BODY, **xlsx_doc("绩效工作量", "workload", "两个工作表：团队、人员，列与顺序同 GET /stats/workload"))
@blp.alt_response(404, description="团队或机构不存在或不在管辖范围内")
def workload_xlsx(args):
    """导出绩效工作量（Excel）：与 GET /stats/workload 相同的参数、排序和数值"""
    return send_xlsx(sheets.workload_workbook(workload_for(args)), "绩效工作量", "workload")
