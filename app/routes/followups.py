from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from app.auth import current_actor, login_required, request_context
from app.schemas.followups import (
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
from services import audit, clock, followup_stats, followups, referrals
from services.pagination import paginate

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
    enrolment = followups.enrol(resident_id, body, current_actor().scope, _rules(), request_context())
    commit()
    return enrolment


@blp.route("/residents/<int:resident_id>/programs", methods=["GET"])
@login_required("doctor", "admin")
@blp.response(200, EnrolmentListSchema)
def list_enrolments(resident_id):
    """该居民的慢病管理记录"""
    return {"items": followups.enrolments_of(resident_id, current_actor().scope)}


@blp.route("/programs/<int:enrolment_id>", methods=["PATCH"])
@login_required("doctor", "admin")
@blp.arguments(EnrolmentStatusSchema)
@blp.response(200, EnrolmentSchema)
def change_status(body, enrolment_id):
    """管理状态变更（迁出、死亡、失访），须注明日期和原因"""
    enrolment = followups.change_status(enrolment_id, body, current_actor().scope)
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
    row = followups.record_followup(body, current_actor().scope, _rules(), request_context())
    commit()
    return row


@blp.route("/residents/<int:resident_id>/followups", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(FollowUpQuerySchema, location="query")
@blp.response(200, FollowUpPageSchema)
def list_followups(args, resident_id):
    """该居民的随访记录（最新在前）"""
    scope = current_actor().scope
    stmt = followups.followups_of(resident_id, scope, args.get("program"))
    page = paginate(stmt, args["page"], args["page_size"])
    audit.record(scope, "read", resident=followups.get_visible_resident(resident_id, scope), ctx=request_context(),
                 detail={"record": "followups", "count": len(page.items)})
    commit()
    return page.as_dict()


@blp.route("/worklist", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(WorklistQuerySchema, location="query")
@blp.response(200, WorklistPageSchema)
def worklist(args):
    """团队随访工作清单：逾期（逾期最久在前）、N 天内到期，其后为紧急转诊待随访"""
    scope = current_actor().scope
    today = clock.today()
    filters = followups.WorklistFilters(
        team_id=followups.worklist_team(scope, args.get("team_id")), today=today,
        within_days=args["within_days"], due_before=args.get("due_before"), status=args.get("status"),
        program=args.get("program"), village=args.get("village"), round_point_id=args.get("round_point_id"))
    page = paginate(followups.worklist_query(filters), args["page"], args["page_size"])
    rows = [followups.worklist_row(e, filters, current_app.extensions["pii_cipher"]) for e in page.items]
    audit.record(scope, "search", ctx=request_context(),
                 detail={"list": "worklist", "resident_ids": [row["resident"]["id"] for row in rows]})
    commit()
    return page.as_dict(rows)


@blp.route("/referrals", methods=["POST"])
@idempotent
@login_required("doctor", "admin")
@blp.arguments(ReferralCreateSchema)
@blp.response(201, ReferralSchema)
def create_referral(body):
    """转诊（上转或下转；可关联随访；紧急标记）"""
    referral = referrals.create_referral(body, current_actor().scope)
    commit()
    return referral


@blp.route("/referrals", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(ReferralQuerySchema, location="query")
@blp.response(200, ReferralPageSchema)
def list_referrals(args):
    """转出或转入本机构（及下级）的转诊"""
    stmt = referrals.referrals_query(current_actor().scope, args.get("status"), args.get("resident_id"))
    return paginate(stmt, args["page"], args["page_size"]).as_dict()


@blp.route("/referrals/<int:referral_id>", methods=["PATCH"])
@login_required("doctor", "admin")
@blp.arguments(ReferralUpdateSchema)
@blp.response(200, ReferralSchema)
@blp.alt_response(409, description="INVALID_REFERRAL_STATUS")
def update_referral(body, referral_id):
    """转诊状态：created → received → completed，或 cancelled（须注明原因）"""
    referral = referrals.update_referral(referral_id, body, current_actor().scope)
    commit()
    return referral


@blp.route("/stats/followup", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(StatsQuerySchema, location="query")
@blp.response(200)
def followup_stats_view(args):
    """随访指标：管理人数、面对面随访人均次数、规范管理率、控制率（严重精神障碍以在册为分母）"""
    scope = current_actor().scope
    team_ids = followup_stats.unit_team_ids(scope, args.get("team_id"), args.get("institution_id"))
    items = followup_stats.followup_indicators(team_ids, args["date_from"], args["date_to"],
                                               _rules().visits_per_year)
    return {"date_from": args["date_from"].isoformat(), "date_to": args["date_to"].isoformat(),
            "team_ids": team_ids, "programs": followup_stats.as_dicts(items)}

