"""FHIR Bulk Data export (the Bulk Data Access IG's asynchronous pattern): a
kick-off records the export (`FhirExport`) and returns at once; a worker (a
thread of the web process, and the scheduler's `fhir_exports` job for anything
queued or left running by a restart) streams the records of the export's scope
through the pure mappings into one NDJSON file per resource type; polling shows
progress, then the manifest; DELETE cancels; files expire.

Scope: a medical-community admin exports everything, an institution admin
their subtree; `Group/{team}` exports one team's panel (the residents it looks
after and their records). Doctors may not export. `_since` keeps what was
created or changed after the instant (residents, enrolments, contracts and
appointments by their `updated_at`; everything else by `created_at`).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.orm import selectinload

from services.access.scope import Scope, resident_visible, visible_team
from services.core import audit, clock
from services.core.crypto import PiiCipher
from services.core.db import db
from services.core.errors import Forbidden, NotFound, ValidationFailed
from services.exports.fhir import resources as fhir
from services.models import (
    Appointment,
    Contract,
    FhirExport,
    FollowUp,
    Institution,
    ProgramEnrolment,
    Resident,
    Slot,
    Staff,
    Team,
)
from services.residents.register import all_tags

log = logging.getLogger(__name__)

RESOURCE_TYPES = ("Organization", "Practitioner", "PractitionerRole", "CareTeam", "Patient", "Condition",
                  "EpisodeOfCare", "Encounter", "Observation", "Schedule", "Slot", "Appointment", "Contract")
NDJSON = "application/fhir+ndjson"
CHUNK = 1000


@dataclass(frozen=True)
class BulkSettings:
    directory: str
    ttl_hours: int = 24
    stale_minutes: int = 10   # a running export with no heartbeat for this long is started again


class ExportNotFound(NotFound):
    code = "EXPORT_NOT_FOUND"
    message = "导出任务不存在或已过期"


# --- kick-off, status, cancel, files --------------------------------------------------------

def parse_types(raw: str | None) -> list[str]:
    if not raw:
        return list(RESOURCE_TYPES)
    types = [t.strip() for t in raw.split(",") if t.strip()]
    unknown = [t for t in types if t not in RESOURCE_TYPES]
    if unknown or not types:
        raise ValidationFailed.field("_type", f"不支持的资源类型：{'、'.join(unknown) or raw}；可选："
                                     + "、".join(RESOURCE_TYPES), code="UNSUPPORTED_RESOURCE_TYPE")
    return list(dict.fromkeys(types))


def authorise(scope: Scope, team_id: int | None) -> None:
    """Admins only (403 for anyone else); a team outside the admin's scope is 404."""
    if not scope.is_staff or scope.role != "admin":
        raise Forbidden("仅医共体或机构管理员可以导出数据", code="FORBIDDEN")
    if team_id is not None:
        visible_team(team_id, scope)


def kick_off(scope: Scope, *, types: list[str], since: dt.datetime | None, team_id: int | None, request_url: str,
             settings: BulkSettings) -> FhirExport:
    authorise(scope, team_id)
    now = clock.now()
    export = FhirExport(id=uuid.uuid4().hex, status="queued", requested_by_id=scope.actor_id,
                        community_id=scope.community_id, institution_ids=sorted(scope.institution_ids),
                        team_id=team_id, types=types, since=since, request_url=request_url[:1000],
                        transaction_time=now, progress="排队中", output=[], created_at=now,
                        expires_at=now + dt.timedelta(hours=settings.ttl_hours))
    db.session.add(export)
    audit.record(scope, "fhir_export", detail={"export_id": export.id, "types": types, "team_id": team_id,
                                               "since": since.isoformat() if since else None,
                                               "institution_ids": export.institution_ids})
    return export


def visible_export(scope: Scope, export_id: str) -> FhirExport:
    """An admin sees the exports of their own scope (the same institutions, or a part of them)."""
    export = db.session.get(FhirExport, export_id)
    if (export is None or not scope.is_staff or scope.role != "admin" or export.status == "expired"
            or not set(export.institution_ids) <= set(scope.institution_ids)):
        raise ExportNotFound()
    return export


def cancel(scope: Scope, export_id: str, settings: BulkSettings) -> None:
    export = visible_export(scope, export_id)
    if export.status in ("queued", "running", "done", "failed"):
        export.status = "cancelled"
        export.finished_at = clock.now()
    _remove_files(settings, export.id)
    audit.record(scope, "fhir_export_cancel", detail={"export_id": export.id})


def manifest(export: FhirExport, base_url: str) -> dict:
    return {"transactionTime": export.transaction_time.isoformat(), "request": export.request_url,
            "requiresAccessToken": True,
            "output": [{"type": o["type"], "url": f"{base_url}/{export.id}/{o['file']}", "count": o["count"]}
                       for o in export.output],
            "error": []}


