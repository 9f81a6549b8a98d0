from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.schemas.common import BaseSchema, Date, Int, LocalDateTime, PageQuerySchema, PersonBriefSchema, page_schema
from services.core.masking import mask_name, mask_phone
from services.models.appointment import (
    APPOINTMENT_STATUS_LABELS,
    APPOINTMENT_STATUSES,
    AUDIENCE_LABELS,
    AUDIENCES,
    SLOT_KIND_LABELS,
    SLOT_KINDS,
)

WITH_OFFSET = "ISO 8601 带时区偏移，如 2026-03-10T08:30:00+08:00；响应按部署时区（默认 Asia/Shanghai）给出"
REASON = fields.String(validate=validate.Length(max=500), allow_none=True)


class AwareDateTime(fields.AwareDateTime):
    default_error_messages = {
        "invalid": "不是有效的日期时间（ISO 8601）",
        "invalid_awareness": "须带时区偏移，如 2026-03-10T08:30:00+08:00",
    }


# --- sessions ----------------------------------------------------------------------

class SlotCreateSchema(BaseSchema):
    team_id = Int(metadata={"description": "医生发布时可省略（默认本团队）；管理员必填"})
    staff_id = Int(allow_none=True, metadata={"description": "出诊的团队成员；为空表示整个团队"})
    kind = fields.String(required=True, validate=validate.OneOf(SLOT_KINDS),
                         metadata={"description": "clinic 门诊 | home_visit 上门服务 | round 巡诊"})
    round_point_id = Int(allow_none=True, metadata={"description": "巡诊（round）必填"})
    starts_at = AwareDateTime(required=True, metadata={"description": WITH_OFFSET})
    ends_at = AwareDateTime(required=True, metadata={"description": WITH_OFFSET})
    capacity = Int(required=True, validate=validate.Range(min=1, max=500))
    audience = fields.String(validate=validate.OneOf(AUDIENCES), metadata={
        "description": "everyone 所有居民 | signed_only 仅签约居民 | signed_first 签约居民优先；"
                       "默认：上门服务为 signed_only，其他为 everyone"})
    signed_first_hours = Int(validate=validate.Range(min=1, max=24 * 30), metadata={
        "description": "signed_first：发布后多少小时向其他居民开放（默认 24）"})
    repeat_weeks = Int(validate=validate.Range(min=1, max=104), metadata={
        "description": "每周重复的次数（含首次），如 8 表示连续 8 周同一时间；一次事务内全部创建"})
    title = fields.String(allow_none=True, validate=validate.Length(max=100))
    note = fields.String(allow_none=True, validate=validate.Length(max=500))


class RoundPointBriefSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    name = fields.String()
    village = fields.String()
    address = fields.String(allow_none=True)


class SlotSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    team = fields.Nested(PersonBriefSchema)
    staff = fields.Nested(PersonBriefSchema, allow_none=True)
    kind = fields.String()
    kind_label = fields.Function(lambda s: SLOT_KIND_LABELS.get(s.kind))
    round_point = fields.Nested(RoundPointBriefSchema, allow_none=True)
    starts_at = LocalDateTime()
    ends_at = LocalDateTime()
    capacity = Int()
    booked = Int(metadata={"description": "已占用名额（未取消的预约）"})
    remaining = Int(metadata={"description": "剩余名额"})
    audience = fields.String()
    audience_label = fields.Function(lambda s: AUDIENCE_LABELS.get(s.audience))
    open_to_all_at = LocalDateTime(allow_none=True, metadata={"description": "签约居民优先时段向所有居民开放的时间"})
    status = fields.String(metadata={"description": "open | cancelled"})
    cancel_reason = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    series_id = fields.String(allow_none=True, metadata={"description": "同一次每周重复创建的时段共用"})


class SlotOutSchema(SlotSchema):
    can_book = fields.Boolean(metadata={"description": "当前调用者此刻能否预约"})
    cannot_book_reason = fields.String(allow_none=True, metadata={
        "description": "不能预约时预约接口会返回的错误码：SLOT_CLOSED、SLOT_FULL、ALREADY_BOOKED、"
                       "SIGNED_RESIDENTS_ONLY、OUTSIDE_SERVICE_AREA、LOGIN_REQUIRED"})


class SlotCreatedSchema(SlotSchema):
    occurrences = fields.List(fields.Nested(SlotSchema), metadata={"description": "本次创建的全部时段（按时间）"})


class SlotQuerySchema(PageQuerySchema):
    team_id = Int()
    date_from = Date(metadata={"description": "默认今天（部署时区）"})
    date_to = Date(metadata={"description": "默认 date_from 之后 13 天；最长 92 天"})
    kind = fields.String(validate=validate.OneOf(SLOT_KINDS))
    round_point_id = Int()
    staff_id = Int()
    available = fields.Boolean(metadata={"description": "true：只列出尚可预约（未开始、未约满）的时段"})
    include_cancelled = fields.Boolean(metadata={"description": "工作人员可列出已取消的时段"})
    page_size = Int(load_default=50, validate=validate.Range(min=1, max=100))


