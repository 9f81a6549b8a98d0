from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from app.schemas.common import BaseSchema, Date, Int, LocalDateTime, PageQuerySchema, TagSchema, page_schema
from services.models.family import FAMILY_RELATIONS
from services.models.resident import CONSENT_SCOPES, TAG_LABELS

TAG_CODES = tuple(TAG_LABELS)


class ConsentInSchema(BaseSchema):
    """个人健康信息处理的单独同意 (PIPL)."""

    scope = fields.List(fields.String(validate=validate.OneOf(tuple(CONSENT_SCOPES))), required=True,
                        validate=validate.Length(min=1),
                        metadata={"description": "同意范围：" + "、".join(f"{k}（{v}）" for k, v in CONSENT_SCOPES.items())})
    given_at = fields.AwareDateTime(metadata={"description": "同意时间，默认当前时间"})


class ResidentCreateSchema(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    id_number = fields.String(required=True, validate=validate.Length(min=1, max=30),
                              metadata={"description": "18位居民身份证号码（末位 x 可小写）"})
    phone = fields.String(allow_none=True, validate=validate.Length(max=30),
                          metadata={"description": "中国大陆手机号"})
    address = fields.String(allow_none=True, validate=validate.Length(max=200))
    village = fields.String(allow_none=True, validate=validate.Length(max=100))
    tags = fields.List(fields.String(validate=validate.OneOf(TAG_CODES)), load_default=list,
                       metadata={"description": "重点人群标签代码；elderly、child 由出生日期自动计算，传入时忽略"})
    floating = fields.Boolean(load_default=False, metadata={"description": "流动人口（非本地户籍常住）"})
    residence_since = Date(allow_none=True, metadata={"description": "在本地居住的起始日期；流动人口必填"})
    institution_id = Int(metadata={"description": "所属机构，默认为操作者所在机构"})
    round_point_id = Int(allow_none=True, metadata={"description": "就近的巡诊点（工作清单可按巡诊点筛选）"})
    consent = fields.Nested(ConsentInSchema, allow_none=True)


class ResidentUpdateSchema(BaseSchema):
    name = fields.String(validate=validate.Length(min=1, max=60))
    id_number = fields.String(validate=validate.Length(min=1, max=30))
    phone = fields.String(allow_none=True, validate=validate.Length(max=30))
    address = fields.String(allow_none=True, validate=validate.Length(max=200))
    village = fields.String(allow_none=True, validate=validate.Length(max=100))
    tags = fields.List(fields.String(validate=validate.OneOf(TAG_CODES)))
    floating = fields.Boolean()
    residence_since = Date(allow_none=True)
    institution_id = Int()
    round_point_id = Int(allow_none=True)
    consent = fields.Nested(ConsentInSchema, allow_none=True)


class ConsentOutSchema(ma.Schema):
    class Meta:
        ordered = True

    given_at = LocalDateTime(allow_none=True)
    witnessed_by_id = Int(allow_none=True)
    scope = fields.List(fields.String())


def _consent(view):
    r = view.resident
    if r.consent_given_at is None:
        return None
    return {"given_at": r.consent_given_at, "witnessed_by_id": r.consent_witness_id,
            "scope": r.consent_scope or []}


# Built once: a schema or field per row would cost more than the row.
_CONSENT_OUT = ConsentOutSchema()
_LOCAL_DT = LocalDateTime()


class ResidentSchema(ma.Schema):
    """A resident as staff or the resident see it: ID and phone masked."""

    class Meta:
        ordered = True

    id = fields.Function(lambda v: v.resident.id)
    name = fields.Function(lambda v: v.resident.name)
    id_number = fields.String(metadata={"description": "脱敏：110105********002X"})
    phone = fields.String(allow_none=True, metadata={"description": "脱敏：138****5678"})
    address = fields.Function(lambda v: v.resident.address)
    village = fields.Function(lambda v: v.resident.village)
    tags = fields.List(fields.String())
    tag_details = fields.List(fields.Nested(TagSchema))
    floating = fields.Function(lambda v: v.resident.floating)
    residence_since = fields.Function(lambda v: v.resident.residence_since.isoformat()
                                      if v.resident.residence_since else None)
    institution_id = fields.Function(lambda v: v.resident.institution_id)
    round_point_id = fields.Function(lambda v: v.resident.round_point_id)
    birth_date = fields.Function(lambda v: v.resident.birth_date.isoformat())
    sex = fields.Function(lambda v: v.resident.sex)
    age = Int()
    consent = fields.Function(lambda v: _CONSENT_OUT.dump(_consent(v)) if _consent(v) else None)
    wechat_linked = fields.Function(lambda v: v.resident.wechat_openid is not None)
    created_at = fields.Function(lambda v: _LOCAL_DT._serialize(v.resident.created_at, None, None))
    updated_at = fields.Function(lambda v: _LOCAL_DT._serialize(v.resident.updated_at, None, None))


class ResidentQuerySchema(PageQuerySchema):
    q = fields.String(validate=validate.Length(max=60), metadata={"description": "姓名或手机号的一部分；完整身份证号则精确匹配"})
    village = fields.String()
    tag = fields.String(validate=validate.OneOf(TAG_CODES))
    id_number = fields.String(metadata={"description": "精确匹配身份证号（通过密钥哈希）"})
    institution_id = Int()


class RevealRequestSchema(BaseSchema):
    reason = fields.String(validate=validate.Length(max=200), metadata={"description": "查看原因，记入审计日志"})


class RevealResponseSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    id_number = fields.String()
    phone = fields.String(allow_none=True)


ResidentPageSchema = page_schema(ResidentSchema, "ResidentPage")


# --- the signed-in resident (/me) ------------------------------------------------------
class ContractSummarySchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    status = fields.String()
    team_id = Int()
    team_name = fields.Function(lambda c: c.team.name)
    starts_on = Date(allow_none=True)
    ends_on = Date(allow_none=True)


class MeSchema(ma.Schema):
    class Meta:
        ordered = True

    profile = fields.Nested(ResidentSchema)
    contract = fields.Nested(ContractSummarySchema, allow_none=True,
                             metadata={"description": "当前签约（生效中或待处理），无则为 null"})
    upcoming = fields.List(fields.Dict(), metadata={"description": "即将到来的随访（kind=followup，due_date）和预约（kind=appointment，starts_at 带时区偏移），按日期排序"})


# --- import from a spreadsheet ------------------------------------------------------------
class ImportQuerySchema(BaseSchema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "只校验，不写入任何数据"})
    all_or_nothing = fields.Boolean(load_default=False, metadata={
        "description": "任何一行有错则一行也不写入（默认写入所有无错的行）"})


class ImportFileSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": ".xlsx 或 .csv（UTF-8 或 GBK），表头为模板的中文列名"})


class ImportErrorSchema(ma.Schema):
    class Meta:
        ordered = True

    row = fields.Integer(metadata={"description": "表格行号（表头为第 1 行）"})
    column = fields.String(metadata={"description": "中文列名"})
    code = fields.String()
    message = fields.String()


class ImportRowSchema(ma.Schema):
    class Meta:
        ordered = True

    row = fields.Integer()
    status = fields.String(metadata={"description": "created | updated"})
    resident_id = fields.Integer()


class ImportReportSchema(ma.Schema):
    class Meta:
        ordered = True

    dry_run = fields.Boolean()
    all_or_nothing = fields.Boolean()
    total_rows = fields.Integer(metadata={"description": "数据行数（不含表头和空行）"})
    created = fields.Integer(metadata={"description": "新建档（试运行时为将新建的人数）"})
    updated = fields.Integer(metadata={"description": "身份证号已建档而更新的人数（试运行时为将更新的人数）"})
    failed = fields.Integer(metadata={"description": "有错误的行数"})
    written = fields.Boolean(metadata={"description": "是否已写入"})
    errors = fields.List(fields.Nested(ImportErrorSchema))
    rows = fields.List(fields.Nested(ImportRowSchema), metadata={"description": "已写入的行"})


# --- family links (家庭成员) -----------------------------------------------------------------
class MeQuerySchema(BaseSchema):
    resident_id = Int(metadata={"description": "已确认关联的家庭成员的居民 id：查看该成员的档案、签约和待办（非关联成员为 404）"})


class FamilyLinkCreateSchema(BaseSchema):
    id_number = fields.String(required=True, validate=validate.Length(min=15, max=30),
                              metadata={"description": "家庭成员的身份证号（须已建档）"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=50),
                         metadata={"description": "家庭成员的姓名，须与档案一致"})
    relation = fields.String(required=True, validate=validate.OneOf(tuple(FAMILY_RELATIONS)),
                             metadata={"description": "与本人的关系：parent 父母、child 子女、spouse 配偶、other 其他"})
    reminders_to_proxy = fields.Boolean(load_default=False, metadata={
        "description": "该成员没有手机号时，由本人代收其提醒短信"})


class FamilyConfirmSchema(BaseSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^\s*\d{6}\s*$", error="验证码为 6 位数字"),
                         metadata={"description": "发到家庭成员本人手机上的 6 位验证码"})


class FamilyPersonSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    name = fields.String(metadata={"description": "我代办的成员显示全名；代我办理的人显示脱敏姓名"})
    phone = fields.String(allow_none=True, metadata={"description": "脱敏手机号"})


class FamilyLinkSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    relation = fields.String()
    relation_label = fields.String()
    status = fields.String(metadata={"description": "pending 待确认（此时不能代办任何事）、active 已确认"})
    direction = fields.String(metadata={"description": "member：我可代其办理的家庭成员；proxy：可代我办理的家人"})
    resident = fields.Nested(FamilyPersonSchema, metadata={"description": "关联的另一方"})
    reminders_to_proxy = fields.Boolean()
    confirm_by = fields.String(allow_none=True, metadata={
        "description": "待确认时的确认方式：sms（验证码已发到成员手机）或 staff（成员无手机号，须到卫生院由家庭医生团队当面确认）"})
    code_sent_at = LocalDateTime(allow_none=True)
    confirmed_at = LocalDateTime(allow_none=True)
    confirmed_via = fields.String(allow_none=True, metadata={"description": "sms 或 staff"})
    created_at = LocalDateTime()


class FamilyListSchema(ma.Schema):
    items = fields.List(fields.Nested(FamilyLinkSchema))
