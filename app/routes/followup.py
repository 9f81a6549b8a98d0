from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from app.auth import acting_scope, cipher, current_actor, login_required, request_context
from app.schemas.followup import (
    EXTRA_KEYS,
    EnrolmentCreateSchema,
    EnrolmentListSchema,
    EnrolmentSchema,
    EnrolmentStatusSchema,
    FollowUpCreateSchema,
    FollowUpPageSchema,
    FollowUpQuerySchema,
    FollowUpSchema,
    ReferralCreateSchema,
    ReferralPageSchema,
    ReferralQuerySchema,
    ReferralSchema,
    ReferralUpdateSchema,
    StatsQuerySchema,
    WorklistPageSchema,
    WorklistQuerySchema,
)
from app.tx import commit, idempotent
from services import followup
from services.core import clock

blp = Blueprint("followups", __name__, description="慢病管理：纳入管理、随访评估、工作清单、转诊、指标")


def _rules():
    return current_app.extensions["followup_rules"]


@blp.route("/residents/<int:resident_id>/programs", methods=["POST"])
@idempotent
@login_required("doctor", "admin")
@blp.arguments(EnrolmentCreateSchema)
@blp.response(201, EnrolmentSchema)
@blp.alt_response(409, description="ALREADY_ENROLLED")
def enrol(body, resident_id):
    """纳入慢病管理（高血压、2型糖尿病、严重精神障碍），首次随访按规则排期"""
    enrolment = followup.enrol(resident_id, body, current_actor().scope, _rules(), request_context())
    commit()
    return enrolment


@blp.route("/residents/<int:resident_id>/programs", methods=["GET"])
@login_required("doctor", "admin")
@blp.response(200, EnrolmentListSchema)
def list_enrolments(resident_id):
    """该居民的慢病管理记录"""
    return {"items": followup.enrolments_of(resident_id, current_actor().scope)}


@blp.route("/programs/<int:enrolment_id>", methods=["PATCH"])
@login_required("doctor", "admin")
@blp.arguments(EnrolmentStatusSchema)
@blp.response(200, EnrolmentSchema)
def change_status(body, enrolment_id):
    """管理状态变更（迁出、死亡、失访），须注明日期和原因"""
    enrolment = followup.change_status(enrolment_id, body, current_actor().scope)
    commit()
    return enrolment


@blp.route("/followups", methods=["POST"])
@idempotent
@login_required("doctor", "admin")
@blp.arguments(FollowUpCreateSchema)
@blp.response(201, FollowUpSchema)
@blp.alt_response(422, description="临床校验失败（字段信息）或 NOT_ENROLLED")
def record_followup(body):
    """登记随访并按国家规范自动评估（分类、下次随访日期、转诊建议、原因代码）"""
    body = {**body, "extra": {k: body.pop(k) for k in list(body) if k in EXTRA_KEYS}}
    row = followup.record_followup(body, current_actor().scope, _rules(), request_context())
    commit()
    return row


@blp.route("/residents/<int:resident_id>/followups", methods=["GET"])
@login_required("resident", "doctor", "admin")
@blp.arguments(FollowUpQuerySchema, location="query")
@blp.response(200, FollowUpPageSchema)
def list_followups(args, resident_id):
    """该居民的随访记录（最新在前）：工作人员看管辖范围内的居民；居民看本人的，或已确认关联的家庭成员的"""
    page = followup.followups_page(resident_id, acting_scope(resident_id), args.get("program"), args["page"],
                                   args["page_size"], request_context())
    commit()
    return page


@blp.route("/worklist", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(WorklistQuerySchema, location="query")
@blp.response(200, WorklistPageSchema)
def worklist(args):
    """团队随访工作清单：逾期（逾期最久在前）、N 天内到期，其后为紧急转诊待随访"""
    scope = current_actor().scope
    today = clock.today()
    filters = followup.WorklistFilters(
        team_id=followup.worklist_team(scope, args.get("team_id")), today=today,
        within_days=args["within_days"], due_before=args.get("due_before"), status=args.get("status"),
        program=args.get("program"), village=args.get("village"), round_point_id=args.get("round_point_id"))
    page = followup.worklist_page(scope, filters, args["page"], args["page_size"], cipher(), request_context())
    commit()
    return page


@blp.route("/referrals", methods=["POST"])
@idempotent
@login_required("doctor", "admin")
@blp.arguments(ReferralCreateSchema)
@blp.response(201, ReferralSchema)
def create_referral(body):
    """转诊（上转或下转；可关联随访；紧急标记）"""
    referral = followup.create_referral(body, current_actor().scope)
    commit()
    return referral


@blp.route("/referrals", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(ReferralQuerySchema, location="query")
@blp.response(200, ReferralPageSchema)
def list_referrals(args):
    """转出或转入本机构（及下级）的转诊"""
    return followup.referrals_page(current_actor().scope, args.get("status"), args.get("resident_id"), args["page"],
                                   args["page_size"])


@blp.route("/referrals/<int:referral_id>", methods=["PATCH"])
@login_required("doctor", "admin")
@blp.arguments(ReferralUpdateSchema)
@blp.response(200, ReferralSchema)
@blp.alt_response(409, description="INVALID_REFERRAL_STATUS")
def update_referral(body, referral_id):
    """转诊状态：created → received → completed，或 cancelled（须注明原因）"""
    referral = followup.update_referral(referral_id, body, current_actor().scope)
    commit()
    return referral


@blp.route("/stats/followup", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(StatsQuerySchema, location="query")
@blp.response(200)
def followup_stats_view(args):
    """随访指标：管理人数、面对面随访人均次数、规范管理率、控制率（严重精神障碍以在册为分母）"""
    return followup.followup_stats(current_actor().scope, args.get("team_id"), args.get("institution_id"),
                                   args["date_from"], args["date_to"], _rules().visits_per_year)

