from __future__ import annotations

from flask_smorest import Blueprint

from app.auth import acting_scope, acting_scope_for, current_actor, login_required, settings
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
from services import contracts
from services.core.errors import ValidationFailed

blp = Blueprint("contracts", __name__, description="服务包、报价、签约、履约与满意度评价")

CONTRACT_ERRORS = {
    409: "CONTRACT_ALREADY_ACTIVE、CONTRACT_APPLICATION_OPEN、TEAM_FULL、INVALID_CONTRACT_STATUS",
    422: "BASIC_PACKAGE_REQUIRED、PACKAGE_NOT_ELIGIBLE、UNKNOWN_PACKAGE、RESIDENCE_TOO_SHORT、"
         "PAYMENT_REQUIRED、PAYMENT_AMOUNT_MISMATCH",
}


def _settings() -> contracts.ContractSettings:
    return settings().contracts


@blp.route("/packages", methods=["GET"])
@login_required()
@blp.arguments(PackageQuerySchema, location="query")
@blp.response(200, PackageListSchema)
def list_packages(args):
    """当前生效的服务包；带 resident_id（工作人员）或居民本人登录时标注是否符合条件"""
    return {"items": contracts.packages_for(acting_scope(args.get("resident_id")), args.get("resident_id"))}


@blp.route("/quotes", methods=["POST"])
@login_required()
@blp.arguments(QuoteRequestSchema)
@blp.response(200, QuoteSchema)
@blp.alt_response(422, description="BASIC_PACKAGE_REQUIRED、PACKAGE_NOT_ELIGIBLE、UNKNOWN_PACKAGE")
def create_quote(body):
    """报价：每个服务包及合计的标准价值、各出资方分担和个人自付（分，精确相加）"""
    scope = acting_scope(body.get("resident_id"))
    resident_id = body.get("resident_id") or scope.resident_id
    if resident_id is None:
        raise ValidationFailed.field("resident_id", "必填字段")
    return contracts.quote_for(resident_id, body["package_codes"], scope, body.get("starts_on"),
                               _settings().start_horizon_days).to_dict()


@blp.route("/contracts", methods=["POST"])
@idempotent
@login_required()
@blp.arguments(ContractCreateSchema)
@blp.response(201, ContractDetailSchema)
@blp.alt_response(409, description=CONTRACT_ERRORS[409])
@blp.alt_response(422, description=CONTRACT_ERRORS[422])
def create_contract(body):
    """签约：居民线上申请（pending），或工作人员现场签约并缴费（active）"""
    contract = contracts.create_contract(body, acting_scope(body.get("resident_id")), _settings())
    commit()
    return contract


@blp.route("/contracts", methods=["GET"])
@login_required()
@blp.arguments(ContractQuerySchema, location="query")
@blp.response(200, ContractPageSchema)
def list_contracts(args):
    """签约列表：按状态、团队、居民、N 天内到期筛选（居民只看到自己的）"""
    page, page_size = args.pop("page"), args.pop("page_size")
    return contracts.contracts_page(acting_scope(args.get("resident_id")), args, page, page_size)


@blp.route("/contracts/<int:contract_id>", methods=["GET"])
@login_required()
@blp.response(200, ContractDetailSchema)
def get_contract(contract_id):
    """签约详情：服务包快照、权益（承诺/已用/剩余）、履约率、状态历史"""
    return contracts.get_contract_detail(contract_id, acting_scope_for("contract", contract_id))


@blp.route("/contracts/<int:contract_id>/accept", methods=["POST"])
@login_required("doctor", "admin")
@blp.response(200, ContractDetailSchema)
@blp.alt_response(409, description="INVALID_CONTRACT_STATUS、TEAM_FULL、CONTRACT_ALREADY_ACTIVE")
def accept(contract_id):
    """团队受理申请：需缴费则待缴费，否则直接生效"""
    contract = contracts.accept_contract(contract_id, current_actor().scope, _settings())
    commit()
    return contract


@blp.route("/contracts/<int:contract_id>/reject", methods=["POST"])
@login_required("doctor", "admin")
@blp.arguments(ReasonSchema)
@blp.response(200, ContractDetailSchema)
@blp.alt_response(409, description="INVALID_CONTRACT_STATUS（details.status 为当前状态）")
def reject(body, contract_id):
    """团队拒绝申请（须填写原因）"""
    contract = contracts.reject_contract(contract_id, body["reason"], current_actor().scope)
    commit()
    return contract


@blp.route("/contracts/<int:contract_id>/pay", methods=["POST"])
@login_required("doctor", "admin")
@blp.arguments(PayRequestSchema)
@blp.response(200, ContractDetailSchema)
@blp.alt_response(409, description="INVALID_CONTRACT_STATUS（details.status 为当前状态）、TEAM_FULL")
@blp.alt_response(422, description="PAYMENT_AMOUNT_MISMATCH")
def pay(body, contract_id):
    """登记缴费（金额须等于个人自付），签约生效"""
    contract = contracts.pay_contract(contract_id, body, current_actor().scope, _settings())
    commit()
    return contract


@blp.route("/contracts/<int:contract_id>/terminate", methods=["POST"])
@login_required("doctor", "admin")
@blp.arguments(ReasonSchema)
@blp.response(200, ContractDetailSchema)
@blp.alt_response(409, description="INVALID_CONTRACT_STATUS（details.status 为当前状态）")
def terminate(body, contract_id):
    """解约（须填写原因）"""
    contract = contracts.terminate_contract(contract_id, body["reason"], current_actor().scope)
    commit()
    return contract


@blp.route("/contracts/<int:contract_id>/renew", methods=["POST"])
@idempotent
@login_required()
@blp.arguments(RenewSchema)
@blp.response(201, ContractDetailSchema)
@blp.alt_response(409, description=CONTRACT_ERRORS[409])
@blp.alt_response(422, description=CONTRACT_ERRORS[422])
def renew(body, contract_id):
    """续约：从原到期日次日起生效，可更换团队和服务包"""
    contract = contracts.renew_contract(contract_id, body, acting_scope_for("contract", contract_id), _settings())
    commit()
    return contract


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
    return contracts.deliveries_page(contract_id, acting_scope_for("contract", contract_id), args["page"],
                                     args["page_size"])


@blp.route("/contracts/<int:contract_id>/evaluations", methods=["POST"])
@login_required("resident")
@blp.arguments(EvaluationCreateSchema)
@blp.response(201, EvaluationSchema)
@blp.alt_response(409, description="EVALUATION_ALREADY_SUBMITTED（每份签约每月一次）")
def evaluate(body, contract_id):
    """满意度评价（签约居民本人，1-5 分）"""
    evaluation = contracts.add_evaluation(contract_id, body["score"], body.get("comment"),
                                          acting_scope_for("contract", contract_id))
    commit()
    return evaluation


@blp.route("/evaluations", methods=["GET"])
@login_required("doctor", "admin")
@blp.arguments(EvaluationQuerySchema, location="query")
@blp.response(200, EvaluationPageSchema)
def list_evaluations(args):
    """本团队（管理员：管辖范围内团队）的满意度评价及平均分"""
    return contracts.evaluations_page(current_actor().scope, args.get("team_id"), args["page"], args["page_size"])
