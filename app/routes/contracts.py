from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from app.auth import current_actor, login_required
from app.schemas.common import PageQuerySchema
from app.schemas.contracts import (
    ContractCreateSchema,
    ContractDetailSchema,
    ContractPageSchema,
    ContractQuerySchema,
    EvaluationCreateSchema,
    EvaluationPageSchema,
    EvaluationQuerySchema,
    EvaluationSchema,
    PackageListSchema,
    PackageQuerySchema,
    PayRequestSchema,
    QuoteRequestSchema,
    QuoteSchema,
    ReasonSchema,
    RenewSchema,
    ServiceCreateSchema,
    ServicePageSchema,
    ServiceSchema,
)
from app.tx import commit, idempotent
from services import clock, contracts, packages
from services.errors import ValidationFailed
from services.pagination import paginate
from services.residents import get_visible_resident

blp = Blueprint("contracts", __name__, description="服务包、报价、签约、履约与满意度评价")

CONTRACT_ERRORS = {
    409: "CONTRACT_ALREADY_ACTIVE、CONTRACT_APPLICATION_OPEN、TEAM_FULL、INVALID_CONTRACT_STATUS",
    422: "BASIC_PACKAGE_REQUIRED、PACKAGE_NOT_ELIGIBLE、UNKNOWN_PACKAGE、RESIDENCE_TOO_SHORT、"
         "PAYMENT_REQUIRED、PAYMENT_AMOUNT_MISMATCH",
}


def _settings() -> contracts.ContractSettings:
    c = current_app.config
    return contracts.ContractSettings(term_months=c["CONTRACT_TERM_MONTHS"],
                                      min_residence_months=c["MIN_RESIDENCE_MONTHS"],
                                      capacity_per_doctor=c["TEAM_CAPACITY_PER_DOCTOR"])


def _detail(contract):
    contract.history = contracts.history(contract.id)
    return contract


def _package_view(version, eligibility=None) -> dict:
    d = version.definition
    return {**d, "version": version.version, "eligibility_rules": d.get("eligibility", {}),
            "eligibility": eligibility}


@blp.route("/packages", methods=["GET"])
@login_required()
@blp.arguments(PackageQuerySchema, location="query")
@blp.response(200, PackageListSchema)
def list_packages(args):
    """当前生效的服务包；带 resident_id（工作人员）或居民本人登录时标注是否符合条件"""
    scope = current_actor().scope
    resident_id = args.get("resident_id") or scope.resident_id
    today = clock.today()
    versions = packages.current_versions(today)
    if resident_id is None:
        return {"items": [_package_view(v) for v in versions]}
    resident = get_visible_resident(resident_id, scope)
    return {"items": [_package_view(v, {"eligible": r.eligible, "rule": r.rule, "reason": r.reason})
                      for v, r in contracts.eligibility_marks(resident, versions, today)]}


@blp.route("/quotes", methods=["POST"])
@login_required()
@blp.arguments(QuoteRequestSchema)
@blp.response(200, QuoteSchema)
@blp.alt_response(422, description="BASIC_PACKAGE_REQUIRED、PACKAGE_NOT_ELIGIBLE、UNKNOWN_PACKAGE")
def create_quote(body):
    """报价：每个服务包及合计的标准价值、各出资方分担和个人自付（分，精确相加）"""
    scope = current_actor().scope
    resident_id = body.get("resident_id") or scope.resident_id
    if resident_id is None:
        raise ValidationFailed.field("resident_id", "必填字段")
    return contracts.quote_for(resident_id, body["package_codes"], scope, body.get("starts_on")).to_dict()


@blp.route("/contracts", methods=["POST"])
@idempotent
@login_required()
@blp.arguments(ContractCreateSchema)
@blp.response(201, ContractDetailSchema)
@blp.alt_response(409, description=CONTRACT_ERRORS[409])
@blp.alt_response(422, description=CONTRACT_ERRORS[422])
def create_contract(body):
    """签约：居民线上申请（pending），或工作人员现场签约并缴费（active）"""
    contract = contracts.create_contract(body, current_actor().scope, _settings())
    commit()
    return _detail(contract)


@blp.route("/contracts", methods=["GET"])
@login_required()
@blp.arguments(ContractQuerySchema, location="query")
@blp.response(200, ContractPageSchema)
def list_contracts(args):
    """签约列表：按状态、团队、居民、N 天内到期筛选（居民只看到自己的）"""
    stmt = contracts.contracts_query(current_actor().scope, status=args.get("status"), team_id=args.get("team_id"),
                                     resident_id=args.get("resident_id"),
                                     expiring_within_days=args.get("expiring_within_days"))
    return paginate(stmt, args["page"], args["page_size"]).as_dict()


