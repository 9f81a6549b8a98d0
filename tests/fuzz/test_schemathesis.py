"""Schemathesis against the app's own OpenAPI document, in process (WSGI, no server).

Every operation in /api/openapi.json is fuzzed as four callers (anonymous, a
resident, a doctor, an admin) with positive (schema-valid) and negative
(schema-violating) requests. Each response must pass:

- not_a_server_error            no 5xx (api.md: a 500 is a bug)
- status_code_conformance       schemathesis' check (vacuous while an operation documents `default`)
- explicit_status_conformance   ours: the status is listed by the operation itself, not only by `default`
- content_type_conformance      the Content-Type is one the matching response documents
- response_schema_conformance   the body matches the matching response's schema
- response_headers_conformance  documented response headers are present and well-formed

The app is the test app on its own SQLite copy of the migrated schema, seeded
once per module like `make seed` (catalog, demo community with 200 residents,
contracts, enrolments, sessions) plus the factories' second tenant, so small
ids exist. Writes made by generated requests stay in that database.

Environment:
  FUZZ_EXAMPLES   examples per operation, caller and mode (default 3: `make test`)
  FUZZ_MODES      "positive,negative" (default both)
  FUZZ_RANDOM     1: random generation (`make fuzz`); otherwise derandomized, so
                  `make test` sends the same requests on every run
  FUZZ_SEED       with FUZZ_RANDOM=1, replay a run's seed (printed in the summary)
  FUZZ_STRICT_STATUS  0: skip explicit_status_conformance
  FUZZ_REPORT     write the summary and every distinct failure there as JSON

Failures are collected rather than raised, so every example runs (and is
counted); a test fails at its end listing its distinct failures, each with the
smallest request seen that reproduces it.
"""
from __future__ import annotations

import json
import os
import random
import re
from unittest import mock

import pytest

# A dev dependency (requirements-dev.txt): `make test` and `make fuzz` install it.
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis not installed: make install-dev")
import hypothesis  # noqa: E402  (installed with schemathesis)
from hypothesis import HealthCheck, Phase, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.core.failures import Failure, FailureGroup, ServerError  # noqa: E402
from schemathesis.core.transport import expand_status_code  # noqa: E402
from schemathesis.openapi.checks import JsonSchemaError, UndefinedStatusCode  # noqa: E402
from schemathesis.specs.openapi import checks as oas_checks  # noqa: E402

from app import create_app  # noqa: E402
from tests.fakes.wechat import FakeWechat  # noqa: E402

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
MODES = [GenerationMode(m.strip()) for m in os.environ.get("FUZZ_MODES", "positive,negative").split(",")
         if m.strip()]
RANDOM = os.environ.get("FUZZ_RANDOM", "").lower() in ("1", "true", "yes")
SEED = int(os.environ["FUZZ_SEED"]) if os.environ.get("FUZZ_SEED") else random.SystemRandom().randrange(2**32)
STRICT_STATUS = os.environ.get("FUZZ_STRICT_STATUS", "1").lower() not in ("0", "false", "no")
CALLERS = ("anonymous", "resident", "doctor", "admin")
# Demo accounts the staff callers act as (services/demo/seed.py).
DOCTOR = "demo_doctor"
ADMIN = "demo_admin"


def _overrides(url: str) -> dict:
    from tests.conftest import base_overrides

    return {
        **base_overrides(url),
        # Login and OTP are rate limited; with the limiter on, fuzzing would see mostly 429s.
        "RATELIMIT_ENABLED": False,
        # A long `make fuzz` must not outlive its access tokens.
        "JWT_ACCESS_MINUTES": 24 * 60,
        "LOG_LEVEL": "CRITICAL",  # 500s are counted here; their tracebacks would flood the output
    }


def _spec() -> dict:
    """The OpenAPI document as the app serves it (no database needed to build it)."""
    app = create_app(_overrides("sqlite://"))
    resp = app.test_client().get("/api/openapi.json")
    assert resp.status_code == 200, resp.status_code
    return resp.get_json()


SPEC = _spec()
LABELS = [f"{method.upper()} {path}" for path, item in SPEC["paths"].items() for method in item
          if method in ("get", "put", "post", "delete", "options", "head", "patch", "trace")]

