from __future__ import annotations

import datetime as dt

from flask_smorest import Blueprint

from app.auth import (
    acting_scope,
    acting_scope_for,
    current_actor,
    login_required,
    optional_actor,
    request_context,
    settings,
)
from app.schemas.appointments import (
    AgendaQuerySchema,
    AgendaSchema,
    AppointmentCreateSchema,
    AppointmentDetailSchema,
    AppointmentPageSchema,
    AppointmentQuerySchema,
    CancelSchema,
    DayQuerySchema,
    NoShowSchema,
    ReasonRequiredSchema,
    RescheduleSchema,
    ResidentAppointmentSummarySchema,
    SlotCancelledSchema,
    SlotCreatedSchema,
    SlotCreateSchema,
    SlotOutSchema,
    SlotPageSchema,
    SlotQuerySchema,
    TeamDaySchema,
)
from app.tx import commit, idempotent
from services import appointments
from services.core import clock

blp = Blueprint("appointments", __name__, description="预约：出诊时段、巡诊、上门服务、签到与爽约")

BOOKING_ERRORS = ("409 SLOT_FULL、ALREADY_BOOKED、SLOT_CLOSED；403 SIGNED_RESIDENTS_ONLY、OUTSIDE_SERVICE_AREA；"
                  "404 SLOT_NOT_FOUND、RESIDENT_NOT_FOUND")
MAX_SLOT_DAYS = 92
MAX_AGENDA_DAYS = 31


def _settings() -> appointments.AppointmentSettings:
    return settings().appointments


def _caller(actor) -> tuple[int | None, bool]:
    """Who is asking about bookability: a resident's id, and whether the caller is staff."""
    resident_id = actor.scope.resident_id if actor and actor.scope.kind == "resident" else None
    return resident_id, bool(actor and actor.scope.is_staff)


# --- sessions ----------------------------------------------------------------------

@blp.route("/slots", methods=["POST"])
@idempotent
@login_required("doctor", "admin")
@blp.arguments(SlotCreateSchema)
@blp.response(201, SlotCreatedSchema)
@blp.alt_response(409, description="SLOT_OVERLAP（该医生同一时间已有出诊安排）")
def create_slot(body):
    """发布出诊时段（门诊、上门服务、巡诊）；repeat_weeks 可按周重复，一次事务内全部创建"""
    published = appointments.create_slots(body, current_actor().scope, _settings())
    commit()
    return published


@blp.route("/slots", methods=["GET"])
@blp.arguments(SlotQuerySchema, location="query")
@blp.response(200, SlotPageSchema)
def list_slots(args):
    """可预约时段及剩余名额（公开；携带居民令牌时给出本人能否预约及原因）"""
    actor = optional_actor()
    first = args.get("date_from") or clock.today()
    first, last = clock.checked_range(first, args.get("date_to") or first + dt.timedelta(days=13), MAX_SLOT_DAYS)
    filters = appointments.SlotFilters(
        date_from=first, date_to=last, team_id=args.get("team_id"), kind=args.get("kind"),
        round_point_id=args.get("round_point_id"), staff_id=args.get("staff_id"),
        include_cancelled=bool(args.get("include_cancelled")) and bool(actor and actor.scope.is_staff),
        only_available=bool(args.get("available")))
    return appointments.slots_page(filters, args["page"], args["page_size"], *_caller(actor))


@blp.route("/slots/<int:slot_id>", methods=["GET"])
@blp.response(200, SlotOutSchema)
@blp.alt_response(404, description="SLOT_NOT_FOUND")
def get_slot(slot_id):
    """单个时段（公开）"""
    return appointments.slot_view(slot_id, *_caller(optional_actor()))


@blp.route("/slots/<int:slot_id>/cancel", methods=["POST"])
@login_required("doctor", "admin")
@blp.arguments(ReasonRequiredSchema)
@blp.response(200, SlotCancelledSchema)
@blp.alt_response(409, description="SLOT_ALREADY_CANCELLED、SLOT_CLOSED（已结束）")
def cancel_slot(body, slot_id):
    """取消出诊安排：其上全部预约随之取消并记录原因（短信通知由提醒功能发送）"""
    cancelled = appointments.cancel_slot(slot_id, body["reason"], current_actor().scope)
    commit()
    return cancelled


# --- appointments ------------------------------------------------------------------

@blp.route("/appointments", methods=["POST"])
@idempotent
@login_required("resident", "doctor", "admin")
@blp.arguments(AppointmentCreateSchema)
@blp.response(201, AppointmentDetailSchema)
@blp.alt_response(409, description=BOOKING_ERRORS)
def book(body):
    """预约：居民为本人预约，工作人员为管辖范围内的居民代约；名额在并发下也不会超订"""
    booked = appointments.book(body, acting_scope(body.get("resident_id")))
    commit()
    return booked


