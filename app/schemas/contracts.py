from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.schemas.common import BaseSchema, Date, Int, LocalDateTime, PageQuerySchema, page_schema
from services.catalog.types import FUNDERS
from services.contracts.deliveries import fulfilment_rate
from services.models.contract import CONTRACT_STATUS_LABELS, CONTRACT_STATUSES, DELIVERY_PLACES, PAYMENT_METHODS

FUNDING_DOC = {"description": "出资方 -> 分：" + "、".join(FUNDERS)}
CODES = fields.List(fields.String(validate=validate.Length(min=1, max=40)), validate=validate.Length(min=1, max=20))


# --- packages and quotes ---------------------------------------------------------

class PackageItemSchema(ma.Schema):
    class Meta:
        ordered = True

    code = fields.String()
    name = fields.String()
    times_per_year = Int()
    unit_value_fen = Int()


class DiscountSchema(ma.Schema):
    class Meta:
        ordered = True

    service_code = fields.String()
    name = fields.String()
    rate = fields.String(metadata={"description": "优惠比例，如 \"0.2\" 表示八折"})


class EligibilityOutSchema(ma.Schema):
    class Meta:
        ordered = True

    eligible = fields.Boolean()
    rule = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class PackageSchema(ma.Schema):
    class Meta:
        ordered = True

    code = fields.String()
    name = fields.String()
    kind = fields.String(metadata={"description": "basic | personalised"})
    version = Int()
    effective_from = fields.String(metadata={"description": "生效日期 YYYY-MM-DD"})
    description = fields.String()
    items = fields.List(fields.Nested(PackageItemSchema))
    list_value_fen = Int()
    funding = fields.Dict(keys=fields.String(), values=Int(), metadata=FUNDING_DOC)
    self_pay_fen = Int(metadata={"description": "标准个人自付（未计减免）"})
    eligibility_rules = fields.Dict(metadata={"description": "适用人群条件"})
    discounts = fields.List(fields.Nested(DiscountSchema))
    eligibility = fields.Nested(EligibilityOutSchema, allow_none=True,
                                metadata={"description": "带 resident_id（或居民本人登录）时给出是否符合条件及原因"})


class PackageQuerySchema(BaseSchema):
    resident_id = Int(metadata={"description": "工作人员：标注该居民是否符合各服务包条件"})


class PackageListSchema(ma.Schema):
    items = fields.List(fields.Nested(PackageSchema))


class QuoteRequestSchema(BaseSchema):
    resident_id = Int(metadata={"description": "居民本人登录时可省略"})
    package_codes = CODES
    starts_on = Date(metadata={"description": "签约起始日（判断年龄等条件），默认今天；须在今天前后"
                                              " CONTRACT_START_HORIZON_DAYS（默认 366）天以内"})

    @ma.validates_schema
    def _codes_required(self, data, **kwargs):
        if not data.get("package_codes"):
            raise ma.ValidationError("必填字段", field_name="package_codes")


class PackageQuoteSchema(ma.Schema):
    class Meta:
        ordered = True

    code = fields.String()
    version = Int()
    name = fields.String()
    kind = fields.String()
    list_value_fen = Int()
    funding = fields.Dict(keys=fields.String(), values=Int(), metadata=FUNDING_DOC)
    self_pay_fen = Int()
    waiver = fields.String(allow_none=True, metadata={"description": "适用的减免规则，如低保免缴"})


class TotalsSchema(ma.Schema):
    class Meta:
        ordered = True

    list_value_fen = Int()
    funding = fields.Dict(keys=fields.String(), values=Int(), metadata=FUNDING_DOC)
    self_pay_fen = Int()


class QuoteSchema(ma.Schema):
    class Meta:
        ordered = True

    packages = fields.List(fields.Nested(PackageQuoteSchema))
    totals = fields.Nested(TotalsSchema)


# --- contracts ---------------------------------------------------------------------

class PaymentSchema(BaseSchema):
    amount_fen = Int(required=True, validate=validate.Range(min=0))
    method = fields.String(required=True, validate=validate.OneOf(PAYMENT_METHODS))
    receipt_no = fields.String(validate=validate.Length(min=1, max=60), allow_none=True)


class ContractCreateSchema(BaseSchema):
    resident_id = Int(metadata={"description": "居民本人申请时可省略"})
    team_id = Int(metadata={"description": "医生默认本团队；居民申请必填"})
    package_codes = CODES
    payment = fields.Nested(PaymentSchema, allow_none=True,
                            metadata={"description": "工作人员现场签约且个人自付不为 0 时必填，金额须等于报价的 self_pay_fen"})

    @ma.validates_schema
    def _codes_required(self, data, **kwargs):
        if not data.get("package_codes"):
            raise ma.ValidationError("必填字段", field_name="package_codes")