# label -> {path parameter: whether it is an integer id}
case_path_ids = {
    f"{method.upper()} {path}": {
        p["name"]: (p.get("schema") or {}).get("type") == "integer"
        for p in item.get("parameters", []) + (op.get("parameters", []) if isinstance(op, dict) else [])
        if p.get("in") == "path"}
    for path, item in SPEC["paths"].items() for method, op in item.items() if method != "parameters"}


# --------------------------------------------------------------------------
# The world under test
# --------------------------------------------------------------------------

class FuzzEnv:
    def __init__(self, app, schema, staff_ids: dict[str, tuple[int, str]], resident_id: int):
        self.app = app
        self.schema = schema
        self.operations = {}
        for result in schema.get_all_operations():
            op = result.ok()
            self.operations[op.label] = op
        self.staff_ids = staff_ids
        self.resident_id = resident_id
        self._callers = self._snapshot()

    def _snapshot(self) -> dict:
        from services.core.db import db
        from services.models import Staff

        cols = ("active", "role", "community_id", "institution_id", "team_id", "team_role", "password_hash")
        rows = {sid: {c: getattr(db.session.get(Staff, sid), c) for c in cols}
                for sid, _role in self.staff_ids.values()}
        db.session.remove()
        return rows

    def restore_callers(self) -> None:
        """Undo what earlier examples did to the caller accounts (a fuzzed PATCH /staff/{id}
        may deactivate the doctor), so every operation is fuzzed by the callers it names."""
        if self._snapshot() == self._callers:
            return
        from services.core.db import db
        from services.models import Staff

        for sid, values in self._callers.items():
            row = db.session.get(Staff, sid)
            for col, value in values.items():
                setattr(row, col, value)
        db.session.commit()
        db.session.remove()

    def headers(self, caller: str) -> dict:
        """Fresh tokens per request: a fuzzed POST /auth/logout revokes only its own token."""
        if caller == "anonymous":
            return {}
        if caller == "resident":
            from tests.factories import resident_headers

            return resident_headers(self.resident_id)
        from app.auth import issue_tokens

        staff_id, role = self.staff_ids[caller]
        return {"Authorization": f"Bearer {issue_tokens('staff', staff_id, role)['access_token']}"}


def _seed() -> tuple[dict[str, tuple[int, str]], int]:
    from flask import current_app
    from sqlalchemy import select

    from services.core.db import db
    from services.demo import seed as demo
    from services.demo.appointments import seed_demo_sessions
    from services.demo.contracts import seed_demo_contracts
    from services.demo.followups import seed_demo_followups
    from services.models import Contract, Staff
    from tests import factories

    factories.load_catalog()
    # scrypt once instead of once per demo account (~0.4 s each)
    with mock.patch.object(demo, "hash_password", lambda _password: factories._HASH):
        demo.seed_demo(current_app.extensions["pii_cipher"])
    db.session.commit()
    seed_demo_followups(current_app.extensions["followup_rules"])
    db.session.commit()
    seed_demo_contracts(current_app.extensions["settings"].contracts)
    db.session.commit()
    seed_demo_sessions()
    db.session.commit()
    # A second community, so scope (404 for another tenant's record) is exercised too.
    world = factories.make_world()
    for i in range(3):
        r = factories.make_resident(world.village_a, name=f"测试{i}", phone=f"1390000000{i}")
        factories.make_contract(r.id, world.team_a)

    staff = {}
    for caller, username in (("doctor", DOCTOR), ("admin", ADMIN)):
        row = db.session.scalar(select(Staff).where(Staff.username == username))
        staff[caller] = (row.id, row.role)
    resident_id = db.session.scalar(select(Contract.resident_id).where(Contract.status == "active")
                                    .order_by(Contract.resident_id).limit(1))
    db.session.remove()
    return staff, resident_id