class ReasonRequiredSchema(BaseSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class SlotCancelledSchema(SlotSchema):
    cancelled_appointments = Int(metadata={"description": "随之取消的预约数"})


# --- appointments ------------------------------------------------------------------

class AppointmentCreateSchema(BaseSchema):
    slot_id = Int(required=True)
    resident_id = Int(metadata={"description": "工作人员代约时必填；居民本人预约可省略"})
    reason = REASON
    enrolment_id = Int(allow_none=True, metadata={"description": "本次就诊对应的慢病随访（可选）"})


class CancelSchema(BaseSchema):
    reason = REASON


class RescheduleSchema(BaseSchema):
    slot_id = Int(required=True, metadata={"description": "改约到的新时段"})
    reason = REASON


class NoShowSchema(BaseSchema):
    reason = REASON


class ResidentBriefSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    name = fields.Function(lambda r: mask_name(r.name))
    phone = fields.Function(lambda r: mask_phone(r.phone))
    village = fields.String(allow_none=True)


class SlotBriefSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    kind = fields.String()
    kind_label = fields.Function(lambda s: SLOT_KIND_LABELS.get(s.kind))
    starts_at = LocalDateTime()
    ends_at = LocalDateTime()
    team = fields.Nested(PersonBriefSchema)
    staff = fields.Nested(PersonBriefSchema, allow_none=True)
    round_point = fields.Nested(RoundPointBriefSchema, allow_none=True)
    status = fields.String()
    title = fields.String(allow_none=True)


class AppointmentEventSchema(ma.Schema):
    class Meta:
        ordered = True

    at = LocalDateTime()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    actor_type = fields.String(metadata={"description": "resident | staff | system"})
    actor_id = Int(allow_none=True)
    reason = fields.String(allow_none=True)


class AppointmentSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    status = fields.String(metadata={"description": " | ".join(APPOINTMENT_STATUSES)})
    status_label = fields.Function(lambda a: APPOINTMENT_STATUS_LABELS.get(a.status))
    slot = fields.Nested(SlotBriefSchema)
    resident = fields.Nested(ResidentBriefSchema)
    reason = fields.String(allow_none=True)
    enrolment_id = Int(allow_none=True)
    booked_by = fields.String(metadata={"description": "resident | staff"})
    created_at = LocalDateTime()
    cancelled_at = LocalDateTime(allow_none=True)
    cancelled_by = fields.String(allow_none=True, metadata={"description": "resident | staff | session | reschedule"})
    cancel_reason = fields.String(allow_none=True)
    checked_in_at = LocalDateTime(allow_none=True)
    rescheduled_from_id = Int(allow_none=True)


class AppointmentDetailSchema(AppointmentSchema):
    history = fields.List(fields.Nested(AppointmentEventSchema))


class AppointmentQuerySchema(PageQuerySchema):
    when = fields.String(validate=validate.OneOf(("upcoming", "past")),
                         metadata={"description": "upcoming 未结束的有效预约（最近的在前）| past 已结束的（最近的在前）"})
    status = fields.String(validate=validate.OneOf(APPOINTMENT_STATUSES))
    resident_id = Int()
    team_id = Int()
    slot_id = Int()
    staff_id = Int()
    date_from = Date()
    date_to = Date()


class ResidentAppointmentSummarySchema(ma.Schema):
    class Meta:
        ordered = True

    resident_id = Int()
    upcoming = Int()
    booked = Int()
    checked_in = Int()
    cancelled = Int()
    no_show = Int(metadata={"description": "爽约次数"})
    last_no_show_at = LocalDateTime(allow_none=True)


class BookingSchema(AppointmentSchema):
    """A booking inside a day view, with the resident's no-show count."""

    no_show_count = Int()


class SessionViewSchema(ma.Schema):
    class Meta:
        ordered = True

    slot = fields.Nested(SlotSchema)
    appointments = fields.List(fields.Nested(BookingSchema))


class DayQuerySchema(BaseSchema):
    date = Date(metadata={"description": "默认今天（部署时区）"})


class AgendaQuerySchema(BaseSchema):
    date_from = Date(metadata={"description": "默认今天"})
    date_to = Date(metadata={"description": "默认与 date_from 同一天；最长 31 天"})


class TeamDaySchema(ma.Schema):
    class Meta:
        ordered = True

    date = Date()
    team = fields.Nested(PersonBriefSchema)
    sessions = fields.List(fields.Nested(SessionViewSchema))


class AgendaSchema(ma.Schema):
    class Meta:
        ordered = True

    date_from = Date()
    date_to = Date()
    sessions = fields.List(fields.Nested(SessionViewSchema))


SlotPageSchema = page_schema(SlotOutSchema, "SlotPage")
AppointmentPageSchema = page_schema(AppointmentSchema, "AppointmentPage")
