"""The county's picture: overview, month-by-month figures and workload."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.schemas.common import BaseSchema, Date, Int
from services.stats.series import MAX_MONTHS, METRICS
from services.stats.workloads import SORT_KEYS

D = "分子 ÷ 分母；分母为 0 时 rate 为 null。"


class UnitQuerySchema(BaseSchema):
    team_id = Int(metadata={"description": "某一团队（团队成员只能看本团队；不在管辖范围内为 404）"})
    institution_id = Int(metadata={"description": "某一机构及其下级机构（机构管理员只能看本机构及下级）"})


class PeriodQuerySchema(UnitQuerySchema):
    date_from = Date(metadata={"description": "统计期开始日（含），默认本年 1 月 1 日"})
    date_to = Date(metadata={"description": "统计期结束日（含），默认今天"})


class FractionSchema(ma.Schema):
    class Meta:
        ordered = True

    numerator = fields.Integer(metadata={"description": "分子"})
    denominator = fields.Integer(allow_none=True, metadata={"description": "分母"})
    rate = fields.Float(allow_none=True, metadata={"description": "比率（0–1，四位小数；满意度为平均分 1–5，两位小数）"})


def _fraction(description: str) -> fields.Nested:
    return fields.Nested(FractionSchema, metadata={"description": description + D})


class UnitSchema(ma.Schema):
    kind = fields.String(metadata={"description": "team | institution | community"})
    id = fields.Integer()
    name = fields.String()


class TagCoverageSchema(FractionSchema):
    tag = fields.String(metadata={"description": "重点人群代码（elderly、child 按统计日的年龄判断）"})
    label = fields.String()


class ProgramFiguresSchema(ma.Schema):
    class Meta:
        ordered = True

    program = fields.String(metadata={"description": "hypertension | diabetes | mental_disorder"})
    under_management = fields.Integer(metadata={
        "description": "管理人数：统计期结束日前纳入管理、且未在统计期开始前迁出/死亡/失访的患者（同 /stats/followup）"})
    register = fields.Integer(metadata={"description": "在册人数：统计期结束日仍在管理中的患者"})
    face_to_face_visits = fields.Integer(metadata={"description": "统计期内面对面随访（门诊、上门，已访到）次数"})
    standard_management = _fraction(
        "规范管理率：统计期内面对面随访次数达到要求（每年 4 次，按管理天数折算、向上取整）的患者 ÷ 管理人数。")
    control = _fraction(
        "控制率：统计期内最近一次已访到随访达标（严重精神障碍为「稳定」）的患者 ÷ 管理人数"
        "（严重精神障碍以在册人数为分母）；无随访者按未达标计。")


class OverviewSchema(ma.Schema):
    class Meta:
        ordered = True

    unit = fields.Nested(UnitSchema)
    date_from = fields.Date()
    date_to = fields.Date()
    coverage_on = fields.Date(metadata={"description": "签约率的统计日：date_to，晚于今天时为今天"})
    team_count = fields.Integer()
    coverage = _fraction(
        "签约率：本单位人口（在本单位机构建档、建档日不晚于统计日的居民；团队为其所属机构及下级机构的居民）中，"
        "统计日持有与本单位团队签订的、在有效期内的签约（未解约）的人数 ÷ 本单位人口。")
    coverage_by_tag = fields.List(fields.Nested(TagCoverageSchema), metadata={
        "description": "各重点人群签约率：同上，分子分母均限于统计日具有该标签的居民。" + D})
    renewal = _fraction(
        "续约率：本单位团队的签约中，期满日在统计期内（提前解约的不计）且已续约（续约已缴费或已生效，"
        "仅申请未计）的签约数 ÷ 期满日在统计期内的签约数。")
    fulfilment = _fraction(
        "履约率：统计期内任一日处于有效期的本单位团队签约，截至 date_to 已提供的服务次数 ÷ "
        "这些签约全部服务项目承诺的总次数（整个签约期，不按时间折算）。")
    programs = fields.List(fields.Nested(ProgramFiguresSchema), metadata={
        "description": "各慢病管理项目的管理人数、规范管理率、控制率，与 /stats/followup 口径一致"})
    reminder_delivery = _fraction(
        "提醒送达率：统计期内（按发送时间）发给本单位居民（机构为在本单位机构建档的居民；团队为统计期内有有效签约"
        "或由本团队管理慢病的居民）的短信和微信订阅消息中，回执为已送达的条数 ÷ 已发送条数。")
    satisfaction = _fraction(
        "满意度：统计期内居民给本单位团队的满意度评价分数之和 ÷ 评价条数；rate 为平均分（1–5），分母即评价条数。")


class MonthlyQuerySchema(UnitQuerySchema):
    metric = fields.String(metadata={
        "description": "指标名，多个用英文逗号分隔；不填为全部。可选：" + "、".join(METRICS)})
    months = Int(load_default=12, validate=validate.Range(min=1, max=MAX_MONTHS),
                 metadata={"description": f"月数（默认 12，最多 {MAX_MONTHS}），以本月结束"})


class MonthSchema(ma.Schema):
    class Meta:
        ordered = True

    month = fields.String(metadata={"description": "YYYY-MM"})
    date_from = fields.Date(metadata={"description": "该月 1 日"})
    date_to = fields.Date(metadata={"description": "该月最后一天；本月为今天（签约率按此日统计）"})
    figures = fields.Dict(keys=fields.String(), values=fields.Nested(FractionSchema), metadata={
        "description": "指标名 → {numerator, denominator, rate}，口径同 /stats/overview 的同名字段，统计期为该月"})


class MonthlySchema(ma.Schema):
    class Meta:
        ordered = True

    unit = fields.Nested(UnitSchema)
    metrics = fields.List(fields.String())
    months = fields.List(fields.Nested(MonthSchema), metadata={"description": "由远及近，最后一项为本月"})


class WorkloadQuerySchema(PeriodQuerySchema):
    sort = fields.String(load_default="name", validate=validate.OneOf(SORT_KEYS), metadata={
        "description": "排序字段（团队表与人员表同时排序）；name 为名称，satisfaction 按平均分（无评价者在最后）"})
    order = fields.String(load_default="asc", validate=validate.OneOf(("asc", "desc")))


_COUNTER_DOCS = {
    "signed_new": "新签约数：统计期内签约生效（现场签约、受理免费申请或收款后生效，提前缴费的续约为缴费时）的新签约",
    "signed_renewed": "续约数：同上，为续约",
    "signed_total": "签约合计（新签约 + 续约）",
    "face_to_face_followups": "面对面随访次数：统计期内门诊或上门、已访到的随访（按登记人计）",
    "phone_followups": "电话随访次数（已访到）",
    "not_reached_visits": "未访到次数",
    "services_delivered": "履约服务次数：统计期内在签约下提供的服务（按提供人计）",
    "appointments_attended": "预约到诊数：统计期内开始的号源中已签到的预约（按号源医生计）",
}


def _counters() -> dict:
    return {name: fields.Integer(metadata={"description": doc}) for name, doc in _COUNTER_DOCS.items()}


WorkloadTeamSchema = type("WorkloadTeam", (ma.Schema,), {
    "Meta": type("Meta", (), {"ordered": True}),
    "team_id": fields.Integer(), "team_name": fields.String(), "institution_id": fields.Integer(),
    "institution_name": fields.String(), **_counters(),
    "satisfaction": _fraction("团队满意度：统计期内评价分数之和 ÷ 评价条数，rate 为平均分。"),
})

WorkloadStaffSchema = type("WorkloadStaff", (ma.Schema,), {
    "Meta": type("Meta", (), {"ordered": True}),
    "staff_id": fields.Integer(), "name": fields.String(), "team_role": fields.String(allow_none=True),
    "team_role_label": fields.String(allow_none=True), "team_id": fields.Integer(allow_none=True),
    "team_name": fields.String(allow_none=True), "active": fields.Boolean(), **_counters(),
    "satisfaction": _fraction("所在团队的满意度（同团队表）。"),
})


class WorkloadSchema(ma.Schema):
    class Meta:
        ordered = True

    unit = fields.Nested(UnitSchema)
    date_from = fields.Date()
    date_to = fields.Date()
    sort = fields.String()
    order = fields.String()
    teams = fields.List(fields.Nested(WorkloadTeamSchema), metadata={"description": "每个团队一行"})
    staff = fields.List(fields.Nested(WorkloadStaffSchema), metadata={
        "description": "本单位团队的成员，以及为本单位团队的记录做过工作的其他人员，每人一行"})


class OverdueByProgramSchema(ma.Schema):
    class Meta:
        ordered = True

    hypertension = fields.Integer(metadata={"description": "高血压"})
    diabetes = fields.Integer(metadata={"description": "2 型糖尿病"})
    mental_disorder = fields.Integer(metadata={"description": "严重精神障碍"})


class OverdueTeamSchema(ma.Schema):
    class Meta:
        ordered = True

    team_id = fields.Integer()
    team_name = fields.String()
    overdue = fields.Integer(metadata={"description": "逾期未随访的在管患者数（按项目计，一人两个项目计两次）"})
    by_program = fields.Nested(OverdueByProgramSchema)


class OverdueVillageSchema(ma.Schema):
    class Meta:
        ordered = True

    village = fields.String(metadata={"description": "居民档案的村/社区（未填写的归入“未填写村/社区”）"})
    institution_name = fields.String(metadata={"description": "居民所属机构（区分不同乡镇的同名村）"})
    overdue = fields.Integer()
    by_program = fields.Nested(OverdueByProgramSchema)


class OverdueSchema(ma.Schema):
    class Meta:
        ordered = True

    unit = fields.Nested(UnitSchema)
    as_of = fields.Date(metadata={"description": "统计日（今天）：下次随访日期早于此日即为逾期"})
    total = fields.Integer()
    by_team = fields.List(fields.Nested(OverdueTeamSchema),
                          metadata={"description": "单位内每个团队（无逾期为 0），逾期多者在前"})
    by_village = fields.List(fields.Nested(OverdueVillageSchema),
                             metadata={"description": "有逾期患者的村/社区，逾期多者在前"})


class PickableInstitutionSchema(ma.Schema):
    class Meta:
        ordered = True

    id = fields.Integer()
    name = fields.String()
    type = fields.String()
    parent_id = fields.Integer(allow_none=True)
    depth = fields.Integer(metadata={"description": "在可选机构树中的层级（0 为最上层），供缩进显示"})


class PickableTeamSchema(ma.Schema):
    class Meta:
        ordered = True

    id = fields.Integer()
    name = fields.String()
    institution_id = fields.Integer()


class UnitsSchema(ma.Schema):
    class Meta:
        ordered = True

    today = fields.Date(metadata={"description": "部署时区的今天（统计期快捷选择以此为准）"})
    default_kind = fields.String(metadata={"description": "不指定 team_id / institution_id 时统计的单位："
                                           "team（团队成员）、institution（机构管理员）、community（医共体管理员）"})
    institutions = fields.List(fields.Nested(PickableInstitutionSchema),
                               metadata={"description": "可选机构（父机构在前）；团队成员为空"})
    teams = fields.List(fields.Nested(PickableTeamSchema), metadata={"description": "可选团队；团队成员只有本团队"})


class FailureReasonSchema(ma.Schema):
    class Meta:
        ordered = True

    error_code = fields.String(metadata={"description": "短信服务商或系统的错误码"})
    label = fields.String(metadata={"description": "原因（中文）"})
    count = fields.Integer()


class ReminderDaySchema(ma.Schema):
    class Meta:
        ordered = True

    date = fields.Date()
    sent = fields.Integer()
    delivered = fields.Integer()
    failed = fields.Integer()
    failed_by_error_code = fields.Dict(keys=fields.String(), values=fields.Integer())
    wechat = fields.Integer(metadata={"description": "其中经微信订阅消息发送的条数"})
    delivery_rate = fields.Float(allow_none=True)


class ReminderBreakdownSchema(ma.Schema):
    class Meta:
        ordered = True

    unit = fields.Nested(UnitSchema)
    date_from = fields.Date()
    date_to = fields.Date()
    sent = fields.Integer(metadata={"description": "已发送条数（按发送时间在统计期内），即送达率的分母"})
    delivered = fields.Integer(metadata={"description": "其中回执为已送达的条数"})
    failed = fields.Integer(metadata={"description": "统计期内发送失败的条数（含未能发出的）"})
    delivery_rate = fields.Float(allow_none=True, metadata={"description": "delivered ÷ sent，与 /stats/overview 的"
                                                            " reminder_delivery 一致"})
    failed_by_reason = fields.List(fields.Nested(FailureReasonSchema), metadata={"description": "失败原因，多者在前"})
    days = fields.List(fields.Nested(ReminderDaySchema), metadata={"description": "有发送记录的日期，按日期"})