@pytest.fixture(scope="module")
def fuzz_env(databases, fuzz_stats):
    url = databases.fresh()
    overrides = _overrides(url)
    if databases.engine_options:
        overrides["SQLALCHEMY_ENGINE_OPTIONS"] = databases.engine_options
    wechat = FakeWechat().__enter__()  # unknown codes: WeChat's own refusal, not an unreachable upstream
    overrides["WECHAT_API_BASE"] = wechat.base_url
    app = create_app(overrides)
    ctx = app.app_context()
    ctx.push()
    try:
        staff, resident_id = _seed()
        schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
        fuzz_stats.settings = {"examples": EXAMPLES, "modes": [m.value for m in MODES],
                               "random": RANDOM, "seed": SEED if RANDOM else None,
                               "strict_status": STRICT_STATUS, "operations": len(LABELS),
                               "callers": list(CALLERS)}
        yield FuzzEnv(app, schema, staff, resident_id)
    finally:
        from services.core.db import db

        db.session.remove()
        db.engine.dispose()
        ctx.pop()
        databases.reset(url)
        wechat.__exit__(None, None, None)


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------

class UndocumentedStatus(UndefinedStatusCode):
    kind_title = "Status code documented only by `default`"
    checks = ("explicit_status_conformance",)


def explicit_status_conformance(ctx, response, case):
    """Every status an operation answers is listed by it; the catch-all `default` does not count.

    (flask-smorest gives every operation a `default` error response, which makes
    schemathesis' status_code_conformance accept any status at all.)
    """
    listed = [c for c in case.operation.responses.status_codes if c != "default"]
    allowed = {s for c in listed for s in expand_status_code(c)}
    if response.status_code not in allowed:
        raise UndocumentedStatus(operation=case.operation.label, status_code=response.status_code,
                                 defined_status_codes=listed, allowed_status_codes=sorted(allowed),
                                 message=f"Received: {response.status_code}\nListed: {', '.join(listed)}")


CHECKS = [
    schemathesis.checks.not_a_server_error,
    oas_checks.status_code_conformance,
    oas_checks.content_type_conformance,
    oas_checks.response_schema_conformance,
    oas_checks.response_headers_conformance,
] + ([explicit_status_conformance] if STRICT_STATUS else [])


def _check_name(failure: Failure) -> str:
    return failure.checks[0] if failure.checks else type(failure).__name__


def _signature(label: str, caller: str, status: int, failure: Failure) -> str:
    parts = [label, caller, _check_name(failure), str(status)]
    if isinstance(failure, JsonSchemaError):
        path = "/".join("[]" if isinstance(p, int) else str(p) for p in failure.instance_path)
        parts += ["/".join(map(str, failure.schema_path)), path]
        if failure.schema_path and failure.schema_path[-1] in ("additionalProperties", "required"):
            parts.append(failure._raw_message)
    elif not isinstance(failure, (ServerError, UndefinedStatusCode)):
        parts.append(failure.title)
    return " | ".join(parts)


def _text(data, limit: int = 600) -> str | None:
    if data is None:
        return None
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return data if len(data) <= limit else data[:limit] + f"... ({len(data)} chars)"


def _reproduction(case, response) -> dict:
    req = response.request
    url = re.sub(r"^https?://[^/]+", "", str(req.url))
    return {
        "method": req.method,
        "url": url,
        "headers": {k: (v[:16] + "..." if k.lower() == "authorization" and len(v) > 19 else v)
                    for k, v in req.headers.items()
                    if k.lower() not in ("user-agent", "accept", "accept-encoding", "connection",
                                         "content-length", "x-schemathesis-testcaseid")},
        "body": _text(req.body),
        "status": response.status_code,
        "response_content_type": response.headers.get("content-type", [None])[0],
        "response": _text(response.content),
    }


def _failure_message(failure: Failure) -> str:
    if isinstance(failure, JsonSchemaError):
        return failure._raw_message
    return failure.message.splitlines()[0] if failure.message else failure.title


# --------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------

