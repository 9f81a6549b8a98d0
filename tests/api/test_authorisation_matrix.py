"""Authorisation matrix: every route of the URL map x seven callers, each case
against a fresh world, every request aimed at resident A's / team 1's records.

    anonymous        no token                                     -> 401 where a token is needed
    resident_a       the owner                                    -> their own records
    resident_b       another resident (same institution)          -> 404 for A's records, 403 for staff routes
    doctor_team1     team 1 (institution 1, A signed with it)     -> in scope
    doctor_team2     team 2 (institution 2)                       -> 404 for A's / team 1's records
    admin_inst2      institution 2's admin                        -> 404 for A's / team 1's records
    admin_community  the medical-community admin                  -> in scope

api.md, Conventions: 401 no token, 403 role not allowed, 404 "not found or
not yours". The table says what the API *should* answer; where the app
answers something else the case fails on purpose (the app is to be fixed,
not this table). A route in the URL map without a row fails
`test_every_route_has_a_row`, so no endpoint ships without one.

Write bodies are valid for the caller (a doctor omits `team_id`, which
defaults to their own team; an admin names team 1), so an allowed caller gets
its real 2xx/409 and a stranger's answer shows whether scope is checked before
the rest of the body: a stranger getting 422 where 404 is due means the body
was judged before scope. For a 2xx, `about` says whether the answer shows
resident A's / team 1's record; it must be true exactly for `sees` (so a list
answered 200 to a stranger must not contain A). Lists filtered on another
tenant's id may answer 404 or 200 without the record: both hide it.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import pytest
from flask_jwt_extended import create_refresh_token

from app import create_app
from services.catalog import versions as package_versions
from services.catalog.files import CATALOG_DIR, load_directory
from services.core import clock
from services.core.db import db
from services.core.idcard import make_id_number
from services.models import Evaluation, FamilyLink, FhirExport, OtpCode, OutboxMessage, RoundPoint
from tests.factories import PASSWORD, login, make_resident, make_staff, make_world, resident_headers

CALLERS = ("anonymous", "resident_a", "resident_b", "doctor_team1", "doctor_team2", "admin_inst2",
           "admin_community")
ALL = frozenset(CALLERS)
OWNERS = frozenset({"resident_a", "doctor_team1", "admin_community"})
STAFF_OWNERS = frozenset({"doctor_team1", "admin_community"})
ADMINS = ("admin_inst2", "admin_community")

# The world is built on Monday 2026-03-02 at 07:00 Beijing time, the requests are made at 10:00:
# the session of today 09:30-11:30 has started (check-in, no-show), tomorrow's is ahead (cancel,
# reschedule by the resident, well before the 2-hour cutoff).
BUILD_AT = dt.datetime(2026, 3, 2, 7, 0, tzinfo=clock.zone())
REQUEST_AT = dt.datetime(2026, 3, 2, 10, 0, tzinfo=clock.zone())
PHONE_A, PHONE_B = "13912340001", "13912340002"
OPENID_A = "openid-resident-a"
OTP_CODE = "246810"
PAYMENT = {"amount_fen": 800, "method": "cash", "receipt_no": "R-0001"}

# Routes of the URL map that are not in the matrix, each with its reason.
SKIPPED = {
    ("GET", "/api/swagger-ui/<path:filename>"): "Swagger UI's vendored asset files, public by design",
    ("GET", "/admin/"): "the dashboard's page: the same HTML for everyone, no data in it; every figure it shows "
                        "comes from the API routes of this table (tests/browser)",
    ("GET", "/admin/static/<path:filename>"): "the dashboard's script, styles and vendored ECharts, public by design",
}

# Which of resident A's / team 1's records fills each path parameter.
DEFAULT_PARAMS = {
    "resident_id": "resident_a", "appointment_id": "appt_tomorrow", "contract_id": "contract",
    "slot_id": "slot_tomorrow", "team_id": "team_a", "institution_id": "thc_a", "point_id": "round_point",
    "staff_id": "doctor_a", "enrolment_id": "enrolment", "referral_id": "referral", "link_id": "family_link",
    "export_id": "fhir_export", "name": "fhir_file",
}


# --- the table ---------------------------------------------------------------------------

def public(ok: int = 200) -> tuple[int, ...]:
    return (ok,) * 7


def signed_in(ok: int) -> tuple[int, ...]:
    return (401, ok, ok, ok, ok, ok, ok)


def owner_or_staff_in_scope(ok: int = 200) -> tuple[int, ...]:
    """Resident A themself, or staff whose scope holds A."""
    return (401, ok, 404, ok, 404, 404, ok)


def staff_in_scope(ok: int = 200) -> tuple[int, ...]:
    """Staff only (a resident's role is not allowed); out-of-scope staff get 404."""
    return (401, 403, 403, ok, 404, 404, ok)


def staff_naming_in_body(ok: int = 201) -> tuple[int, ...]:
    """A create whose body names team 1 / institution 1: out-of-scope staff get 422 on that
    field ("不存在或不在您的管辖范围内", the same message as for an id that does not exist),
    which tells them nothing; the path-addressed 404 rule is for records in the URL."""
    return (401, 403, 403, ok, 422, 422, ok)


def admin_naming_in_body(ok: int = 201) -> tuple[int, ...]:
    return (401, 403, 403, 403, 403, 422, ok)


def admin_in_scope(ok: int = 200) -> tuple[int, ...]:
    return (401, 403, 403, 403, 403, 404, ok)


def resident_self(ok: int = 200, resident_b: int | None = None) -> tuple[int, ...]:
    """/me routes: each resident acts on themself; staff roles are not allowed."""
    return (401, ok, ok if resident_b is None else resident_b, 403, 403, 403, 403)


def staff_list(stranger: int = 200) -> tuple[int, ...]:
    """A staff list filtered on A / team 1: strangers get `stranger` (200 without A, or 404)."""
    return (401, 403, 403, 200, stranger, stranger, 200)


@dataclass(frozen=True)
class Row:
    expect: tuple[int, ...]
    json: Callable | None = None          # (world, caller) -> body
    query: Callable | None = None         # world -> query string
    params: dict = field(default_factory=dict)  # path parameter -> world attribute
    about: Callable | None = None         # (body, world) -> shows A's / team 1's record?
    sees: frozenset = OWNERS
    setup: Callable | None = None         # (app, world) -> context manager around the request
    token: str = "access"                 # "refresh": the callers present their refresh token
    why: str = ""


def ids_of(items) -> set:
    return {i["id"] for i in items}


def has_resident_a(body, w) -> bool:
    return any((i.get("resident") or {}).get("id", i.get("resident_id")) == w.resident_a for i in body["items"])


def _is_staff(caller: str) -> bool:
    return caller.startswith(("doctor", "admin"))


def _team_for(caller: str, w) -> dict:
    """Admins must name the team; a doctor's default is their own team."""
    return {"team_id": w.team_a} if caller.startswith("admin") else {}


def _resident_login_code(app, w):
    cipher = app.extensions["pii_cipher"]
    db.session.add(OtpCode(phone=PHONE_A, code_hash=cipher.lookup_hash(f"otp:{PHONE_A}:{OTP_CODE}"),
                           expires_at=clock.now() + dt.timedelta(minutes=5), attempts=0, created_at=clock.now()))
    db.session.commit()
    return contextlib.nullcontext()


@contextlib.contextmanager
def _fake_wechat(app, w):
    from app.config import reconfigure
    from tests.fakes.wechat import FakeWechat

    with FakeWechat() as fake:
        reconfigure(app, WECHAT_API_BASE=fake.base_url)
        fake.issue_code("wx-code-a", OPENID_A)
        yield


def _known_template(app, w):
    from app.config import reconfigure

    reconfigure(app, WECHAT_TEMPLATE_IDS={"followup_due": "tpl-followup"})
    return contextlib.nullcontext()


V1 = "/api/v1"
TABLE: dict[tuple[str, str], Row] = {
    # --- plumbing and docs ------------------------------------------------------------
    ("GET", "/healthz"): Row(public()),
    ("GET", "/readyz"): Row(public()),
    ("GET", "/api/openapi.json"): Row(public()),
    ("GET", "/api/docs"): Row(public()),

    # --- sign-in (public; a token sent along changes nothing) -------------------------
    ("POST", f"{V1}/auth/staff/login"): Row(
        public(), json=lambda w, c: {"username": "doctor_a", "password": PASSWORD},
        about=lambda b, w: b["user"]["team_id"] == w.team_a, sees=ALL),
    ("POST", f"{V1}/auth/otp"): Row(public(202), json=lambda w, c: {"phone": PHONE_A}),
    ("POST", f"{V1}/auth/resident/login"): Row(
        public(), json=lambda w, c: {"phone": PHONE_A, "code": OTP_CODE}, setup=_resident_login_code,
        about=lambda b, w: b["resident"]["id"] == w.resident_a, sees=ALL),
    ("POST", f"{V1}/auth/wechat/login"): Row(
        public(), json=lambda w, c: {"code": "wx-code-a"}, setup=_fake_wechat,
        about=lambda b, w: b["resident"]["id"] == w.resident_a, sees=ALL,
        why="A's WeChat account is linked: the code signs in as A whoever else's token comes along"),
    ("POST", f"{V1}/auth/refresh"): Row(signed_in(200), token="refresh"),
    ("POST", f"{V1}/auth/logout"): Row(signed_in(204)),
    ("POST", f"{V1}/webhooks/twilio/status"): Row(
        public(403), why="Twilio signature, not a bearer token: unsigned is 403 INVALID_SIGNATURE for all"),
    ("POST", f"{V1}/webhooks/twilio/inbound"): Row(public(403), why="as the status callback"),

    # --- organisation -----------------------------------------------------------------
    ("GET", f"{V1}/institutions"): Row(public(), about=lambda b, w: w.thc_a in ids_of(b["items"]), sees=ALL),
    ("GET", f"{V1}/institutions/<int:institution_id>"): Row(
        public(), about=lambda b, w: b["id"] == w.thc_a, sees=ALL),
    ("POST", f"{V1}/institutions"): Row(
        admin_naming_in_body(),
        json=lambda w, c: {"code": "vil-new", "name": "新村卫生室", "type": "village_clinic", "parent_id": w.thc_a},
        about=lambda b, w: b["parent_id"] == w.thc_a, sees=STAFF_OWNERS,
        why="a village clinic under institution 1: its parent is not institution 2's"),
    ("GET", f"{V1}/teams"): Row(public(), query=lambda w: {"institution_id": w.thc_a},
                               about=lambda b, w: w.team_a in ids_of(b["items"]), sees=ALL),
    ("GET", f"{V1}/teams/<int:team_id>"): Row(public(), about=lambda b, w: b["id"] == w.team_a, sees=ALL),
    ("POST", f"{V1}/teams"): Row(
        admin_naming_in_body(), json=lambda w, c: {"institution_id": w.thc_a, "code": "team-new", "name": "东镇二队"},
        about=lambda b, w: b["institution"]["id"] == w.thc_a, sees=STAFF_OWNERS),
    ("PATCH", f"{V1}/teams/<int:team_id>"): Row(
        admin_in_scope(), json=lambda w, c: {"phone": "0311-1234567"},
        about=lambda b, w: b["id"] == w.team_a, sees=STAFF_OWNERS),
    ("GET", f"{V1}/round-points"): Row(public(), query=lambda w: {"institution_id": w.thc_a},
                                      about=lambda b, w: w.round_point in ids_of(b["items"]), sees=ALL),
    ("GET", f"{V1}/round-points/<int:point_id>"): Row(
        public(), about=lambda b, w: b["id"] == w.round_point, sees=ALL),
    ("POST", f"{V1}/round-points"): Row(
        admin_naming_in_body(), json=lambda w, c: {"institution_id": w.thc_a, "name": "东村二组巡诊点", "village": "东村"},
        about=lambda b, w: b["institution_id"] == w.thc_a, sees=STAFF_OWNERS),
    ("PATCH", f"{V1}/round-points/<int:point_id>"): Row(
        admin_in_scope(), json=lambda w, c: {"address": "东村村委会"},
        about=lambda b, w: b["id"] == w.round_point, sees=STAFF_OWNERS),
    ("DELETE", f"{V1}/round-points/<int:point_id>"): Row(admin_in_scope(204)),
    ("GET", f"{V1}/staff"): Row(
        (401, 403, 403, 403, 403, 200, 200), query=lambda w: {"team_id": w.team_a},
        about=lambda b, w: w.doctor_a in ids_of(b["items"]), sees=frozenset({"admin_community"})),
    ("POST", f"{V1}/staff"): Row(
        admin_naming_in_body(),
        json=lambda w, c: {"username": "nurse_new", "name": "新护士", "password": "a-long-enough-pass-phrase-1",
                           "role": "doctor", "team_id": w.team_a, "team_role": "nurse"},
        about=lambda b, w: b["team_id"] == w.team_a, sees=STAFF_OWNERS),
    ("GET", f"{V1}/staff/<int:staff_id>"): Row(
        admin_in_scope(), about=lambda b, w: b["id"] == w.doctor_a, sees=STAFF_OWNERS),
    ("PATCH", f"{V1}/staff/<int:staff_id>"): Row(
        admin_in_scope(), json=lambda w, c: {"name": "李医生"},
        about=lambda b, w: b["id"] == w.doctor_a, sees=STAFF_OWNERS),
    ("GET", f"{V1}/audit-logs"): Row(
        (401, 403, 403, 403, 403, 200, 200), query=lambda w: {"resident_id": w.resident_a},
        about=lambda b, w: any(i["resident_id"] == w.resident_a for i in b["items"]),
        sees=frozenset({"admin_community"})),

    # --- residents ----------------------------------------------------------------------
    ("POST", f"{V1}/residents"): Row(
        staff_naming_in_body(),
        json=lambda w, c: {"name": "王五", "id_number": w.new_id_number, "phone": "13912340009",
                           "institution_id": w.thc_a},
        about=lambda b, w: b["institution_id"] == w.thc_a, sees=STAFF_OWNERS,
        why="registering at institution 1 is not institution 2's to do"),
    ("GET", f"{V1}/residents"): Row(
        staff_list(), query=lambda w: {"q": "张三"}, about=lambda b, w: w.resident_a in ids_of(b["items"]),
        sees=STAFF_OWNERS),
    ("GET", f"{V1}/residents/<int:resident_id>"): Row(
        owner_or_staff_in_scope(), about=lambda b, w: b["id"] == w.resident_a),
    ("PATCH", f"{V1}/residents/<int:resident_id>"): Row(
        staff_in_scope(), json=lambda w, c: {"address": "东村一组 8 号"},
        about=lambda b, w: b["id"] == w.resident_a, sees=STAFF_OWNERS),
    ("POST", f"{V1}/residents/<int:resident_id>/reveal"): Row(
        staff_in_scope(), json=lambda w, c: {"reason": "核对身份"},
        about=lambda b, w: b["id"] == w.resident_a, sees=STAFF_OWNERS),
    ("GET", f"{V1}/me"): Row(
        resident_self(), about=lambda b, w: b["profile"]["id"] == w.resident_a, sees=frozenset({"resident_a"})),
    ("POST", f"{V1}/me/family"): Row(
        resident_self(201, resident_b=422),
        json=lambda w, c: {"id_number": w.id_number_b, "name": "李四", "relation": "spouse"},
        why="resident B naming themself is 422 FAMILY_MEMBER_IS_SELF"),
    ("GET", f"{V1}/me/family"): Row(
        resident_self(), about=lambda b, w: w.family_link in ids_of(b["items"]), sees=frozenset({"resident_a"})),
    ("POST", f"{V1}/me/family/<int:link_id>/confirm"): Row(
        (401, 422, 404, 403, 403, 403, 403), json=lambda w, c: {"code": "000000"},
        why="A's own pending link has no live code: 422 FAMILY_CODE_EXPIRED; anyone else's link is 404"),
    ("POST", f"{V1}/me/family/<int:link_id>/resend"): Row(
        (401, 200, 404, 403, 403, 403, 403), about=lambda b, w: b["id"] == w.family_link,
        sees=frozenset({"resident_a"})),
    ("DELETE", f"{V1}/me/family/<int:link_id>"): Row((401, 204, 404, 403, 403, 403, 403)),
    ("POST", f"{V1}/residents/<int:resident_id>/family/<int:link_id>/confirm"): Row(
        staff_in_scope(), params={"resident_id": "family_member"},
        about=lambda b, w: b["id"] == w.family_link, sees=STAFF_OWNERS),
    ("GET", f"{V1}/me/notification-preferences"): Row(resident_self()),
    ("PATCH", f"{V1}/me/notification-preferences"): Row(resident_self(), json=lambda w, c: {"sms": False}),
    ("POST", f"{V1}/me/wechat-subscriptions"): Row(
        resident_self(201, resident_b=409), json=lambda w, c: {"template_id": "tpl-followup"},
        setup=_known_template, why="resident B has no WeChat linked: 409 WECHAT_NOT_LINKED about B themself"),

    # --- packages, quotes, contracts ----------------------------------------------------
    ("GET", f"{V1}/packages"): Row(
        owner_or_staff_in_scope(), query=lambda w: {"resident_id": w.resident_a},
        about=lambda b, w: all(p["eligibility"] is not None for p in b["items"])),
    ("POST", f"{V1}/quotes"): Row(
        owner_or_staff_in_scope(), json=lambda w, c: {"resident_id": w.resident_a, "package_codes": ["basic"]}),
    ("POST", f"{V1}/contracts"): Row(
        owner_or_staff_in_scope(409),
        json=lambda w, c: {"resident_id": w.resident_a, "team_id": w.team_a, "package_codes": ["basic"],
                           **({"payment": PAYMENT} if _is_staff(c) else {})},
        why="A already holds an active contract: 409 CONTRACT_ALREADY_ACTIVE for whoever may sign for A"),
    ("GET", f"{V1}/contracts"): Row(
        (401, 200, 404, 200, 200, 200, 200), query=lambda w: {"resident_id": w.resident_a},
        about=lambda b, w: w.contract in ids_of(b["items"])),
    ("GET", f"{V1}/contracts/<int:contract_id>"): Row(
        owner_or_staff_in_scope(), about=lambda b, w: b["id"] == w.contract),
    ("POST", f"{V1}/contracts/<int:contract_id>/accept"): Row(
        staff_in_scope(409), why="the contract is already active: 409 INVALID_CONTRACT_STATUS"),
    ("POST", f"{V1}/contracts/<int:contract_id>/reject"): Row(
        staff_in_scope(409), json=lambda w, c: {"reason": "材料不全"}, why="as accept"),
    ("POST", f"{V1}/contracts/<int:contract_id>/pay"): Row(
        staff_in_scope(409), json=lambda w, c: PAYMENT, why="as accept"),
    ("POST", f"{V1}/contracts/<int:contract_id>/terminate"): Row(
        staff_in_scope(), json=lambda w, c: {"reason": "居民迁出"},
        about=lambda b, w: b["id"] == w.contract, sees=STAFF_OWNERS),
    ("POST", f"{V1}/contracts/<int:contract_id>/renew"): Row(
        owner_or_staff_in_scope(201),
        json=lambda w, c: {"package_codes": ["basic"], **({"payment": PAYMENT} if _is_staff(c) else {})},
        about=lambda b, w: (b["resident_id"], b["renewed_from_id"]) == (w.resident_a, w.contract)),
    ("POST", f"{V1}/contracts/<int:contract_id>/services"): Row(
        staff_in_scope(201), json=lambda w, c: {"item_code": "bp_check", "delivered_on": "2026-03-02",
                                                "place": "clinic"},
        about=lambda b, w: b["contract_id"] == w.contract, sees=STAFF_OWNERS),
    ("GET", f"{V1}/contracts/<int:contract_id>/services"): Row(
        owner_or_staff_in_scope(), about=lambda b, w: len(b["items"]) == 1),
    ("POST", f"{V1}/contracts/<int:contract_id>/evaluations"): Row(
        (401, 201, 404, 403, 403, 403, 403), json=lambda w, c: {"score": 5, "comment": "医生很耐心"},
        about=lambda b, w: b["contract_id"] == w.contract, sees=frozenset({"resident_a"})),
    ("GET", f"{V1}/evaluations"): Row(
        staff_list(), query=lambda w: {"team_id": w.team_a},
        about=lambda b, w: w.evaluation in ids_of(b["items"]), sees=STAFF_OWNERS),

    # --- chronic-disease follow-up -----------------------------------------------------
    ("POST", f"{V1}/residents/<int:resident_id>/programs"): Row(
        staff_in_scope(201), json=lambda w, c: {"program": "diabetes", "enrolled_on": "2026-02-01",
                                                **_team_for(c, w)},
        about=lambda b, w: b["resident_id"] == w.resident_a, sees=STAFF_OWNERS),
    ("GET", f"{V1}/residents/<int:resident_id>/programs"): Row(
        staff_in_scope(), about=lambda b, w: w.enrolment in ids_of(b["items"]), sees=STAFF_OWNERS),
    ("PATCH", f"{V1}/programs/<int:enrolment_id>"): Row(
        staff_in_scope(), json=lambda w, c: {"status": "lost", "reason": "多次联系不上"},
        about=lambda b, w: b["id"] == w.enrolment, sees=STAFF_OWNERS),
    ("POST", f"{V1}/followups"): Row(
        staff_in_scope(201),
        json=lambda w, c: {"resident_id": w.resident_a, "program": "hypertension", "visit_date": "2026-03-02",
                           "visit_mode": "clinic", "sbp": 128, "dbp": 78},
        about=lambda b, w: b["resident_id"] == w.resident_a, sees=STAFF_OWNERS),
    ("GET", f"{V1}/residents/<int:resident_id>/followups"): Row(
        owner_or_staff_in_scope(), about=lambda b, w: w.followup in ids_of(b["items"]),
        why="a resident reads their own follow-ups, or a linked member's (tests/api/test_family.py)"),
    ("GET", f"{V1}/worklist"): Row(
        staff_list(stranger=404), query=lambda w: {"team_id": w.team_a, "due_before": "2026-12-31"},
        about=has_resident_a, sees=STAFF_OWNERS),
    # --- offline sync ----------------------------------------------------------------------
    ("GET", f"{V1}/sync/pull"): Row(
        staff_list(stranger=404), query=lambda w: {"team_id": w.team_a},
        about=lambda b, w: any(c["type"] == "resident" and c["id"] == w.resident_a and not c["deleted"]
                               for c in b["changes"]), sees=STAFF_OWNERS),
    ("POST", f"{V1}/sync/push"): Row(
        (401, 403, 403, 200, 200, 200, 200),
        json=lambda w, c: {"records": [{
            "uuid": "9b2f4c1e-0d7a-4e5b-8c3f-1a2b3c4d5e6f", "type": "followup",
            "client_time": "2026-03-02T09:40:00+08:00",
            "data": {"resident_id": w.resident_a, "program": "hypertension", "visit_date": "2026-03-02",
                     "visit_mode": "home", "sbp": 128, "dbp": 78}}]},
        about=lambda b, w: b["results"][0]["status"] == "created" and b["results"][0]["result"][
            "resident_id"] == w.resident_a, sees=STAFF_OWNERS,
        why="a push is answered 200 record by record: a stranger's record is rejected OUT_OF_SCOPE"),
    ("POST", f"{V1}/referrals"): Row(
        staff_in_scope(201),
        json=lambda w, c: {"resident_id": w.resident_a, "to_institution_id": w.county, "reason": "血压控制不满意"},
        about=lambda b, w: has_resident_a({"items": [b]}, w), sees=STAFF_OWNERS),
    ("GET", f"{V1}/referrals"): Row(
        staff_list(), query=lambda w: {"resident_id": w.resident_a},
        about=lambda b, w: w.referral in ids_of(b["items"]), sees=STAFF_OWNERS),
    ("PATCH", f"{V1}/referrals/<int:referral_id>"): Row(
        staff_in_scope(), json=lambda w, c: {"status": "received"},
        about=lambda b, w: b["id"] == w.referral, sees=STAFF_OWNERS),
    ("GET", f"{V1}/stats/followup"): Row(
        staff_list(stranger=404),
        query=lambda w: {"team_id": w.team_a, "date_from": "2026-01-01", "date_to": "2026-03-02"},
        about=lambda b, w: any(p["under_management"] for p in b["programs"]), sees=STAFF_OWNERS),

    # --- the county's picture (stats) ---------------------------------------------------
    ("GET", f"{V1}/stats/overview"): Row(
        staff_list(stranger=404),
        query=lambda w: {"team_id": w.team_a, "date_from": "2026-01-01", "date_to": "2026-03-02"},
        about=lambda b, w: b["unit"] == {"kind": "team", "id": w.team_a, "name": b["unit"]["name"]}
        and b["coverage"]["numerator"] > 0, sees=STAFF_OWNERS),
    ("GET", f"{V1}/stats/monthly"): Row(
        staff_list(stranger=404), query=lambda w: {"team_id": w.team_a, "months": 2, "metric": "coverage"},
        about=lambda b, w: b["unit"]["id"] == w.team_a and b["months"][-1]["figures"]["coverage"]["numerator"] > 0,
        sees=STAFF_OWNERS),
    ("GET", f"{V1}/stats/workload"): Row(
        staff_list(stranger=404),
        query=lambda w: {"team_id": w.team_a, "date_from": "2026-01-01", "date_to": "2026-03-02"},
        about=lambda b, w: [t["team_id"] for t in b["teams"]] == [w.team_a], sees=STAFF_OWNERS),
    ("GET", f"{V1}/stats/units"): Row(
        staff_list(), about=lambda b, w: w.team_a in ids_of(b["teams"]), sees=STAFF_OWNERS),
    ("GET", f"{V1}/stats/overdue"): Row(
        staff_list(stranger=404), query=lambda w: {"team_id": w.team_a},
        about=lambda b, w: b["unit"]["id"] == w.team_a and [t["team_id"] for t in b["by_team"]] == [w.team_a],
        sees=STAFF_OWNERS),
    ("GET", f"{V1}/stats/reminders"): Row(
        staff_list(stranger=404),
        query=lambda w: {"team_id": w.team_a, "date_from": "2026-01-01", "date_to": "2026-03-02"},
        about=lambda b, w: b["unit"]["id"] == w.team_a, sees=STAFF_OWNERS),
    ("GET", f"{V1}/stats/overview.xlsx"): Row(
        staff_list(stranger=404), query=lambda w: {"team_id": w.team_a},
        why="as GET /stats/overview (a file: its values are checked in test_stats_overview.py)"),
    ("GET", f"{V1}/stats/workload.xlsx"): Row(
        staff_list(stranger=404), query=lambda w: {"team_id": w.team_a},
        why="as GET /stats/workload (a file: its values are checked in test_stats_overview.py)"),

    # --- FHIR Bulk Data export (tests/api/test_fhir_export.py runs them through) -----------
    ("GET", f"{V1}/fhir/$export"): Row(
        (401, 403, 403, 403, 403, 422, 422),
        why="admins only; without Prefer: respond-async (this table sends none) the kick-off is 422"),
    ("GET", f"{V1}/fhir/Group/<int:team_id>/$export"): Row(
        (401, 403, 403, 403, 403, 404, 422),
        why="team 1 is outside the other institution's admin's scope: 404 before the Prefer check"),
    ("GET", f"{V1}/fhir/exports/<export_id>"): Row(
        (401, 403, 403, 404, 404, 404, 202),
        why="the community admin's export (queued): another institution's admin and doctors get 404"),
    ("DELETE", f"{V1}/fhir/exports/<export_id>"): Row((401, 403, 403, 404, 404, 404, 202)),
    ("GET", f"{V1}/fhir/exports/<export_id>/<name>"): Row(
        (401, 403, 403, 404, 404, 404, 404), why="the export has not run yet: no file for anyone"),

    # --- appointments -------------------------------------------------------------------
    ("POST", f"{V1}/slots"): Row(
        staff_naming_in_body(),
        json=lambda w, c: {"team_id": w.team_a, "kind": "clinic", "starts_at": "2026-03-05T08:30:00+08:00",
                           "ends_at": "2026-03-05T11:30:00+08:00", "capacity": 3},
        about=lambda b, w: b["team"]["id"] == w.team_a, sees=STAFF_OWNERS,
        why="publishing a session for team 1 is not team 2's or institution 2's to do"),
    ("GET", f"{V1}/slots"): Row(public(), query=lambda w: {"team_id": w.team_a},
                               about=lambda b, w: w.slot_tomorrow in ids_of(b["items"]), sees=ALL),
    ("GET", f"{V1}/slots/<int:slot_id>"): Row(public(), about=lambda b, w: b["id"] == w.slot_tomorrow, sees=ALL),
    ("POST", f"{V1}/slots/<int:slot_id>/cancel"): Row(
        staff_in_scope(), json=lambda w, c: {"reason": "医生外出培训"},
        about=lambda b, w: b["id"] == w.slot_tomorrow, sees=STAFF_OWNERS),
    ("POST", f"{V1}/appointments"): Row(
        owner_or_staff_in_scope(201),
        json=lambda w, c: {"slot_id": w.slot_spare, "resident_id": w.resident_a, "reason": "复查血压"},
        about=lambda b, w: b["resident"]["id"] == w.resident_a),
    ("GET", f"{V1}/appointments"): Row(
        (401, 200, 404, 200, 200, 200, 200), query=lambda w: {"resident_id": w.resident_a},
        about=has_resident_a),
    ("GET", f"{V1}/appointments/<int:appointment_id>"): Row(
        owner_or_staff_in_scope(), about=lambda b, w: b["id"] == w.appt_tomorrow),
    ("POST", f"{V1}/appointments/<int:appointment_id>/cancel"): Row(
        owner_or_staff_in_scope(), json=lambda w, c: {"reason": "临时有事"},
        about=lambda b, w: b["id"] == w.appt_tomorrow),
    ("POST", f"{V1}/appointments/<int:appointment_id>/reschedule"): Row(
        owner_or_staff_in_scope(201), json=lambda w, c: {"slot_id": w.slot_spare, "reason": "改到周三"},
        about=lambda b, w: b["resident"]["id"] == w.resident_a),
    ("POST", f"{V1}/appointments/<int:appointment_id>/check_in"): Row(
        staff_in_scope(), params={"appointment_id": "appt_today"},
        about=lambda b, w: b["id"] == w.appt_today, sees=STAFF_OWNERS),
    ("POST", f"{V1}/appointments/<int:appointment_id>/no_show"): Row(
        staff_in_scope(), params={"appointment_id": "appt_today"}, json=lambda w, c: {"reason": "未到"},
        about=lambda b, w: b["id"] == w.appt_today, sees=STAFF_OWNERS),
    ("GET", f"{V1}/teams/<int:team_id>/day"): Row(
        staff_in_scope(), query=lambda w: {"date": "2026-03-02"},
        about=lambda b, w: w.slot_today in {s["slot"]["id"] for s in b["sessions"]}, sees=STAFF_OWNERS),
    ("GET", f"{V1}/agenda"): Row(
        (401, 403, 403, 200, 200, 403, 403),
        about=lambda b, w: w.slot_today in {s["slot"]["id"] for s in b["sessions"]}, sees=frozenset({"doctor_team1"}),
        why="a doctor's own sessions: team 2's doctor gets their own (empty) agenda"),
    ("GET", f"{V1}/residents/<int:resident_id>/appointment-summary"): Row(
        owner_or_staff_in_scope(), about=lambda b, w: b["resident_id"] == w.resident_a),

    # --- reminders (admin views) --------------------------------------------------------
    ("GET", f"{V1}/messages"): Row(
        (401, 403, 403, 403, 403, 200, 200), query=lambda w: {"resident_id": w.resident_a},
        about=lambda b, w: w.message in ids_of(b["items"]), sees=frozenset({"admin_community"})),
    ("GET", f"{V1}/messages/stats"): Row(
        (401, 403, 403, 403, 403, 200, 200), query=lambda w: {"date_from": "2026-03-02", "date_to": "2026-03-02"},
        about=lambda b, w: any(d["sent"] for d in b["days"]), sees=frozenset({"admin_community"})),
    # --- residents import ------------------------------------------------------------------
    ("POST", f"{V1}/residents/import"): Row(
        (401, 403, 403, 403, 403, 422, 422),
        why="admins only, the role judged before the body: without a file an admin gets 422 on `file`; imports "
            "into another institution are row errors (test_residents_import.py)"),
    ("GET", f"{V1}/residents/import/template.xlsx"): Row(
        (401, 403, 403, 200, 200, 200, 200), why="the blank template: any staff member"),

    # --- exports ---------------------------------------------------------------------------
    ("GET", f"{V1}/worklist.xlsx"): Row(
        staff_list(stranger=404), query=lambda w: {"team_id": w.team_a, "due_before": "2026-12-31"},
        why="as GET /worklist (a file, not JSON: its rows are checked in test_exports_xlsx.py)"),
    ("GET", f"{V1}/contracts.xlsx"): Row(
        staff_list(), query=lambda w: {"resident_id": w.resident_a},
        why="as GET /contracts for staff (strangers get a file without A's contract, checked in "
            "test_exports_xlsx.py); the register is a staff document: residents 403"),
}


# --- the URL map -----------------------------------------------------------------------

def url_map_routes(app) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}}


