"""All models, imported here so Alembic autogenerate sees every table."""
from services.models.audit import AuditLog
from services.models.auth import OtpCode, RevokedToken
from services.models.contract import Contract
from services.models.idempotency import IdempotencyRecord
from services.models.org import Institution, MedicalCommunity, RoundPoint, Team
from services.models.resident import Resident, ResidentTag
from services.models.scheduler import apscheduler_jobs
from services.models.staff import LoginFailure, Staff

__all__ = [
    "AuditLog", "Contract", "IdempotencyRecord", "Institution", "LoginFailure", "MedicalCommunity",
    "OtpCode", "Resident", "ResidentTag", "RevokedToken", "RoundPoint", "Staff", "Team", "apscheduler_jobs",
]
