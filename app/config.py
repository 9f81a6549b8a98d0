"""Every setting, read from the environment, with development defaults.

Development works with no `.env` at all; `APP_ENV=production` refuses to
start while any secret still has its development default.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.access.sms_codes import OtpPolicy
from services.access.staff_login import LockoutPolicy
from services.access.wechat_login import WechatSettings
from services.appointments.sessions import AppointmentSettings
from services.contracts.lifecycle import ContractSettings
from services.reminders.settings import ReminderSettings, parse_quiet_hours
from services.residents.family import FamilySettings
from services.sync.pull import SyncSettings

DEV_SECRET_KEY = "dev-secret-key-do-not-use-in-production"
DEV_JWT_SECRET_KEY = "dev-jwt-secret-key-do-not-use-in-production"
DEV_PII_ENCRYPTION_KEY = "dev-pii-encryption-key-do-not-use-in-production"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _int(name: str, default: int) -> int:
    raw = _env(name)
    try:
        return int(raw) if raw is not None else default
    except ValueError as exc:
        raise RuntimeError(f"setting {name} must be an integer, got {raw!r}") from exc


def _bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None:
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def load_config(instance_path: str) -> dict:
    """Build the Flask config mapping from the environment."""
    default_db = "sqlite:///" + os.path.join(instance_path, "fdoc.db")
    cfg = {
        "APP_ENV": _env("APP_ENV", "development"),
        "SQLALCHEMY_DATABASE_URI": _normalise_db_url(_env("DATABASE_URL", default_db)),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SECRET_KEY": _env("SECRET_KEY", DEV_SECRET_KEY),
        "JWT_SECRET_KEY": _env("JWT_SECRET_KEY", DEV_JWT_SECRET_KEY),
        "PII_ENCRYPTION_KEY": _env("PII_ENCRYPTION_KEY", DEV_PII_ENCRYPTION_KEY),
        "TIMEZONE": _env("TIMEZONE", "Asia/Shanghai"),
        "SMS_BACKEND": _env("SMS_BACKEND", "console"),
        "SMS_SIGNATURE": _env("SMS_SIGNATURE", "家庭医生签约服务"),
        "HOST": _env("HOST", "127.0.0.1"),
        "PORT": _int("PORT", 8000),
        # WeChat mini-program sign-in (jscode2session).
        "WECHAT_API_BASE": _env("WECHAT_API_BASE", "https://api.weixin.qq.com"),
        "WECHAT_APP_ID": _env("WECHAT_APP_ID", "wx-demo-appid"),
        "WECHAT_APP_SECRET": _env("WECHAT_APP_SECRET", "wx-demo-secret"),
        "WECHAT_TIMEOUT_SECONDS": float(_env("WECHAT_TIMEOUT_SECONDS", "5")),
        # Subscribe-message template ids per reminder kind, e.g.
        # {"followup_due": "tmpl-abc", "appointment_reminder": "tmpl-def"}; empty: SMS only.
        "WECHAT_TEMPLATE_IDS": json.loads(_env("WECHAT_TEMPLATE_IDS", "{}") or "{}"),
        # Twilio (SMS_BACKEND=twilio). TWILIO_API_BASE points the SDK at another host (tests).
        "TWILIO_ACCOUNT_SID": _env("TWILIO_ACCOUNT_SID", None),
        "TWILIO_AUTH_TOKEN": _env("TWILIO_AUTH_TOKEN", None),
        "TWILIO_FROM": _env("TWILIO_FROM", None),
        "TWILIO_MESSAGING_SERVICE_SID": _env("TWILIO_MESSAGING_SERVICE_SID", None),
        "TWILIO_API_BASE": _env("TWILIO_API_BASE", None),
        "TWILIO_TIMEOUT_SECONDS": float(_env("TWILIO_TIMEOUT_SECONDS", "10")),
        # Public address of this API, for Twilio's status callbacks and signature checks.
        "PUBLIC_BASE_URL": _env("PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
        # Reminders: no sending in quiet hours (local time; empty disables), a daily
        # cap per resident (login codes exempt), a sending rate, retries.
        # An explicitly empty QUIET_HOURS= disables them (so not _env, which treats "" as unset).
        "QUIET_HOURS": os.environ.get("QUIET_HOURS", "21:00-08:00"),
        "SMS_DAILY_CAP_PER_RESIDENT": _int("SMS_DAILY_CAP_PER_RESIDENT", 3),
        "SMS_RATE_PER_SECOND": float(_env("SMS_RATE_PER_SECOND", "10")),
        # Concurrent senders sharing SMS_RATE_PER_SECOND (PostgreSQL; SQLite sends with one).
        # Each has a session of its own, holding a connection only while it records an outcome.
        "SMS_DISPATCH_THREADS": _int("SMS_DISPATCH_THREADS", 4),
        "SMS_BATCH_SIZE": _int("SMS_BATCH_SIZE", 100),
        "SMS_MAX_ATTEMPTS": _int("SMS_MAX_ATTEMPTS", 6),
        "SMS_RETRY_BASE_SECONDS": _int("SMS_RETRY_BASE_SECONDS", 60),
        # A row still `sending` after this long was left by a crashed dispatcher.
        "SMS_SENDING_TIMEOUT_SECONDS": _int("SMS_SENDING_TIMEOUT_SECONDS", 300),
        "REMINDER_FOLLOWUP_DUE_DAYS": _int("REMINDER_FOLLOWUP_DUE_DAYS", 3),
        "REMINDER_FOLLOWUP_OVERDUE_DAYS": _int("REMINDER_FOLLOWUP_OVERDUE_DAYS", 7),
        "REMINDER_CONTRACT_ENDING_DAYS": _env("REMINDER_CONTRACT_ENDING_DAYS", "30,7"),
        # After downtime the planner still picks up events this many days late.
        "REMINDER_CATCHUP_DAYS": _int("REMINDER_CATCHUP_DAYS", 7),
        # The evening-before appointment reminder is sent at this local time.
        "REMINDER_EVENING_HOUR": _int("REMINDER_EVENING_HOUR", 18),
        # Tokens.
        "JWT_ACCESS_MINUTES": _int("JWT_ACCESS_MINUTES", 15),
        # Seconds instead, when set (the client's tests let an access token expire in seconds)
        "JWT_ACCESS_SECONDS": _int("JWT_ACCESS_SECONDS", 0),
        "JWT_REFRESH_DAYS": _int("JWT_REFRESH_DAYS", 30),
        # How long a worker remembers who a token speaks for (active, unrevoked,
        # scope); 0 looks it up on every request. Capped at half an access token's life.
        "AUTH_CACHE_SECONDS": _int("AUTH_CACHE_SECONDS", 30),
        # Staff password lockout: N failures within the window lock for M minutes.
        "LOGIN_MAX_FAILURES": _int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_FAILURE_WINDOW_MINUTES": _int("LOGIN_FAILURE_WINDOW_MINUTES", 15),
        "LOGIN_LOCK_MINUTES": _int("LOGIN_LOCK_MINUTES", 15),
        # Resident one-time codes.
        "OTP_TTL_SECONDS": _int("OTP_TTL_SECONDS", 300),
        "OTP_MAX_ATTEMPTS": _int("OTP_MAX_ATTEMPTS", 5),
        # FHIR Bulk Data exports: where the files go (default instance/fhir-exports), how long they are
        # kept, and whether the web process starts each export in a thread (the scheduler's fhir_exports
        # job runs what is queued or was interrupted either way)
        "FHIR_EXPORT_DIR": _env("FHIR_EXPORT_DIR", ""),
        "FHIR_EXPORT_TTL_HOURS": _int("FHIR_EXPORT_TTL_HOURS", 24),
        "FHIR_EXPORT_THREAD": _env("FHIR_EXPORT_THREAD", "1") not in ("0", "false", "no"),
        # Family links (家庭成员): active links per resident acting for others, and the member's code
        "FAMILY_MAX_LINKS": _int("FAMILY_MAX_LINKS", 6),
        "FAMILY_CODE_TTL_SECONDS": _int("FAMILY_CODE_TTL_SECONDS", 600),
        "FAMILY_CODE_MAX_ATTEMPTS": _int("FAMILY_CODE_MAX_ATTEMPTS", 5),
        "OTP_RATE_LIMIT_PER_PHONE": _env("OTP_RATE_LIMIT_PER_PHONE", "1 per minute;5 per hour"),
        "OTP_RATE_LIMIT_PER_IP": _env("OTP_RATE_LIMIT_PER_IP", "20 per hour"),
        # Against password spraying across many accounts from one address.
        "STAFF_LOGIN_RATE_LIMIT_PER_IP": _env("STAFF_LOGIN_RATE_LIMIT_PER_IP", "30 per minute"),
        "RATELIMIT_STORAGE_URI": _env("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", True),
        # Signing rules that the foundation already needs.
        "TEAM_CAPACITY_PER_DOCTOR": _int("TEAM_CAPACITY_PER_DOCTOR", 2000),
        # Contract term in months (2025 policy allows flexible terms) and the
        # residence floating residents need before they can sign.
        "CONTRACT_TERM_MONTHS": _int("CONTRACT_TERM_MONTHS", 12),
        "CONTRACT_START_HORIZON_DAYS": _int("CONTRACT_START_HORIZON_DAYS", 366),
        "MIN_RESIDENCE_MONTHS": _int("MIN_RESIDENCE_MONTHS", 6),
        "PACKAGES_CATALOG_DIR": _env("PACKAGES_CATALOG_DIR", None),
        # Appointments: residents cancel online until this many hours before the
        # start; signed_first sessions open to everyone this many hours after
        # publication (per-session override); weekly series are capped.
        "APPOINTMENT_CANCEL_CUTOFF_HOURS": float(_env("APPOINTMENT_CANCEL_CUTOFF_HOURS", "2")),
        "SIGNED_FIRST_DEFAULT_HOURS": _int("SIGNED_FIRST_DEFAULT_HOURS", 24),
        "SLOT_MAX_REPEAT_WEEKS": _int("SLOT_MAX_REPEAT_WEEKS", 26),
        # How far ahead GET /round-points lists each point's round sessions.
        "ROUND_POINT_SCHEDULE_DAYS": _int("ROUND_POINT_SCHEDULE_DAYS", 14),
        # Offline sync: the days of bookings a phone carries; whether it carries
        # residents' phone numbers in full (a doctor calls a resident not at
        # home; IDs are always masked); how long pushed records' UUIDs are
        # remembered (a push retried within it is never stored twice).
        "SYNC_APPOINTMENT_DAYS": _int("SYNC_APPOINTMENT_DAYS", 14),
        "SYNC_FULL_PHONE": _bool("SYNC_FULL_PHONE", True),
        "SYNC_RECEIPT_DAYS": _int("SYNC_RECEIPT_DAYS", 90),
        # Only the routes that ask for it are compressed (the sync pull).
        "COMPRESS_REGISTER": False,
        "COMPRESS_ALGORITHM": ["gzip"],
        "COMPRESS_MIMETYPES": ["application/json"],
        # JSON file overriding follow-up thresholds/intervals (services/followup/rules.py).
        "FOLLOWUP_RULES_FILE": _env("FOLLOWUP_RULES_FILE", None),
        # Reverse proxies in front of the app (for the client address in audit rows).
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        "LOG_LEVEL": _env("LOG_LEVEL", "INFO"),
        # OpenAPI / Swagger UI (flask-smorest).
        "API_TITLE": "家庭医生签约与慢病随访 API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": _env(
            "SWAGGER_UI_URL", "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"
        ),
        "JSON_SORT_KEYS": False,
        # Requests larger than this are refused with 413 (sync pushes come later; 2 MB is ample).
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 2 * 1024 * 1024),
        # Path plus query string; longer is a JSON 414 (gunicorn lets up to 1 MB through).
        "MAX_URL_LENGTH": _int("MAX_URL_LENGTH", 8192),
    }
    return cfg


def _normalise_db_url(url: str) -> str:
    """Accept plain postgres URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@dataclass(frozen=True)