def _settings(mode: GenerationMode) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=not RANDOM,
        database=None,  # nothing written to .hypothesis/
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # failures are collected, not raised: nothing to shrink
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("label", LABELS)
def test_operation(fuzz_env, fuzz_stats, label, caller):
    operation = fuzz_env.operations[label]
    fuzz_env.restore_callers()
    found: dict[str, dict] = {}

    id_params = [name for name, value in (case_path_ids.get(label) or {}).items() if value]

    def one(case, data):
        if case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE:
            # Half the positive requests name records that exist (ids 1..12), not just any integer.
            for name in id_params:
                if data.draw(st.booleans(), label=f"existing {name}"):
                    case.path_parameters[name] = data.draw(st.integers(1, 12), label=name)
        # Uncompressed answers: the WSGI transport hands the checks the raw body, and the
        # sync pull is gzipped when asked (tests/api/test_sync.py checks that).
        headers = {**fuzz_env.headers(caller), "Accept-Encoding": "identity"}
        response = case.call(headers=headers)
        fuzz_stats.requests += 1
        fuzz_stats.requests_by_caller[caller] += 1
        fuzz_stats.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            failures = list(group.exceptions)
        except Failure as failure:
            failures = [failure]
        else:
            return
        for name in {_check_name(f) for f in failures}:
            fuzz_stats.failed_responses[name] += 1
        for failure in failures:
            key = _signature(label, caller, response.status_code, failure)
            repro = _reproduction(case, response)
            size = len(repro["url"]) + len(repro["body"] or "")
            seen = found.get(key)
            if seen is None or size < seen["_size"]:
                found[key] = {"operation": label, "caller": caller, "check": _check_name(failure),
                              "status": response.status_code, "message": _failure_message(failure),
                              "request": repro, "_size": size,
                              "count": (seen or {}).get("count", 0)}
            found[key]["count"] += 1

    for mode in MODES:
        try:
            strategy = operation.as_strategy(generation_mode=mode)
        except Exception:  # noqa: BLE001 - e.g. nothing to make negative
            continue
        run = given(case=strategy, data=st.data())(one)
        run = _settings(mode)(run)
        if RANDOM:
            run = hypothesis.seed(SEED)(run)
        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            continue  # e.g. no negative request exists for an operation without inputs

    for key, f in found.items():
        f = dict(f)
        f.pop("_size")
        fuzz_stats.distinct[key] = f
    if found:
        lines = [f"{len(found)} distinct failure(s) for {caller} on {label}:"]
        for f in sorted(found.values(), key=lambda f: (f["check"], f["status"])):
            r = f["request"]
            lines.append(f"- [{f['check']}] {f['status']} x{f['count']}: {f['message']}")
            lines.append(f"    {r['method']} {r['url']}  headers={json.dumps(r['headers'], ensure_ascii=False)}"
                         + (f"  body={r['body']}" if r["body"] else ""))
            lines.append(f"    -> {r['status']} {r['response_content_type']} {r['response']}")
        pytest.fail("\n".join(lines), pytrace=False)


def test_every_operation_is_fuzzed(fuzz_env):
    """The parametrization (from the spec the app serves) covers what schemathesis loads."""
    assert sorted(fuzz_env.operations) == sorted(LABELS)
    assert json.dumps(SPEC, sort_keys=True) == json.dumps(fuzz_env.schema.raw_schema, sort_keys=True)


def test_the_checks_bite(fuzz_env):
    """The harness really validates: a 500, a body with an extra key and a status the
    operation does not list are each reported (guards against checks silently skipped)."""
    operation = fuzz_env.operations["GET /api/v1/me"]
    case = operation.Case()
    client = fuzz_env.app.test_client()
    resp = client.get("/api/v1/me")  # anonymous: 401 with the error body
    assert resp.status_code == 401

    def failures_for(status: int, body: dict) -> set[str]:
        resp.status_code = status
        resp.set_data(json.dumps(body))
        try:
            case.validate_response(resp, checks=CHECKS)
        except FailureGroup as group:
            return {_check_name(f) for f in group.exceptions}
        except Failure as failure:
            return {_check_name(failure)}
        return set()

    good = {"code": "UNAUTHORIZED", "message": "未登录"}
    assert failures_for(401, good) == set()
    assert "response_schema_conformance" in failures_for(401, {**good, "status": 401})
    assert "not_a_server_error" in failures_for(500, good)
    if STRICT_STATUS:
        assert "explicit_status_conformance" in failures_for(418, good)