class ReasonSchema(BaseSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class PayRequestSchema(PaymentSchema):
    pass


class RenewSchema(BaseSchema):
    team_id = Int(metadata={"description": "续约时可更换团队，默认原团队"})
    package_codes = CODES
    payment = fields.Nested(PaymentSchema, allow_none=True)


class EntitlementSchema(ma.Schema):
    class Meta:
        ordered = True

    item_code = fields.String()
    name = fields.String()
    promised = Int()
    used = Int()
    remaining = fields.Function(lambda e: e.promised - e.used)
    package_codes = fields.List(fields.String())


class ContractPackageSchema(ma.Schema):
    class Meta:
        ordered = True

    code = fields.String()
    version = Int()
    name = fields.String()
    kind = fields.String()
    list_value_fen = Int()
    funding = fields.Dict(keys=fields.String(), values=Int())
    self_pay_fen = Int()
    waiver = fields.String(allow_none=True)
    items = fields.Function(lambda p: p.definition.get("items", []))
    discounts = fields.Function(lambda p: p.definition.get("discounts", []))


class EventSchema(ma.Schema):
    class Meta:
        ordered = True

    at = LocalDateTime()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    actor_type = fields.String()
    actor_id = Int(allow_none=True)
    reason = fields.String(allow_none=True)


_LOCAL_DT = LocalDateTime()  # built once, not per row


class ContractSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    resident_id = Int()
    team_id = Int()
    team_name = fields.Function(lambda c: c.team.name)
    status = fields.String(metadata={"description": " | ".join(CONTRACT_STATUSES)})
    status_label = fields.Function(lambda c: CONTRACT_STATUS_LABELS.get(c.status))
    starts_on = Date(allow_none=True)
    ends_on = Date(allow_none=True)
    term_months = Int()
    applied_by = fields.String()
    renewed_from_id = Int(allow_none=True)
    packages = fields.List(fields.Nested(ContractPackageSchema))
    totals = fields.Function(lambda c: {"list_value_fen": c.list_value_fen, "funding": c.funding,
                                        "self_pay_fen": c.self_pay_fen})
    payment = fields.Function(lambda c: None if c.paid_at is None else {
        "amount_fen": c.payment_amount_fen, "method": c.payment_method, "receipt_no": c.receipt_no,
        "paid_at": _LOCAL_DT._serialize(c.paid_at, None, None)})
    entitlements = fields.List(fields.Nested(EntitlementSchema))
    fulfilment_rate = fields.Function(lambda c: fulfilment_rate(c),
                                      metadata={"description": "履约率 = 已提供次数 ÷ 承诺次数"})
    reject_reason = fields.String(allow_none=True)
    terminate_reason = fields.String(allow_none=True)
    terminated_on = Date(allow_none=True)
    created_at = LocalDateTime()


class ContractDetailSchema(ContractSchema):
    history = fields.List(fields.Nested(EventSchema))


class ContractQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(CONTRACT_STATUSES))
    team_id = Int()
    resident_id = Int()
    expiring_within_days = Int(validate=validate.Range(min=0, max=3660),
                               metadata={"description": "生效中且在 N 天内到期（按到期日排序）"})


class ServiceCreateSchema(BaseSchema):
    item_code = fields.String(required=True, validate=validate.Length(min=1, max=60))
    delivered_on = Date(required=True)
    place = fields.String(required=True, validate=validate.OneOf(DELIVERY_PLACES))
    round_point_id = Int(allow_none=True)
    staff_id = Int(metadata={"description": "提供服务的团队成员，默认为记录人"})
    note = fields.String(allow_none=True, validate=validate.Length(max=500))


class ServiceSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    contract_id = Int()
    item_code = fields.String()
    delivered_on = Date()
    staff_id = Int()
    place = fields.String()
    round_point_id = Int(allow_none=True)
    note = fields.String(allow_none=True)
    recorded_by_id = Int()
    created_at = LocalDateTime()


class EvaluationCreateSchema(BaseSchema):
    score = Int(required=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(allow_none=True, validate=validate.Length(max=500))


class EvaluationSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    contract_id = Int()
    team_id = Int()
    month = fields.String()
    score = Int()
    comment = fields.String(allow_none=True)
    created_at = LocalDateTime()


class EvaluationQuerySchema(PageQuerySchema):
    team_id = Int()


ContractPageSchema = page_schema(ContractSchema, "ContractPage")
ServicePageSchema = page_schema(ServiceSchema, "ServicePage")


class EvaluationPageSchema(page_schema(EvaluationSchema, "EvaluationPageBase")):
    summary = fields.Dict(metadata={"description": "{count, average_score}"})