class InsecureSetting:
    name: str
    reason: str


def insecure_settings(cfg: dict) -> list[InsecureSetting]:
    """Secrets that must not be used in production."""
    problems = []
    for name, dev in (
        ("SECRET_KEY", DEV_SECRET_KEY),
        ("JWT_SECRET_KEY", DEV_JWT_SECRET_KEY),
        ("PII_ENCRYPTION_KEY", DEV_PII_ENCRYPTION_KEY),
    ):
        value = cfg.get(name) or ""
        if value == dev:
            problems.append(InsecureSetting(name, "still the development default"))
        elif len(value) < 32:
            problems.append(InsecureSetting(name, "shorter than 32 characters"))
    if cfg.get("SMS_BACKEND") == "twilio":
        for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
            if not cfg.get(name):
                problems.append(InsecureSetting(name, "required with SMS_BACKEND=twilio"))
        if not (cfg.get("TWILIO_FROM") or cfg.get("TWILIO_MESSAGING_SERVICE_SID")):
            problems.append(InsecureSetting("TWILIO_FROM", "TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID is required"))
        if not str(cfg.get("PUBLIC_BASE_URL") or "").startswith("https://"):
            problems.append(InsecureSetting("PUBLIC_BASE_URL", "must be the public https address for Twilio callbacks"))
    return problems


