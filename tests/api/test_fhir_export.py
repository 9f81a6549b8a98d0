"""FHIR Bulk Data export on the demo county: kick-off, polling, the manifest,
every NDJSON line valid R4 and counted against the database, `_type`,
`_since`, an institution admin's subtree, one team (Group), cancelling,
expiry, an export picked up again after a restart, and who may not export."""
from __future__ import annotations

import datetime as dt
import json
import os
import time

import pytest
from sqlalchemy import func, select

from app.fhir_exports import bulk_settings, run_pending
from services.core import clock
from services.core.db import db
from services.exports.fhir import bulk
from services.models import FhirExport, FollowUp, Institution, Resident, Team
from tests.api.test_fhir_resources import county, parse_r4  # noqa: F401  (the demo county fixture)
from tests.factories import login

PREFER = {"Prefer": "respond-async"}


@pytest.fixture
def exports(county, tmp_path):  # noqa: F811
    county.config.update(FHIR_EXPORT_DIR=str(tmp_path / "fhir"), FHIR_EXPORT_THREAD=False)
    return county


def admin(client, username="demo_admin"):
    return login(client, username, "demo-password")


def kick(client, headers, path="/api/v1/fhir/$export", **query):
    resp = client.get(path, headers={**headers, **PREFER}, query_string=query)
    assert resp.status_code == 202, resp.get_json()
    location = resp.headers["Content-Location"]
    return location[location.index("/api/v1/"):]


def finish(client, headers, status_url, app):
    pending = client.get(status_url, headers=headers)
    assert pending.status_code == 202 and pending.headers["X-Progress"]
    run_pending(app)
    done = client.get(status_url, headers=headers)
    assert done.status_code == 200, done.get_json()
    return done.get_json()


def download(client, headers, manifest) -> dict[str, list[dict]]:
    files = {}
    for out in manifest["output"]:
        path = out["url"][out["url"].index("/api/v1/"):]
        resp = client.get(path, headers=headers)
        assert resp.status_code == 200 and resp.mimetype == "application/fhir+ndjson"
        lines = resp.get_data(as_text=True).splitlines()
        assert len(lines) == out["count"]
        files[out["type"]] = [json.loads(line) for line in lines]
    return files


def test_the_whole_county_exports_as_valid_r4(client, exports):
    headers = admin(client)
    status_url = kick(client, headers)
    manifest = finish(client, headers, status_url, exports)
    assert manifest["requiresAccessToken"] is True and manifest["request"].endswith("/api/v1/fhir/$export")
    assert dt.datetime.fromisoformat(manifest["transactionTime"])
    files = download(client, headers, manifest)
    for kind, resources in files.items():
        for resource in resources:
            assert resource["resourceType"] == kind
            parse_r4(resource)
    count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
    assert len(files["Patient"]) == count(Resident) == 200
    assert len(files["Organization"]) == count(Institution)
    assert len(files["Encounter"]) == count(FollowUp)
    assert {o["type"] for o in manifest["output"]} == set(bulk.RESOURCE_TYPES)
    # the export is audited with its scope
    from services.models import AuditLog

    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "fhir_export"))
    assert row.detail["types"] == list(bulk.RESOURCE_TYPES) and len(row.detail["institution_ids"]) == 7


def test_type_since_and_who_may_export(client, exports):
    headers = admin(client)
    # _type
    manifest = finish(client, headers, kick(client, headers, _type="Patient,Observation"), exports)
    assert [o["type"] for o in manifest["output"]] == ["Patient", "Observation"]
    # _since: only what changed after it (one resident edited now; everything else is older)
    later = clock.now() + dt.timedelta(days=2)
    with clock.freeze(later):
        resident = db.session.scalar(select(Resident).order_by(Resident.id.desc()))
        changed = client.patch(f"/api/v1/residents/{resident.id}", json={"address": "城关镇新街 8 号"},
                               headers=admin(client))
        assert changed.status_code == 200, changed.get_json()
        since = (later - dt.timedelta(days=1)).isoformat()
        headers = admin(client)
        manifest = finish(client, headers, kick(client, headers, _since=since), exports)
        files = download(client, headers, manifest)
        assert [o["type"] for o in manifest["output"]] == ["Patient"]
        assert [p["id"] for p in files["Patient"]] == [str(resident.id)]
    # errors: no Prefer, an unknown type, a doctor
    resp = client.get("/api/v1/fhir/$export", headers=admin(client))
    assert resp.status_code == 422 and resp.get_json()["code"] == "PREFER_RESPOND_ASYNC"
    resp = client.get("/api/v1/fhir/$export", headers={**admin(client), **PREFER}, query_string={"_type": "Bogus"})
    assert resp.status_code == 422 and resp.get_json()["code"] == "UNSUPPORTED_RESOURCE_TYPE"
    doctor = login(client, "demo_doctor", "demo-password")
    resp = client.get("/api/v1/fhir/$export", headers={**doctor, **PREFER})
    assert resp.status_code == 403 and resp.get_json()["code"] == "FORBIDDEN"
    assert db.session.scalar(select(func.count()).select_from(FhirExport)) == 2