@functools.cache
def _collected_routes() -> tuple[tuple[str, str], ...]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True, "LOG_LEVEL": "WARNING"})
    return tuple(sorted(url_map_routes(app), key=lambda r: (r[1], r[0])))


CASES = [pytest.param(method, rule, caller, id=f"{method} {rule} as {caller}")
         for method, rule in _collected_routes() if (method, rule) in TABLE
         for caller in CALLERS]


def test_every_route_has_a_row(app):
    routes = url_map_routes(app)
    missing = sorted(routes - set(TABLE) - set(SKIPPED), key=lambda r: (r[1], r[0]))
    stale = sorted((set(TABLE) | set(SKIPPED)) - routes, key=lambda r: (r[1], r[0]))
    assert not missing, "routes without a row in TABLE (add one per new endpoint):\n" + "\n".join(
        f"  {m} {r}" for m, r in missing)
    assert not stale, "rows for routes no longer in the URL map:\n" + "\n".join(f"  {m} {r}" for m, r in stale)


def test_every_row_has_seven_statuses():
    bad = {k: row.expect for k, row in TABLE.items() if len(row.expect) != len(CALLERS)}
    assert not bad


# --- the world -------------------------------------------------------------------------

@functools.cache
def _catalog():
    return tuple(load_directory(CATALOG_DIR))


