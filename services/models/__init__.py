"""All models, imported here so Alembic autogenerate sees every table."""
from services.models.appointment import Appointment, AppointmentEvent, Slot
from services.models.audit import AuditLog
from services.models.auth import OtpCode, RevokedToken, RevokedTokenFamily
from services.models.contract import (
                                      Contract,
                                      ContractEntitlement,
                                      ContractEvent,
                                      ContractPackage,
                                      Evaluation,
                                      ServiceDelivery,
)
from services.models.family import FamilyLink
from services.models.fhir_export import FhirExport
from services.models.followup import FollowUp, ProgramEnrolment, Referral
from services.models.idempotency import IdempotencyRecord
from services.models.org import Institution, MedicalCommunity, RoundPoint, Team
from services.models.package import PackageVersion
from services.models.reminder import LeaderLock, OutboxMessage, SmsOptOut, WechatSubscription
from services.models.resident import Resident, ResidentTag
from services.models.scheduler import apscheduler_jobs
from services.models.staff import LoginFailure, Staff
from services.models.sync import SyncFeedEntry

__all__ = [
    "LeaderLock", "OutboxMessage", "SmsOptOut", "WechatSubscription",
    "Appointment", "AppointmentEvent", "Slot",
    "AuditLog", "FamilyLink", "FhirExport", "FollowUp", "ProgramEnrolment", "Referral", "Contract", "ContractEntitlement", "ContractEvent", "ContractPackage", "Evaluation",
    "PackageVersion", "ServiceDelivery", "IdempotencyRecord", "Institution", "LoginFailure", "MedicalCommunity",
    "OtpCode", "Resident", "ResidentTag", "RevokedToken", "RevokedTokenFamily", "RoundPoint", "Staff", "SyncFeedEntry", "Team", "apscheduler_jobs",
]
