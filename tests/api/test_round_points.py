"""Round points (巡诊点): admin maintenance within scope, the public list with
upcoming round sessions, residents assigned to a point and the worklist filter."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from services.core import clock
from services.core.db import db
from services.models import Resident, RoundPoint
from tests.factories import login, make_resident


@pytest.fixture
def clinic(world, frozen_clock):
    return world


def round_session(client, headers, point_id, day, **extra):
    return client.post("/api/v1/slots", headers=headers, json={
        "kind": "round", "round_point_id": point_id, "starts_at": f"{day}T09:00:00+08:00",
        "ends_at": f"{day}T11:00:00+08:00", "capacity": 20, **extra})


def test_admin_creates_updates_and_retires_round_points(client, clinic):
    admin = login(client, "admin_a")
    resp = client.post("/api/v1/round-points", headers=admin,
                       json={"name": "南村巡诊点", "village": "南村", "address": "南村村委会"})
    assert resp.status_code == 201, resp.get_json()
    point = resp.get_json()
    assert (point["institution_id"], point["name"], point["village"], point["schedule"]) == (
        clinic.thc_a.id, "南村巡诊点", "南村", [])
    dup = client.post("/api/v1/round-points", headers=admin, json={"name": "南村巡诊点", "village": "南村"})
    assert dup.status_code == 409 and dup.get_json()["code"] == "ROUND_POINT_EXISTS"
    outside = client.post("/api/v1/round-points", headers=admin,
                          json={"name": "西村", "village": "西村", "institution_id": clinic.thc_b.id})
    assert outside.status_code == 422 and outside.get_json()["errors"] == {
        "institution_id": ["机构不存在或不在您的管辖范围内"]}
    patched = client.patch(f"/api/v1/round-points/{point['id']}", headers=admin, json={"address": "南村文化广场"})
    assert patched.status_code == 200 and patched.get_json()["address"] == "南村文化广场"
    assert db.session.get(RoundPoint, point["id"]).address == "南村文化广场"
    doctor = client.post("/api/v1/round-points", headers=login(client, "doctor_a"), json={"name": "x", "village": "x"})
    assert doctor.status_code == 403 and doctor.get_json()["code"] == "FORBIDDEN"
    # Retiring hides it; a point with upcoming round sessions cannot be retired.
    round_session(client, login(client, "doctor_a"), point["id"], "2026-03-04")
    busy = client.delete(f"/api/v1/round-points/{point['id']}", headers=admin)
    assert busy.status_code == 409 and busy.get_json()["code"] == "ROUND_POINT_IN_USE"
    clock.advance(dt.timedelta(days=3))
    assert client.delete(f"/api/v1/round-points/{point['id']}", headers=admin).status_code == 204
    assert db.session.get(RoundPoint, point["id"]).active is False
    listed = client.get("/api/v1/round-points").get_json()["items"]
    assert point["id"] not in [p["id"] for p in listed]
    gone = client.get(f"/api/v1/round-points/{point['id']}")
    assert gone.status_code == 404 and gone.get_json()["code"] == "ROUND_POINT_NOT_FOUND"


def test_admin_of_another_township_gets_404(client, clinic, app):
    from tests.factories import make_staff

    make_staff("admin_b", "admin", clinic.community, institution=clinic.thc_b)
    db.session.commit()
    point = db.session.scalar(select(RoundPoint))
    admin_b = login(client, "admin_b")
    resp = client.patch(f"/api/v1/round-points/{point.id}", headers=admin_b, json={"name": "改名"})
    assert resp.status_code == 404 and resp.get_json()["code"] == "ROUND_POINT_NOT_FOUND"
    resp = client.delete(f"/api/v1/round-points/{point.id}", headers=admin_b)
    assert resp.status_code == 404 and resp.get_json()["code"] == "ROUND_POINT_NOT_FOUND"
    assert db.session.get(RoundPoint, point.id).name == "东村巡诊点"
    assert db.session.get(RoundPoint, point.id).active is True


def test_round_points_list_upcoming_round_sessions(client, clinic):
    point = db.session.scalar(select(RoundPoint))
    doctor = login(client, "doctor_a")
    tomorrow = round_session(client, doctor, point.id, "2026-03-03").get_json()
    in_ten_days = round_session(client, doctor, point.id, "2026-03-12").get_json()
    round_session(client, doctor, point.id, "2026-04-20")  # beyond the 14-day window
    cancelled = round_session(client, doctor, point.id, "2026-03-05").get_json()
    client.post(f"/api/v1/slots/{cancelled['id']}/cancel", json={"reason": "下雨"}, headers=doctor)
    body = client.get("/api/v1/round-points").get_json()
    item = next(p for p in body["items"] if p["id"] == point.id)
    assert [s["slot_id"] for s in item["schedule"]] == [tomorrow["id"], in_ten_days["id"]]
    first = item["schedule"][0]
    assert (first["starts_at"], first["team"]["id"], first["remaining"]) == (
        "2026-03-03T09:00:00+08:00", clinic.team_a.id, 20)
    single = client.get(f"/api/v1/round-points/{point.id}").get_json()
    assert [s["slot_id"] for s in single["schedule"]] == [tomorrow["id"], in_ten_days["id"]]


def test_residents_are_assigned_to_a_round_point_and_the_worklist_filters_by_it(client, clinic):
    point = db.session.scalar(select(RoundPoint))
    doctor = login(client, "doctor_a")
    near, far = make_resident(clinic.thc_a, birth=dt.date(1950, 1, 1)), make_resident(clinic.thc_a, birth=dt.date(1951, 1, 1))
    resp = client.patch(f"/api/v1/residents/{near.id}", headers=doctor, json={"round_point_id": point.id})
    assert resp.status_code == 200 and resp.get_json()["round_point_id"] == point.id
    assert db.session.get(Resident, near.id).round_point_id == point.id
    bad = client.patch(f"/api/v1/residents/{far.id}", headers=doctor, json={"round_point_id": 9999})
    assert bad.status_code == 422 and "round_point_id" in bad.get_json()["errors"]
    for r in (near, far):
        assert client.post(f"/api/v1/residents/{r.id}/programs", headers=doctor,
                           json={"program": "hypertension", "enrolled_on": "2026-02-01"}).status_code == 201
    everyone = client.get("/api/v1/worklist", headers=doctor).get_json()["items"]
    at_point = client.get("/api/v1/worklist", headers=doctor, query_string={"round_point_id": point.id}).get_json()
    assert {i["resident"]["id"] for i in everyone} == {near.id, far.id}
    assert [i["resident"]["id"] for i in at_point["items"]] == [near.id]