@blp.route("/appointments", methods=["GET"])
@login_required("resident", "doctor", "admin")
@blp.arguments(AppointmentQuerySchema, location="query")
@blp.response(200, AppointmentPageSchema)
def list_appointments(args):
    """预约列表：居民看本人的（when=upcoming|past），工作人员看本团队/管辖范围内的"""
    page_args = {"page": args.pop("page"), "page_size": args.pop("page_size")}
    page = appointments.appointments_page(acting_scope(args.get("resident_id")), appointments.AppointmentFilters(**args),
                                          **page_args, ctx=request_context())
    commit()
    return page


@blp.route("/appointments/<int:appointment_id>", methods=["GET"])
@login_required("resident", "doctor", "admin")
@blp.response(200, AppointmentDetailSchema)
@blp.alt_response(404, description="APPOINTMENT_NOT_FOUND")
def get_appointment(appointment_id):
    """单个预约及其变更记录"""
    return appointments.get_appointment_detail(appointment_id, acting_scope_for("appointment", appointment_id))


def _change(detail):
    commit()
    return detail


@blp.route("/appointments/<int:appointment_id>/cancel", methods=["POST"])
@login_required("resident", "doctor", "admin")
@blp.arguments(CancelSchema)
@blp.response(200, AppointmentDetailSchema)
@blp.alt_response(409, description="CANCEL_WINDOW_CLOSED（居民在开始前不足截止时间）、INVALID_APPOINTMENT_STATUS")
def cancel_appointment(body, appointment_id):
    """取消预约：居民须在开始前（默认 2 小时）取消；工作人员随时可取消但须说明原因"""
    return _change(appointments.cancel(appointment_id, body.get("reason"), acting_scope_for("appointment", appointment_id),
                                       _settings()))


@blp.route("/appointments/<int:appointment_id>/reschedule", methods=["POST"])
@login_required("resident", "doctor", "admin")
@blp.arguments(RescheduleSchema)
@blp.response(201, AppointmentDetailSchema)
@blp.alt_response(409, description="新时段不可约时原预约保留不变：" + BOOKING_ERRORS)
def reschedule_appointment(body, appointment_id):
    """改约：取消原预约并预约新时段，在同一事务内完成；新时段约不上则原预约不受影响"""
    appt = appointments.reschedule(appointment_id, body["slot_id"], body.get("reason"),
                                   acting_scope_for("appointment", appointment_id), _settings())
    return _change(appt)


@blp.route("/appointments/<int:appointment_id>/check_in", methods=["POST"])
@login_required("doctor", "admin")
@blp.response(200, AppointmentDetailSchema)
@blp.alt_response(409, description="CHECK_IN_NOT_OPEN（非就诊当天）、INVALID_APPOINTMENT_STATUS、SLOT_CLOSED")
def check_in(appointment_id):
    """签到（就诊当天；已被自动记为爽约的也可补签到）"""
    return _change(appointments.check_in(appointment_id, current_actor().scope))


@blp.route("/appointments/<int:appointment_id>/no_show", methods=["POST"])
@login_required("doctor", "admin")
@blp.arguments(NoShowSchema)
@blp.response(200, AppointmentDetailSchema)
@blp.alt_response(409, description="SESSION_NOT_STARTED、INVALID_APPOINTMENT_STATUS")
def no_show(body, appointment_id):
    """记为爽约（时段开始后）"""
    return _change(appointments.mark_no_show(appointment_id, current_actor().scope, body.get("reason")))


# --- views -------------------------------------------------------------------------

@blp.route("/teams/<int:team_id>/day", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(DayQuerySchema, location="query")
@blp.response(200, TeamDaySchema)
def team_day(args, team_id):
    """团队日视图：当天各时段（按时间）及其预约，含每位居民的爽约次数"""
    day = args.get("date") or clock.today()
    result = appointments.team_day(team_id, day, current_actor().scope, request_context())
    commit()
    return result


@blp.route("/agenda", methods=["GET"])
@login_required("doctor")
@blp.arguments(AgendaQuerySchema, location="query")
@blp.response(200, AgendaSchema)
def agenda(args):
    """医生本人日程：指派给本人的时段和本团队的公共时段，及其预约"""
    first = args.get("date_from") or clock.today()
    first, last = clock.checked_range(first, args.get("date_to") or first, MAX_AGENDA_DAYS)
    result = appointments.doctor_agenda(current_actor().scope, first, last, request_context())
    commit()
    return result


@blp.route("/residents/<int:resident_id>/appointment-summary", methods=["GET"])
@login_required("resident", "doctor", "admin")
@blp.response(200, ResidentAppointmentSummarySchema)
def resident_summary(resident_id):
    """居民预约概况：即将到来的预约数、签到、取消与爽约次数"""
    return appointments.resident_summary(resident_id, current_actor().scope)