def _ok(resp, status: int = 201) -> dict:
    assert resp.status_code == status, (resp.request.path, resp.get_json())
    return resp.get_json()


def build_world(client) -> SimpleNamespace:
    """Two institutions (thc_a: team 1, thc_b: team 2) and resident A's records, in about ten requests."""
    base = make_world()
    make_staff("admin_b", "admin", base.community, institution=base.thc_b, name="西镇管理员")
    package_versions.load_catalog(list(_catalog()))
    db.session.commit()
    a = make_resident(base.thc_a, name="张三", birth=dt.date(1955, 5, 17), phone=PHONE_A, village="东村")
    b = make_resident(base.thc_a, name="李四", birth=dt.date(1958, 8, 8), sex="female", phone=PHONE_B,
                      village="东村")
    a.row.wechat_openid = OPENID_A
    db.session.commit()
    point = db.session.query(RoundPoint).filter_by(institution_id=base.thc_a.id).one()
    doctor = login(client, "doctor_a")
    v1 = "/api/v1"
    contract = _ok(client.post(f"{v1}/contracts", headers=doctor, json={
        "resident_id": a.id, "package_codes": ["basic"], "payment": PAYMENT}))
    assert contract["status"] == "active", contract
    enrolment = _ok(client.post(f"{v1}/residents/{a.id}/programs", headers=doctor,
                                json={"program": "hypertension", "enrolled_on": "2026-01-01"}))
    followup = _ok(client.post(f"{v1}/followups", headers=doctor, json={
        "resident_id": a.id, "program": "hypertension", "visit_date": "2026-01-10", "visit_mode": "clinic",
        "sbp": 128, "dbp": 78}))
    _ok(client.post(f"{v1}/contracts/{contract['id']}/services", headers=doctor, json={
        "item_code": "health_record", "delivered_on": "2026-03-02", "place": "clinic"}))
    referral = _ok(client.post(f"{v1}/referrals", headers=doctor, json={
        "resident_id": a.id, "to_institution_id": base.county.id, "reason": "复查心电图"}))

    def session(day: str, start: str, end: str) -> int:
        return _ok(client.post(f"{v1}/slots", headers=doctor, json={
            "kind": "clinic", "starts_at": f"{day}T{start}:00+08:00", "ends_at": f"{day}T{end}:00+08:00",
            "capacity": 5}))["id"]

    slot_today = session("2026-03-02", "09:30", "11:30")
    slot_tomorrow = session("2026-03-03", "08:30", "11:30")
    slot_spare = session("2026-03-04", "08:30", "11:30")
    resident = resident_headers(a.id)
    appt_today = _ok(client.post(f"{v1}/appointments", headers=resident,
                                 json={"slot_id": slot_today, "reason": "量血压"}))["id"]
    appt_tomorrow = _ok(client.post(f"{v1}/appointments", headers=resident,
                                    json={"slot_id": slot_tomorrow, "reason": "复查血压"}))["id"]
    evaluation = Evaluation(contract_id=contract["id"], resident_id=a.id, team_id=base.team_a.id, month="2026-02",
                            score=4, comment="还不错")
    message = OutboxMessage(
        dedupe_key=f"followup_due:{enrolment['id']}:2026-04-10", kind="followup_due", resident_id=a.id,
        subject_type="enrolment", subject_id=enrolment["id"], occurrence="2026-04-10", recipient="+86" + PHONE_A,
        channel="sms", template_code="followup_due", text="【家庭医生签约服务】您有一项健康随访服务将于4月10日到期。",
        status="delivered", attempts=1, sent_at=clock.now(), delivered_at=clock.now(), last_attempt_at=clock.now())
    # A's father, registered at thc_a, asked to be linked and not yet confirmed (no live code).
    father = make_resident(base.thc_a, name="张父", birth=dt.date(1930, 3, 3), phone="13912340009")
    link = FamilyLink(resident_id=a.id, member_id=father.id, relation="parent", status="pending")
    export = FhirExport(id="e" * 32, status="queued", requested_by_id=base.admin_all.id,
                        community_id=base.community.id,
                        institution_ids=sorted(i.id for i in (base.county, base.thc_a, base.thc_b, base.village_a,
                                                              base.village_b)),
                        types=["Patient"], request_url="http://localhost/api/v1/fhir/$export",
                        expires_at=clock.now() + dt.timedelta(hours=24))
    db.session.add_all([evaluation, message, link, export])
    db.session.commit()
    return SimpleNamespace(
        thc_a=base.thc_a.id, thc_b=base.thc_b.id, county=base.county.id, team_a=base.team_a.id,
        team_b=base.team_b.id, doctor_a=base.doctor_a.id, round_point=point.id,
        resident_a=a.id, resident_b=b.id, contract=contract["id"], enrolment=enrolment["id"],
        followup=followup["id"], referral=referral["id"], slot_today=slot_today, slot_tomorrow=slot_tomorrow,
        slot_spare=slot_spare, appt_today=appt_today, appt_tomorrow=appt_tomorrow, evaluation=evaluation.id,
        message=message.id, family_member=father.id, family_link=link.id, id_number_b=b.id_number,
        fhir_export=export.id, fhir_file="Patient.ndjson",
        new_id_number=make_id_number("131122", dt.date(1970, 1, 1), 7, "male"))