def file_path(scope: Scope, export_id: str, name: str, settings: BulkSettings) -> str:
    export = visible_export(scope, export_id)
    if export.status != "done" or name not in {o["file"] for o in export.output}:
        raise ExportNotFound()
    path = os.path.join(settings.directory, export.id, name)
    if not os.path.exists(path):
        raise ExportNotFound()
    return path


def _remove_files(settings: BulkSettings, export_id: str) -> None:
    shutil.rmtree(os.path.join(settings.directory, export_id), ignore_errors=True)


def expire_exports(settings: BulkSettings, now: dt.datetime | None = None) -> int:
    """Housekeeping: exports past their expiry lose their files."""
    now = now or clock.now()
    gone = db.session.scalars(select(FhirExport).where(FhirExport.expires_at <= now,
                                                       FhirExport.status != "expired")).all()
    for export in gone:
        _remove_files(settings, export.id)
        export.status = "expired"
    return len(gone)


# --- the work ---------------------------------------------------------------------------------

def claim(export_id: str, settings: BulkSettings) -> bool:
    """Take the export to run: queued, or running with a heartbeat older than `stale_minutes`."""
    now = clock.now()
    stale = now - dt.timedelta(minutes=settings.stale_minutes)
    taken = db.session.execute(
        update(FhirExport).where(FhirExport.id == export_id, or_(
            FhirExport.status == "queued",
            (FhirExport.status == "running") & ((FhirExport.heartbeat_at.is_(None)) | (FhirExport.heartbeat_at < stale))))
        .values(status="running", started_at=now, heartbeat_at=now, progress="开始导出")
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return bool(taken)


def pending_exports(settings: BulkSettings) -> list[str]:
    stale = clock.now() - dt.timedelta(minutes=settings.stale_minutes)
    return list(db.session.scalars(select(FhirExport.id).where(or_(
        FhirExport.status == "queued",
        (FhirExport.status == "running") & (FhirExport.heartbeat_at < stale))).order_by(FhirExport.created_at)))


def run_export(export_id: str, settings: BulkSettings, cipher: PiiCipher) -> str:
    """Write the export's files (committing progress as it goes); its final status."""
    if not claim(export_id, settings):
        return "not claimed"
    export = db.session.get(FhirExport, export_id)
    folder = os.path.join(settings.directory, export.id)
    _remove_files(settings, export.id)
    os.makedirs(folder, exist_ok=True)
    source = _Source(export, cipher)
    output = []
    try:
        for i, kind in enumerate(t for t in RESOURCE_TYPES if t in export.types):
            name = f"{kind}.ndjson"
            count = 0
            with open(os.path.join(folder, name), "w", encoding="utf-8") as out:
                for resource in source.resources(kind):
                    out.write(json.dumps(resource, ensure_ascii=False, separators=(",", ":")))
                    out.write("\n")
                    count += 1
                    if count % CHUNK == 0 and not _beat(export_id, f"{kind}：已写 {count} 条"):
                        return _stopped(settings, export_id)
            if count:
                output.append({"type": kind, "count": count, "file": name})
            else:
                os.remove(os.path.join(folder, name))
            if not _beat(export_id, f"{i + 1}/{len(export.types)} 种资源已完成（{kind} {count} 条）"):
                return _stopped(settings, export_id)
        db.session.execute(update(FhirExport).where(FhirExport.id == export_id, FhirExport.status == "running")
                           .values(status="done", output=output, progress="完成", finished_at=clock.now())
                           .execution_options(synchronize_session=False))
        db.session.commit()
        return "done"
    except Exception as exc:  # noqa: BLE001 - recorded on the export, which the poller then reports
        db.session.rollback()
        log.exception("FHIR export %s failed", export_id)
        failed = db.session.execute(update(FhirExport).where(FhirExport.id == export_id,
                                                             FhirExport.status == "running")
                                    .values(status="failed", error=str(exc)[:500], finished_at=clock.now())
                                    .execution_options(synchronize_session=False)).rowcount
        db.session.commit()
        if not failed:  # cancelled meanwhile (its files went under the writer's feet)
            return _stopped(settings, export_id)
        return "failed"


def _stopped(settings: BulkSettings, export_id: str) -> str:
    """A cancelled export's worker stops; whatever it wrote after the cancel goes too."""
    _remove_files(settings, export_id)
    return "cancelled"


def _beat(export_id: str, progress: str) -> bool:
    """Record progress on a connection of its own (the export's session keeps reading); False when
    the export was cancelled meanwhile."""
    with db.engine.begin() as conn:
        return bool(conn.execute(update(FhirExport).where(FhirExport.id == export_id, FhirExport.status == "running")
                                 .values(progress=progress, heartbeat_at=clock.now())).rowcount)


class _Source:
    """The export's records, type by type, streamed in chunks."""

    def __init__(self, export: FhirExport, cipher: PiiCipher):
        self.export, self.cipher = export, cipher
        self.since = export.since
        self.until = export.transaction_time
        self.institutions = list(export.institution_ids)
        if export.team_id is not None:
            self.teams = [export.team_id]
        else:
            self.teams = list(db.session.scalars(select(Team.id).where(Team.institution_id.in_(self.institutions))))
        self.today = clock.today()

    def _changed(self, column):
        conds = [column <= self.until]
        if self.since is not None:
            conds.append(column > self.since)
        return conds

    def _chunks(self, model, *conds, join=None, load=()):
        """The rows in id order, CHUNK at a time (keyset: no cursor stays open, memory stays flat), with
        the relationships in `load` fetched per chunk (one query each, not one per row)."""
        last = None
        while True:
            stmt = select(model) if join is None else select(model, join[0]).join(*join)
            if load:
                stmt = stmt.options(*(selectinload(rel) for rel in load))
            stmt = stmt.where(*conds, *(() if last is None else (model.id > last,))).order_by(model.id).limit(CHUNK)
            rows = db.session.execute(stmt).all()
            if not rows:
                return
            yield from (r[0] if join is None else tuple(r) for r in rows)
            last = rows[-1][0].id
            db.session.expunge_all()

    def _residents(self):
        if self.export.team_id is None:
            return Resident.institution_id.in_(self.institutions)
        panel = Scope("staff", "doctor", 0, team_id=self.export.team_id)
        return or_(resident_visible(panel), Resident.id.in_(select(ProgramEnrolment.resident_id).where(
            ProgramEnrolment.team_id == self.export.team_id)))

    def resources(self, kind: str):
        yield from getattr(self, "_" + kind.lower())()

    def _organization(self):
        ids = self.institutions if self.export.team_id is None else [
            db.session.get(Team, self.export.team_id).institution_id]
        for inst in self._chunks(Institution, Institution.id.in_(ids), *self._changed(Institution.created_at)):
            yield fhir.organization(inst)

    def _staff(self):
        if self.export.team_id is not None:
            cond = Staff.team_id == self.export.team_id
        else:
            cond = or_(Staff.institution_id.in_(self.institutions), Staff.team_id.in_(self.teams))
        return self._chunks(Staff, cond, *self._changed(Staff.created_at))

    def _practitioner(self):
        for s in self._staff():
            yield fhir.practitioner(s)

    def _practitionerrole(self):
        for s in self._staff():
            yield fhir.practitioner_role(s)

    def _careteam(self):
        for team in self._chunks(Team, Team.id.in_(self.teams), *self._changed(Team.created_at)):
            members = list(db.session.scalars(select(Staff).where(Staff.team_id == team.id).order_by(Staff.id)))
            yield fhir.care_team(team, members)

    def _patient(self):
        for r in self._chunks(Resident, self._residents(), *self._changed(Resident.updated_at),
                              load=(Resident.tag_rows,)):
            yield fhir.patient(r, self.cipher.decrypt(r.id_number_encrypted), all_tags(r, self.today))

    def _enrolments(self):
        return self._chunks(ProgramEnrolment, ProgramEnrolment.team_id.in_(self.teams),
                            *self._changed(ProgramEnrolment.updated_at))

    def _condition(self):
        for e in self._enrolments():
            yield fhir.condition(e)

    def _episodeofcare(self):
        for e in self._enrolments():
            yield fhir.episode_of_care(e)

    def _visits(self):
        return self._chunks(FollowUp, FollowUp.team_id.in_(self.teams), *self._changed(FollowUp.created_at))

    def _encounter(self):
        for v in self._visits():
            yield fhir.encounter(v)

    def _observation(self):
        for v in self._visits():
            yield from fhir.visit_observations(v)

    def _slots(self):
        return self._chunks(Slot, Slot.team_id.in_(self.teams), *self._changed(Slot.created_at))

    def _schedule(self):
        seen = set()
        for s in self._slots():
            schedule = fhir.schedule(s)
            if schedule["id"] not in seen:
                seen.add(schedule["id"])
                yield schedule

    def _slot(self):
        for s in self._slots():
            yield fhir.slot(s)

    def _appointment(self):
        for booking, session in self._chunks(Appointment, Slot.team_id.in_(self.teams),
                                             *self._changed(Appointment.updated_at),
                                             join=(Slot, Slot.id == Appointment.slot_id)):
            yield fhir.appointment(booking, session)

    def _contract(self):
        for signing in self._chunks(Contract, Contract.team_id.in_(self.teams), *self._changed(Contract.updated_at),
                                    load=(Contract.entitlements, Contract.packages, Contract.team)):
            yield fhir.contract(signing, signing.entitlements, signing.packages)
