from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.schemas.common import BaseSchema, Date, Int, LocalDateTime, PageQuerySchema, page_schema
from services.models.followup import ENROLMENT_STATUSES, MENTAL_DISEASES, PROGRAMS, REFERRAL_STATUSES, VISIT_MODES

SYMPTOMS = (
    # urgent (api.md)
    "altered_consciousness", "severe_headache", "severe_dizziness", "nausea_vomiting", "blurred_vision", "eye_pain",
    "palpitations", "chest_tightness", "orthopnea", "acetone_breath", "polydipsia_polyuria", "abdominal_pain",
    "deep_rapid_breathing", "flushed_skin", "sweating", "sudden_vision_loss",
    # recorded, not urgent in themselves (domain.md)
    "headache_dizziness", "tinnitus", "breathing_difficulty", "nosebleed", "numb_limbs", "leg_oedema",
    "lower_limb_numbness", "foot_ulcer", "blurred_vision_mild", "other",
)
LEVEL3 = ("good", "fair", "poor")


class EnrolmentCreateSchema(BaseSchema):
    program = fields.String(required=True, validate=validate.OneOf(PROGRAMS))
    disease = fields.String(validate=validate.OneOf(MENTAL_DISEASES), allow_none=True,
                            metadata={"description": "严重精神障碍必填：六种病种之一"})
    diagnosed_on = Date(allow_none=True)
    enrolled_on = Date(metadata={"description": "纳入管理日期，默认今天；可为过去日期，不能晚于今天"})
    team_id = Int(metadata={"description": "负责管理的团队；医生默认本团队，管理员必填"})


class EnrolmentStatusSchema(BaseSchema):
    status = fields.String(required=True, validate=validate.OneOf(ENROLMENT_STATUSES))
    status_changed_on = Date()
    reason = fields.String(validate=validate.Length(max=500), allow_none=True)


class EnrolmentSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    resident_id = Int()
    team_id = Int()
    program = fields.String()
    disease = fields.String(allow_none=True)
    diagnosed_on = Date(allow_none=True)
    enrolled_on = Date()
    status = fields.String()
    status_changed_on = Date(allow_none=True)
    status_reason = fields.String(allow_none=True)
    system_due_date = Date(metadata={"description": "规则给出的下次随访日期"})
    clinician_due_date = Date(allow_none=True, metadata={"description": "医生提前的下次随访日期"})
    clinician_due_reason = fields.String(allow_none=True)
    next_due_date = Date(metadata={"description": "二者中较早者，驱动工作清单"})
    last_visit_date = Date(allow_none=True)
    last_assessment = fields.Dict(allow_none=True)