def caller_headers(client, w, caller: str, token: str) -> dict:
    from app.auth import issue_tokens
    from services.models import Staff

    if caller == "anonymous":
        return {}
    if caller.startswith("resident"):
        rid = w.resident_a if caller == "resident_a" else w.resident_b
        if token == "refresh":
            raw = create_refresh_token(identity=f"resident:{rid}", additional_claims={"role": "resident"})
            return {"Authorization": f"Bearer {raw}"}
        return resident_headers(rid)
    username = {"doctor_team1": "doctor_a", "doctor_team2": "doctor_b", "admin_inst2": "admin_b",
                "admin_community": "admin_all"}[caller]
    if token == "refresh":
        staff = db.session.query(Staff).filter_by(username=username).one()
        return {"Authorization": f"Bearer {issue_tokens('staff', staff.id, staff.role)['refresh_token']}"}
    return login(client, username)


def path_for(rule: str, row: Row, w) -> str:
    names = {**DEFAULT_PARAMS, **row.params}
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: str(getattr(w, names[m.group(1)])), rule)


def assert_error_body(body) -> None:
    """api.md: {"code": "STABLE_UPPER_SNAKE", "message": "中文说明", "errors"?, "details"?}, nothing else."""
    assert isinstance(body, dict), body
    assert set(body) <= {"code", "message", "errors", "details"}, body
    assert re.fullmatch(r"[A-Z][A-Z0-9_]*", body.get("code", "")), body
    assert re.search(r"[\u4e00-\u9fff]", body.get("message", "")), body


# --- the matrix ------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "rule", "caller"), CASES)
def test_authorisation(app, client, method, rule, caller):
    row = TABLE[(method, rule)]
    expected = row.expect[CALLERS.index(caller)]
    with clock.freeze(BUILD_AT):
        w = build_world(client)
        headers = caller_headers(client, w, caller, row.token)
        clock.advance(REQUEST_AT - BUILD_AT)
        with (row.setup or (lambda _a, _w: contextlib.nullcontext()))(app, w):
            resp = client.open(path_for(rule, row, w), method=method, headers=headers,
                               query_string=row.query(w) if row.query else None,
                               json=row.json(w, caller) if row.json else None)
    body = resp.get_json(silent=True)
    assert resp.status_code == expected, f"{method} {rule} as {caller}: got {resp.status_code}, " \
                                         f"expected {expected}: {body}"
    if expected in (401, 403, 404):
        assert_error_body(body)
    if 200 <= expected < 300 and expected != 204 and row.about is not None:
        shown = row.about(body, w)
        assert shown == (caller in row.sees), (
            f"{caller} {'should' if caller in row.sees else 'must not'} see resident A's / team 1's record: {body}")
