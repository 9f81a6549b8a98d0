"""Signing (家庭医生签约): quotes for a resident's chosen packages, the contract
lifecycle from application to expiry or renewal, services delivered against
each entitlement (履约), and residents' monthly satisfaction evaluations.
"""
from services.core.exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "lifecycle": ("ContractSettings", "accept_contract", "contract_detail", "contracts_page", "create_contract",
                  "expire_and_start_contracts", "get_contract_detail", "pay_contract", "reject_contract",
                  "renew_contract", "terminate_contract"),
    "quotes": ("eligibility_marks", "packages_for", "prepare_quote", "quote_for"),
    "deliveries": ("deliveries_page", "record_service"),
    "evaluations": ("add_evaluation", "evaluations_page"),
})
