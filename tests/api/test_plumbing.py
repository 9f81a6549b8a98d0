"""API plumbing: one error body everywhere, request ids, health checks, OpenAPI, settings."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from app import create_app
from app.config import DEV_SECRET_KEY, reconfigure
from services.core.db import db
from services.models import Resident
from tests.factories import login


def test_unknown_path_and_wrong_method_use_the_error_body(client):
    r = client.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.get_json() == {"code": "NOT_FOUND", "message": "资源不存在"}
    r = client.delete("/api/v1/teams")
    assert r.status_code == 405 and r.get_json() == {"code": "METHOD_NOT_ALLOWED", "message": "不支持该请求方法"}


def test_malformed_json_is_400(client, world):
    headers = {**login(client, "doctor_a"), "Content-Type": "application/json"}
    r = client.post("/api/v1/residents", data="{not json", headers=headers)
    assert r.status_code == 400
    assert r.get_json() == {"code": "MALFORMED_REQUEST", "message": "请求体不是有效的 JSON"}


def test_oversized_body_is_413(app, client, world):
    reconfigure(app, MAX_CONTENT_LENGTH=1000)
    headers = {**login(client, "doctor_a"), "Content-Type": "application/json"}
    r = client.post("/api/v1/residents", data='{"name": "' + "x" * 2000 + '"}', headers=headers)
    assert r.status_code == 413 and r.get_json()["code"] == "PAYLOAD_TOO_LARGE"


def test_wrong_types_give_field_messages_in_chinese(client, world):
    headers = login(client, "doctor_a")
    r = client.post("/api/v1/residents", json={"name": 5, "id_number": "11010519491231002X",
                                               "floating": "maybe", "tags": ["vip"],
                                               "residence_since": "2025-02-30"}, headers=headers)
    assert r.status_code == 422
    body = r.get_json()
    assert body["code"] == "VALIDATION_ERROR" and body["message"] == "提交的数据未通过校验"
    assert body["errors"]["name"] == ["应为字符串"]
    assert body["errors"]["floating"] == ["应为布尔值（true/false）"]
    assert body["errors"]["tags.0"][0].startswith("须为以下之一")
    assert body["errors"]["residence_since"] == ["不是有效的日期，应为 YYYY-MM-DD"]
    r = client.post("/api/v1/residents", json=["not", "an", "object"], headers=headers)
    assert r.status_code == 422 and r.get_json()["errors"] == {"_schema": ["输入类型无效，应为 JSON 对象"]}


def test_integers_beyond_the_database_range_are_4xx_not_500(client, world):
    headers = login(client, "admin_all")
    huge = 2**63 + 5
    r = client.get(f"/api/v1/residents/{huge}", headers=headers)
    assert r.status_code == 404 and r.get_json()["code"] == "RESIDENT_NOT_FOUND"  # the route's own 404
    r = client.get(f"/api/v1/audit-logs?resident_id={huge}", headers=headers)
    assert r.status_code == 422 and r.get_json()["errors"] == {"resident_id": ["数字过大"]}
    r = client.get(f"/api/v1/round-points?page={huge}")
    assert r.status_code == 422 and "page" in r.get_json()["errors"]
    r = client.post("/api/v1/residents", json={"name": "x", "id_number": "11010519491231002X",
                                               "institution_id": 2**31}, headers=headers)
    assert r.status_code == 422 and r.get_json()["errors"] == {"institution_id": ["数字过大"]}


def test_query_validation_is_422(client, world):
    r = client.get("/api/v1/teams?page=0")
    assert r.status_code == 422 and r.get_json()["errors"] == {"page": ["须大于或等于 1 且小于或等于 1000000"]}


def test_unexpected_error_is_500_logged_with_request_id_and_no_internals(app, client, caplog):
    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals: password=hunter2")

    with caplog.at_level(logging.ERROR, logger="fdoc.errors"):
        r = client.get("/boom", headers={"X-Request-ID": "req-abc-123"})
    assert r.status_code == 500
    body = r.get_json()
    assert body["code"] == "INTERNAL_ERROR" and body["details"]["request_id"] == "req-abc-123"
    assert "hunter2" not in r.get_data(as_text=True) and "RuntimeError" not in r.get_data(as_text=True)
    assert r.headers["X-Request-ID"] == "req-abc-123"
    assert any("req-abc-123" in rec.getMessage() for rec in caplog.records)
    assert any(rec.exc_info and "hunter2" in str(rec.exc_info[1]) for rec in caplog.records)


def test_every_response_carries_a_request_id(client):
    r = client.get("/healthz")
    assert len(r.headers["X-Request-ID"]) == 32


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ok", "database": "ok"}


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing-dir/x.db", "TESTING": True})
    r = app.test_client().get("/readyz")
    assert r.status_code == 503 and r.get_json()["database"] == "unreachable"
    assert app.test_client().get("/healthz").status_code == 200


def test_openapi_spec_documents_paths_errors_and_auth(client):
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    spec = r.get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/residents", "/api/v1/residents/{resident_id}", "/api/v1/residents/{resident_id}/reveal",
                 "/api/v1/auth/staff/login", "/api/v1/auth/otp", "/api/v1/auth/resident/login",
                 "/api/v1/auth/wechat/login", "/api/v1/auth/refresh", "/api/v1/auth/logout",
                 "/api/v1/teams", "/api/v1/teams/{team_id}", "/api/v1/institutions", "/api/v1/round-points",
                 "/api/v1/me", "/api/v1/audit-logs", "/healthz", "/readyz", "/api/v1/packages", "/api/v1/quotes",
                 "/api/v1/contracts", "/api/v1/contracts/{contract_id}", "/api/v1/contracts/{contract_id}/accept",
                 "/api/v1/contracts/{contract_id}/reject", "/api/v1/contracts/{contract_id}/pay",
                 "/api/v1/contracts/{contract_id}/terminate", "/api/v1/contracts/{contract_id}/renew",
                 "/api/v1/contracts/{contract_id}/services", "/api/v1/contracts/{contract_id}/evaluations",
                 "/api/v1/evaluations", "/api/v1/staff", "/api/v1/residents/{resident_id}/programs",
                 "/api/v1/programs/{enrolment_id}", "/api/v1/followups", "/api/v1/residents/{resident_id}/followups",
                 "/api/v1/worklist", "/api/v1/referrals", "/api/v1/referrals/{referral_id}", "/api/v1/stats/followup",
                 "/api/v1/slots", "/api/v1/slots/{slot_id}", "/api/v1/slots/{slot_id}/cancel", "/api/v1/appointments",
                 "/api/v1/appointments/{appointment_id}", "/api/v1/appointments/{appointment_id}/cancel",
                 "/api/v1/appointments/{appointment_id}/check_in", "/api/v1/appointments/{appointment_id}/no_show",
                 "/api/v1/appointments/{appointment_id}/reschedule", "/api/v1/teams/{team_id}/day", "/api/v1/agenda",
                 "/api/v1/residents/{resident_id}/appointment-summary", "/api/v1/round-points/{point_id}",
                 "/api/v1/me/notification-preferences", "/api/v1/me/wechat-subscriptions", "/api/v1/messages",
                 "/api/v1/messages/stats", "/api/v1/webhooks/twilio/status", "/api/v1/webhooks/twilio/inbound"):
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["paths"]["/api/v1/residents"]["post"]["security"] == [{"bearerAuth": []}]
    error_schema = spec["components"]["schemas"]["ErrorBody"]["properties"]
    assert {"code", "message", "errors"} <= set(error_schema)
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"/api/swagger-ui/" in docs.data


def test_production_refuses_default_secrets(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(RuntimeError) as exc:
        create_app()
    assert "SECRET_KEY" in str(exc.value) and "PII_ENCRYPTION_KEY" in str(exc.value)
    monkeypatch.setenv("SECRET_KEY", DEV_SECRET_KEY)
    monkeypatch.setenv("JWT_SECRET_KEY", "j" * 40)
    monkeypatch.setenv("PII_ENCRYPTION_KEY", "p" * 40)
    with pytest.raises(RuntimeError, match="SECRET_KEY: still the development default"):
        create_app()
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    assert create_app().config["APP_ENV"] == "production"
    # Twilio in production needs its credentials, a sender and a public https address for callbacks.
    monkeypatch.setenv("SMS_BACKEND", "twilio")
    with pytest.raises(RuntimeError) as exc:
        create_app()
    assert all(name in str(exc.value) for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM",
                                                   "PUBLIC_BASE_URL"))
    for name, value in (("TWILIO_ACCOUNT_SID", "AC" + "1" * 32), ("TWILIO_AUTH_TOKEN", "t" * 32),
                        ("TWILIO_MESSAGING_SERVICE_SID", "MG" + "1" * 32), ("PUBLIC_BASE_URL", "https://fdoc.example.cn")):
        monkeypatch.setenv(name, value)
    assert create_app().config["SMS_BACKEND"] == "twilio"


def test_database_url_is_normalised_to_psycopg(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h:5432/d")
    assert create_app().config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h:5432/d"


def test_path_ids_are_ascii_digits_and_oversized_ones_are_the_routes_404(client, world):
    headers = login(client, "admin_all")
    r = client.get("/api/v1/contracts/１", headers=headers)  # a fullwidth digit is no id
    assert r.status_code == 404 and r.get_json()["code"] == "NOT_FOUND"
    for path in ("/api/v1/contracts/99999999999999999999", "/api/v1/slots/4294967296"):
        r = client.get(path, headers=headers)
        assert r.status_code == 404 and r.get_json()["code"] in ("CONTRACT_NOT_FOUND", "SLOT_NOT_FOUND"), path
    r = client.post("/api/v1/contracts/99999999999/accept", headers=headers)
    assert r.status_code == 404 and r.get_json()["code"] == "CONTRACT_NOT_FOUND"


def test_deep_json_is_400_and_long_urls_are_a_json_414(client, world):
    headers = login(client, "doctor_a")
    deep = "[" * 1000 + "]" * 1000
    r = client.post("/api/v1/residents", data=deep, content_type="application/json", headers=headers)
    assert r.status_code == 400 and r.get_json()["code"] == "MALFORMED_REQUEST" and "嵌套" in r.get_json()["message"]
    shallow = '{"name": [[[["x"]]]]}'
    r = client.post("/api/v1/residents", data=shallow, content_type="application/json", headers=headers)
    assert r.status_code == 422
    r = client.get("/api/v1/slots?team_id=1&x=" + "a" * 9000)
    assert r.status_code == 414 and r.is_json and r.get_json()["code"] == "URI_TOO_LONG"
    assert set(r.get_json()) == {"code", "message"}


def test_text_with_surrogates_or_control_characters_is_422_per_field(client, world):
    headers = login(client, "doctor_a")
    for name, expected in (("\ud800", "Unicode"), ("\x00\x00", "控制字符"), ("\u202e\u202d", "控制字符")):
        body = '{"name": "%s", "id_number": "11010519491231002X"}' % name.encode("unicode_escape").decode()
        body = body.replace("\\x", "\\u00")
        r = client.post("/api/v1/residents", data=body, content_type="application/json", headers=headers)
        assert r.status_code == 422, (name, r.get_json())
        assert expected in r.get_json()["errors"]["name"][0]
    assert db.session.scalar(select(func.count()).select_from(Resident)) == 0  # nothing half-written


def test_a_float_where_an_integer_is_documented_is_422(client, world):
    headers = login(client, "doctor_a")
    r = client.post("/api/v1/slots", json={"kind": "clinic", "starts_at": "2030-01-01T08:00:00+08:00",
                                           "ends_at": "2030-01-01T11:00:00+08:00", "capacity": 1.5}, headers=headers)
    assert r.status_code == 422 and "capacity" in r.get_json()["errors"]
    r = client.get("/api/v1/slots?team_id=1.0")
    assert r.status_code == 422 and "team_id" in r.get_json()["errors"]


def test_every_operation_documents_its_error_statuses_with_the_error_body(client):
    spec = client.get("/api/openapi.json").get_json()
    error = spec["components"]["schemas"]["ErrorBody"]
    assert set(error["properties"]) == {"code", "message", "errors", "details"}
    assert error["additionalProperties"] is False
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = op["responses"]
            assert "414" in responses, (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            if op.get("security"):
                assert {"401", "403"} <= set(responses), (method, path)
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    if "$ref" in response:
                        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorBody"}, (method, path, status)


def test_otp_with_a_body_that_is_not_an_object_is_4xx(client):
    for body in ("[null, null]", '"x"', "12", '{"phone": ["13800000000"]}', '{"phone": "\\ud800"}'):
        r = client.post("/api/v1/auth/otp", data=body, content_type="application/json")
        assert 400 <= r.status_code < 500 and r.is_json and "code" in r.get_json(), (body, r.status_code)