@blp.route("/contracts/<int:contract_id>", methods=["GET"])
@login_required()
@blp.response(200, ContractDetailSchema)
def get_contract(contract_id):
    """签约详情：服务包快照、权益（承诺/已用/剩余）、履约率、状态历史"""
    return _detail(contracts.get_visible_contract(contract_id, current_actor().scope))


@blp.route("/contracts/<int:contract_id>/accept", methods=["POST"])
@login_required("doctor", "admin")
@blp.response(200, ContractDetailSchema)
@blp.alt_response(409, description="INVALID_CONTRACT_STATUS、TEAM_FULL、CONTRACT_ALREADY_ACTIVE")
def accept(contract_id):
    """团队受理申请：需缴费则待缴费，否则直接生效"""
    contract = contracts.accept_contract(contract_id, current_actor().scope, _settings())
    commit()
    return _detail(contract)


@blp.route("/contracts/<int:contract_id>/reject", methods=["POST"])
@login_required("doctor", "admin")
@blp.arguments(ReasonSchema)
@blp.response(200, ContractDetailSchema)
def reject(body, contract_id):
    """团队拒绝申请（须填写原因）"""
    contract = contracts.reject_contract(contract_id, body["reason"], current_actor().scope)
    commit()
    return _detail(contract)


@blp.route("/contracts/<int:contract_id>/pay", methods=["POST"])
@login_required("doctor", "admin")
@blp.arguments(PayRequestSchema)
@blp.response(200, ContractDetailSchema)
@blp.alt_response(422, description="PAYMENT_AMOUNT_MISMATCH")
def pay(body, contract_id):
    """登记缴费（金额须等于个人自付），签约生效"""
    contract = contracts.pay_contract(contract_id, body, current_actor().scope, _settings())
    commit()
    return _detail(contract)


@blp.route("/contracts/<int:contract_id>/terminate", methods=["POST"])
@login_required("doctor", "admin")
@blp.arguments(ReasonSchema)
@blp.response(200, ContractDetailSchema)
def terminate(body, contract_id):
    """解约（须填写原因）"""
    contract = contracts.terminate_contract(contract_id, body["reason"], current_actor().scope)
    commit()
    return _detail(contract)


@blp.route("/contracts/<int:contract_id>/renew", methods=["POST"])
@idempotent
@login_required()
@blp.arguments(RenewSchema)
@blp.response(201, ContractDetailSchema)
@blp.alt_response(409, description=CONTRACT_ERRORS[409])
@blp.alt_response(422, description=CONTRACT_ERRORS[422])
def renew(body, contract_id):
    """续约：从原到期日次日起生效，可更换团队和服务包"""
    contract = contracts.renew_contract(contract_id, body, current_actor().scope, _settings())
    commit()
    return _detail(contract)


@blp.route("/contracts/<int:contract_id>/services", methods=["POST"])
@idempotent
@login_required("doctor", "admin")
@blp.arguments(ServiceCreateSchema)
@blp.response(201, ServiceSchema)
@blp.alt_response(409, description="ENTITLEMENT_EXHAUSTED、CONTRACT_NOT_ACTIVE")
def record_service(body, contract_id):
    """登记一次履约服务（项目、日期、服务人员、地点）"""
    delivery = contracts.record_service(contract_id, body, current_actor().scope)
    commit()
    return delivery


@blp.route("/contracts/<int:contract_id>/services", methods=["GET"])
@login_required()
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, ServicePageSchema)
def list_services(args, contract_id):
    """该签约已提供的服务"""
    stmt = contracts.deliveries_query(contract_id, current_actor().scope)
    return paginate(stmt, args["page"], args["page_size"]).as_dict()


@blp.route("/contracts/<int:contract_id>/evaluations", methods=["POST"])
@login_required("resident")
@blp.arguments(EvaluationCreateSchema)
@blp.response(201, EvaluationSchema)
@blp.alt_response(409, description="EVALUATION_ALREADY_SUBMITTED（每份签约每月一次）")
def evaluate(body, contract_id):
    """满意度评价（签约居民本人，1-5 分）"""
    evaluation = contracts.add_evaluation(contract_id, body["score"], body.get("comment"), current_actor().scope)
    commit()
    return evaluation


@blp.route("/evaluations", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(EvaluationQuerySchema, location="query")
@blp.response(200, EvaluationPageSchema)
def list_evaluations(args):
    """本团队（管理员：管辖范围内团队）的满意度评价及平均分"""
    stmt = contracts.evaluations_query(current_actor().scope, args.get("team_id"))
    page = paginate(stmt, args["page"], args["page_size"]).as_dict()
    return {**page, "summary": contracts.evaluation_summary(stmt)}