def test_an_institution_admin_exports_their_subtree_and_a_team_its_panel(client, exports):
    headers = admin(client, "demo_thc1_admin")
    manifest = finish(client, headers, kick(client, headers, _type="Organization,Patient"), exports)
    files = download(client, headers, manifest)
    thc1 = db.session.scalar(select(Institution).where(Institution.code == "demo-thc-1"))
    subtree = {thc1.id} | set(db.session.scalars(select(Institution.id).where(Institution.parent_id == thc1.id)))
    assert {int(o["id"]) for o in files["Organization"]} == subtree
    assert {p["managingOrganization"]["reference"] for p in files["Patient"]} == {
        f"Organization/{i}" for i in subtree if db.session.scalar(
            select(func.count()).select_from(Resident).where(Resident.institution_id == i))}
    # the other township's team is out of this admin's scope; their own team exports its panel
    other = db.session.scalar(select(Team).where(Team.code == "demo-team-3"))
    resp = client.get(f"/api/v1/fhir/Group/{other.id}/$export", headers={**headers, **PREFER})
    assert resp.status_code == 404
    own = db.session.scalar(select(Team).where(Team.code == "demo-team-1"))
    manifest = finish(client, headers, kick(client, headers, f"/api/v1/fhir/Group/{own.id}/$export",
                                            _type="CareTeam,Encounter"), exports)
    files = download(client, headers, manifest)
    assert [t["id"] for t in files["CareTeam"]] == [str(own.id)]
    assert len(files["Encounter"]) == db.session.scalar(
        select(func.count()).select_from(FollowUp).where(FollowUp.team_id == own.id))
    # the community admin may read that export's status too; a doctor may not
    status = manifest["output"][0]["url"].rsplit("/", 1)[0]
    status = status[status.index("/api/v1/"):]
    assert client.get(status, headers=admin(client)).status_code == 200
    assert client.get(status, headers=login(client, "demo_doctor", "demo-password")).status_code == 404


def test_cancel_expire_and_resume_after_a_restart(client, exports):
    headers = admin(client)
    settings = bulk_settings(exports)
    # cancelled before it ran: nothing written, the status says so
    url = kick(client, headers, _type="Patient")
    assert client.delete(url, headers=headers).status_code == 202
    run_pending(exports)
    resp = client.get(url, headers=headers)
    assert resp.status_code == 409 and resp.get_json()["code"] == "EXPORT_CANCELLED"
    export_id = url.rsplit("/", 1)[1]
    assert not os.path.exists(os.path.join(settings.directory, export_id))
    # a web process stopped in the middle: the row says running with an old heartbeat; the scheduler's
    # job runs it again from the start
    url = kick(client, headers, _type="Organization")
    export_id = url.rsplit("/", 1)[1]
    row = db.session.get(FhirExport, export_id)
    row.status, row.heartbeat_at = "running", clock.now() - dt.timedelta(hours=1)
    db.session.commit()
    assert run_pending(exports) == 1
    manifest = client.get(url, headers=headers).get_json()
    assert manifest["output"][0]["count"] == 7
    # files expire (default 24 h) and go with the housekeeping
    assert bulk.expire_exports(settings, clock.now() + dt.timedelta(hours=25)) >= 1
    db.session.commit()
    assert not os.path.exists(os.path.join(settings.directory, export_id))
    assert client.get(url, headers=headers).status_code == 404


def test_the_export_runs_in_the_background_of_the_web_process(client, exports):
    exports.config["FHIR_EXPORT_THREAD"] = True
    headers = admin(client)
    url = kick(client, headers, _type="Organization,CareTeam")
    for _ in range(100):
        resp = client.get(url, headers=headers)
        if resp.status_code == 200:
            break
        assert resp.status_code == 202
        time.sleep(0.1)
    assert resp.status_code == 200, resp.get_json()
    assert [o["type"] for o in resp.get_json()["output"]] == ["Organization", "CareTeam"]


def test_cancelling_a_running_export_stops_it_and_leaves_no_files(client, exports, monkeypatch):
    headers = admin(client)
    settings = bulk_settings(exports)
    url = kick(client, headers, _type="Organization,Patient,Encounter")
    export_id = url.rsplit("/", 1)[1]
    real = bulk._beat

    def cancel_then_beat(eid, progress):  # the admin cancels while the first file is being written
        if "1/" in progress:
            assert client.delete(url, headers=headers).status_code == 202
        return real(eid, progress)

    monkeypatch.setattr(bulk, "_beat", cancel_then_beat)
    assert bulk.run_export(export_id, settings, exports.extensions["pii_cipher"]) == "cancelled"
    db.session.expire_all()
    assert db.session.get(FhirExport, export_id).status == "cancelled"
    assert not os.path.exists(os.path.join(settings.directory, export_id))
    assert client.get(url, headers=headers).get_json()["code"] == "EXPORT_CANCELLED"