@dataclass(frozen=True)
class Settings:
    """The typed settings services take, built once from the config in create_app
    (`app.extensions["settings"]`); routes, jobs and commands hand them on."""

    contracts: ContractSettings
    appointments: AppointmentSettings
    reminders: ReminderSettings
    lockout: LockoutPolicy
    otp: OtpPolicy
    wechat: WechatSettings
    team_capacity_per_doctor: int
    round_point_schedule_days: int
    sync: SyncSettings
    family: FamilySettings


def build_settings(c: Mapping) -> Settings:
    return Settings(
        contracts=ContractSettings(term_months=c["CONTRACT_TERM_MONTHS"],
                                   min_residence_months=c["MIN_RESIDENCE_MONTHS"],
                                   capacity_per_doctor=c["TEAM_CAPACITY_PER_DOCTOR"],
                                   start_horizon_days=c["CONTRACT_START_HORIZON_DAYS"]),
        appointments=AppointmentSettings(cancel_cutoff_hours=c["APPOINTMENT_CANCEL_CUTOFF_HOURS"],
                                         signed_first_default_hours=c["SIGNED_FIRST_DEFAULT_HOURS"],
                                         max_repeat_weeks=c["SLOT_MAX_REPEAT_WEEKS"]),
        reminders=ReminderSettings(
            signature=c["SMS_SIGNATURE"], quiet_hours=parse_quiet_hours(c["QUIET_HOURS"]),
            daily_cap=c["SMS_DAILY_CAP_PER_RESIDENT"], rate_per_second=c["SMS_RATE_PER_SECOND"],
            dispatch_threads=max(1, c["SMS_DISPATCH_THREADS"]),
            batch_size=c["SMS_BATCH_SIZE"], max_attempts=c["SMS_MAX_ATTEMPTS"],
            retry_base_seconds=c["SMS_RETRY_BASE_SECONDS"], sending_timeout_seconds=c["SMS_SENDING_TIMEOUT_SECONDS"],
            followup_due_days=c["REMINDER_FOLLOWUP_DUE_DAYS"], overdue_days=c["REMINDER_FOLLOWUP_OVERDUE_DAYS"],
            contract_ending_days=tuple(int(x) for x in str(c["REMINDER_CONTRACT_ENDING_DAYS"]).split(",")
                                       if x.strip()),
            catchup_days=c["REMINDER_CATCHUP_DAYS"], evening_hour=c["REMINDER_EVENING_HOUR"],
            cancel_cutoff_hours=c["APPOINTMENT_CANCEL_CUTOFF_HOURS"],
            wechat_templates=dict(c["WECHAT_TEMPLATE_IDS"])),
        lockout=LockoutPolicy(c["LOGIN_MAX_FAILURES"], c["LOGIN_FAILURE_WINDOW_MINUTES"], c["LOGIN_LOCK_MINUTES"]),
        otp=OtpPolicy(ttl_seconds=c["OTP_TTL_SECONDS"], max_attempts=c["OTP_MAX_ATTEMPTS"]),
        wechat=WechatSettings(c["WECHAT_API_BASE"], c["WECHAT_APP_ID"], c["WECHAT_APP_SECRET"],
                              c["WECHAT_TIMEOUT_SECONDS"]),
        team_capacity_per_doctor=c["TEAM_CAPACITY_PER_DOCTOR"],
        round_point_schedule_days=c["ROUND_POINT_SCHEDULE_DAYS"],
        sync=SyncSettings(window_days=c["SYNC_APPOINTMENT_DAYS"], full_phone=c["SYNC_FULL_PHONE"],
                          receipt_days=c["SYNC_RECEIPT_DAYS"]),
        family=FamilySettings(max_active_links=c["FAMILY_MAX_LINKS"], code_ttl_seconds=c["FAMILY_CODE_TTL_SECONDS"],
                              code_max_attempts=c["FAMILY_CODE_MAX_ATTEMPTS"]),
    )


def reconfigure(app, **changes) -> None:
    """Change settings of a running app (tests, the CLI): the config and the typed settings together."""
    app.config.update(changes)
    app.extensions["settings"] = build_settings(app.config)