class MedicationSchema(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    dose = fields.String(validate=validate.Length(max=100), allow_none=True)


class FollowUpCreateSchema(BaseSchema):
    resident_id = Int(required=True)
    program = fields.String(required=True, validate=validate.OneOf(PROGRAMS))
    visit_date = Date(required=True)
    visit_mode = fields.String(required=True, validate=validate.OneOf(VISIT_MODES))
    not_reached = fields.Boolean(load_default=False, metadata={"description": "未访到"})
    not_reached_reason = fields.String(validate=validate.Length(max=200), allow_none=True)
    sbp = Int(allow_none=True, metadata={"description": "收缩压 mmHg"})
    dbp = Int(allow_none=True, metadata={"description": "舒张压 mmHg"})
    heart_rate = Int(allow_none=True)
    temperature = fields.Float(allow_none=True)
    weight_kg = fields.Float(allow_none=True)
    fasting_glucose = fields.Float(allow_none=True, metadata={"description": "空腹血糖 mmol/L"})
    symptoms = fields.List(fields.String(validate=validate.OneOf(SYMPTOMS)), load_default=list)
    pregnant_or_lactating = fields.Boolean(load_default=False)
    adverse_reaction = fields.Boolean(load_default=False)
    uncontrollable_adverse_reaction = fields.Boolean(load_default=False)
    new_complication = fields.Boolean(load_default=False)
    risk_level = Int(allow_none=True, metadata={"description": "危险性评估 0-5"})
    insight = fields.String(validate=validate.OneOf(("complete", "partial", "absent")), allow_none=True)
    obvious_psychotic_symptoms = fields.Boolean(load_default=False)
    social_function_poor = fields.Boolean(load_default=False)
    serious_adverse_reaction = fields.Boolean(load_default=False)
    serious_somatic_illness = fields.Boolean(load_default=False)
    # Recorded per domain.md, not used by the judgement.
    cigarettes_per_day = Int(allow_none=True, validate=validate.Range(min=0, max=200))
    alcohol_ml_per_day = Int(allow_none=True, validate=validate.Range(min=0, max=5000))
    exercise_times_per_week = Int(allow_none=True, validate=validate.Range(min=0, max=50))
    exercise_minutes = Int(allow_none=True, validate=validate.Range(min=0, max=600))
    salt_intake = fields.String(validate=validate.OneOf(("light", "medium", "heavy")), allow_none=True)
    psychological_adjustment = fields.String(validate=validate.OneOf(LEVEL3), allow_none=True)
    compliance = fields.String(validate=validate.OneOf(LEVEL3), allow_none=True)
    medication_adherence = fields.String(validate=validate.OneOf(("regular", "intermittent", "none")),
                                         allow_none=True)
    medications = fields.List(fields.Nested(MedicationSchema), load_default=list)
    hba1c = fields.Float(allow_none=True, validate=validate.Range(min=3, max=20))
    postprandial_glucose = fields.Float(allow_none=True, validate=validate.Range(min=1, max=50))
    staple_food_g = Int(allow_none=True, validate=validate.Range(min=0, max=3000))
    dorsalis_pedis_pulse = fields.String(validate=validate.OneOf(("normal", "weak", "absent")), allow_none=True)
    hypoglycaemia = fields.String(validate=validate.OneOf(("none", "occasional", "frequent")), allow_none=True)
    insulin_type = fields.String(validate=validate.Length(max=60), allow_none=True)
    insulin_dose = fields.String(validate=validate.Length(max=60), allow_none=True)
    next_due_date = Date(allow_none=True, metadata={"description": "医生可提前下次随访日期（须早于规则日期）"})
    next_due_reason = fields.String(validate=validate.Length(max=500), allow_none=True)


EXTRA_KEYS = ("cigarettes_per_day", "alcohol_ml_per_day", "exercise_times_per_week", "exercise_minutes",
              "salt_intake", "psychological_adjustment", "compliance", "medication_adherence", "medications",
              "hba1c", "postprandial_glucose", "staple_food_g", "dorsalis_pedis_pulse", "hypoglycaemia",
              "insulin_type", "insulin_dose")


class AssessmentSchema(ma.Schema):
    class Meta:
        ordered = True

    classification = fields.String(allow_none=True)
    next_due_date = Date()
    referral = fields.String(metadata={"description": "none | advised | urgent"})
    reasons = fields.List(fields.String())
    rules_version = fields.String()


# Built once: a schema per row would cost more than the row.
_ASSESSMENT = AssessmentSchema()


class FollowUpSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    enrolment_id = Int()
    resident_id = Int()
    program = fields.String()
    visit_date = Date()
    visit_mode = fields.String()
    not_reached = fields.Boolean()
    not_reached_reason = fields.String(allow_none=True)
    sbp = Int(allow_none=True)
    dbp = Int(allow_none=True)
    heart_rate = Int(allow_none=True)
    temperature = fields.Float(allow_none=True)
    weight_kg = fields.Float(allow_none=True)
    fasting_glucose = fields.Float(allow_none=True)
    risk_level = Int(allow_none=True)
    insight = fields.String(allow_none=True)
    details = fields.Dict()
    assessment = fields.Function(lambda f: _ASSESSMENT.dump({
        "classification": f.classification, "next_due_date": f.next_due_date, "referral": f.referral,
        "reasons": f.reasons, "rules_version": f.rules_version}))
    clinician_next_due_date = Date(allow_none=True)
    clinician_next_due_reason = fields.String(allow_none=True)
    effective_next_due_date = fields.Function(
        lambda f: min(d for d in (f.next_due_date, f.clinician_next_due_date) if d is not None).isoformat())
    recorded_by_id = Int()
    created_at = LocalDateTime()


class FollowUpQuerySchema(PageQuerySchema):
    program = fields.String(validate=validate.OneOf(PROGRAMS))


class WorklistQuerySchema(PageQuerySchema):
    team_id = Int(metadata={"description": "管理员必填；医生默认本团队"})
    within_days = Int(load_default=7, validate=validate.Range(min=0, max=366))
    due_before = Date(metadata={"description": "代替 within_days：截止日期（含）"})
    status = fields.String(validate=validate.OneOf(("due", "overdue")))
    program = fields.String(validate=validate.OneOf(PROGRAMS))
    village = fields.String()
    round_point_id = Int()


class WorklistRowSchema(ma.Schema):
    class Meta:
        ordered = True

    enrolment_id = Int()
    program = fields.String()
    next_due_date = Date()
    days_overdue = Int()
    section = fields.String(metadata={"description": "due | overdue | urgent_referral"})
    resident = fields.Dict(metadata={"description": "id, name, id_number（脱敏）, sex, age, village, round_point_id"})
    phone = fields.String(allow_none=True, metadata={"description": "完整手机号，供团队电话随访（查看记入审计）"})
    last_visit_date = Date(allow_none=True)
    last_assessment = fields.Dict(allow_none=True)


class ReferralCreateSchema(BaseSchema):
    resident_id = Int(required=True)
    to_institution_id = Int(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    urgent = fields.Boolean(load_default=False)
    followup_id = Int(allow_none=True)


class ReferralUpdateSchema(BaseSchema):
    status = fields.String(required=True, validate=validate.OneOf(REFERRAL_STATUSES))
    note = fields.String(validate=validate.Length(max=500), allow_none=True)


class ReferralSchema(ma.Schema):
    class Meta:
        ordered = True

    id = Int()
    resident_id = Int()
    followup_id = Int(allow_none=True)
    from_institution_id = Int()
    to_institution_id = Int()
    direction = fields.String()
    urgent = fields.Boolean()
    reason = fields.String()
    status = fields.String()
    status_note = fields.String(allow_none=True)
    history = fields.List(fields.Dict())
    created_at = LocalDateTime()


class ReferralQuerySchema(PageQuerySchema):
    status = fields.String(validate=validate.OneOf(REFERRAL_STATUSES))
    resident_id = Int()


class StatsQuerySchema(BaseSchema):
    team_id = Int()
    institution_id = Int()
    date_from = Date(required=True)
    date_to = Date(required=True)


EnrolmentListSchema = type("EnrolmentList", (ma.Schema,), {"items": fields.List(fields.Nested(EnrolmentSchema))})
FollowUpPageSchema = page_schema(FollowUpSchema, "FollowUpPage")
WorklistPageSchema = page_schema(WorklistRowSchema, "WorklistPage")
ReferralPageSchema = page_schema(ReferralSchema, "ReferralPage")
