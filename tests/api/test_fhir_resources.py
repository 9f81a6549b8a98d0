"""The FHIR R4 mappings (services/exports/fhir) on the demo county: every
resource parses with the R4 (4.0.1) models of fhir.resources, each Observation
has the LOINC code and UCUM unit of its reading, the diagnoses are the ICD-10
codes documented in codes.py, and the resources counted by type match the
database."""
from __future__ import annotations

import datetime as dt
import importlib
from collections import Counter

import pytest
from sqlalchemy import func, select

from services.contracts.lifecycle import ContractSettings
from services.core.db import db
from services.demo import seed as demo
from services.demo.contracts import seed_demo_contracts
from services.demo.followups import seed_demo_followups
from services.demo.history import seed_demo_history
from services.exports.fhir import codes
from services.exports.fhir import resources as fhir
from services.models import (
    Appointment,
    Contract,
    FollowUp,
    Institution,
    ProgramEnrolment,
    Resident,
    Slot,
    Staff,
    Team,
)
from services.residents.register import all_tags
from tests.factories import load_catalog

R4 = {"Patient": "patient", "Organization": "organization", "Practitioner": "practitioner",
      "PractitionerRole": "practitionerrole", "CareTeam": "careteam", "Condition": "condition",
      "EpisodeOfCare": "episodeofcare", "Encounter": "encounter", "Observation": "observation",
      "Schedule": "schedule", "Slot": "slot", "Appointment": "appointment", "Contract": "contract"}


def parse_r4(resource: dict):
    """The resource as the FHIR R4 model library reads it: raises on a wrong structure, cardinality,
    type or unknown element (value sets are not checked there: the tests below check the codes)."""
    kind = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.{R4[kind]}")
    model = getattr(module, kind)
    return model.parse_obj(resource)


@pytest.fixture
def county(app):
    demo.seed_demo(app.extensions["pii_cipher"])
    load_catalog()
    rules = app.extensions["followup_rules"]
    seed_demo_followups(rules)
    seed_demo_contracts(ContractSettings())
    seed_demo_history(rules)
    db.session.commit()
    return app


def _everything(app) -> list[dict]:
    cipher = app.extensions["pii_cipher"]
    today = dt.date(2026, 12, 1)
    out = []
    for r in db.session.scalars(select(Resident).order_by(Resident.id)):
        out.append(fhir.patient(r, cipher.decrypt(r.id_number_encrypted), all_tags(r, today)))
    out += [fhir.organization(i) for i in db.session.scalars(select(Institution))]
    for s in db.session.scalars(select(Staff)):
        out += [fhir.practitioner(s), fhir.practitioner_role(s)]
    for t in db.session.scalars(select(Team)):
        out.append(fhir.care_team(t, list(db.session.scalars(select(Staff).where(Staff.team_id == t.id)))))
    for e in db.session.scalars(select(ProgramEnrolment)):
        out += [fhir.condition(e), fhir.episode_of_care(e)]
    for v in db.session.scalars(select(FollowUp)):
        out += [fhir.encounter(v), *fhir.visit_observations(v)]
    schedules = {}
    for session in db.session.scalars(select(Slot)):
        out.append(fhir.slot(session))
        sched = fhir.schedule(session)
        schedules[sched["id"]] = sched
    out += list(schedules.values())
    for booking, session in db.session.execute(select(Appointment, Slot).join(Slot, Slot.id == Appointment.slot_id)):
        out.append(fhir.appointment(booking, session))
    for signing in db.session.scalars(select(Contract)):
        out.append(fhir.contract(signing, signing.entitlements, signing.packages))
    return out


def test_every_resource_of_the_demo_county_is_valid_r4_and_counts_match(county):
    resources = _everything(county)
    for resource in resources:
        parsed = parse_r4(resource)
        assert parsed.resource_type == resource["resourceType"]
    by_type = Counter(r["resourceType"] for r in resources)
    count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
    assert by_type["Patient"] == count(Resident) == 200
    assert by_type["Organization"] == count(Institution)
    assert by_type["Practitioner"] == by_type["PractitionerRole"] == count(Staff)
    assert by_type["CareTeam"] == count(Team)
    assert by_type["Condition"] == by_type["EpisodeOfCare"] == count(ProgramEnrolment)
    assert by_type["Encounter"] == count(FollowUp)
    assert by_type["Slot"] == count(Slot) and by_type["Appointment"] == count(Appointment) > 100
    assert by_type["Contract"] == count(Contract) > 80
    # every Slot's Schedule is among the Schedules, every Appointment's Slot among the Slots
    ids = {(r["resourceType"], r["id"]) for r in resources}
    assert all(("Schedule", r["schedule"]["reference"].split("/")[1]) in ids
               for r in resources if r["resourceType"] == "Slot")
    assert all(("Slot", r["slot"][0]["reference"].split("/")[1]) in ids
               for r in resources if r["resourceType"] == "Appointment")
    reached = db.session.scalar(select(func.count()).select_from(FollowUp).where(FollowUp.not_reached.is_(False)))
    with_bp = db.session.scalar(select(func.count()).select_from(FollowUp).where(FollowUp.sbp.is_not(None)))
    with_glucose = db.session.scalar(select(func.count()).select_from(FollowUp)
                                     .where(FollowUp.fasting_glucose.is_not(None)))
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    kinds = Counter(r["id"].split("-", 1)[1] for r in observations)
    assert kinds["bp"] == with_bp and kinds["fasting-glucose"] == with_glucose
    assert kinds["assessment"] == reached  # every reached visit is judged


def test_observation_codes_and_units(county):
    resources = _everything(county)
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    seen = set()
    for o in observations:
        kind = o["id"].split("-", 1)[1]
        coding = o["code"]["coding"][0]
        seen.add(kind)
        if kind == "bp":
            assert (coding["system"], coding["code"]) == (codes.LOINC, "85354-9")
            parts = {p["code"]["coding"][0]["code"]: p["valueQuantity"] for p in o["component"]}
            assert set(parts) == {"8480-6", "8462-4"}
            assert all((q["system"], q["code"]) == (codes.UCUM, "mm[Hg]") for q in parts.values())
            assert parts["8480-6"]["value"] > parts["8462-4"]["value"]
        elif kind == "fasting-glucose":
            assert (coding["code"], o["valueQuantity"]["code"], o["valueQuantity"]["system"]) == (
                "14771-0", "mmol/L", codes.UCUM)
            assert 2 < o["valueQuantity"]["value"] < 30
        elif kind == "heart-rate":
            assert (coding["code"], o["valueQuantity"]["code"]) == ("8867-4", "/min")
        elif kind == "weight-kg":
            assert (coding["code"], o["valueQuantity"]["code"]) == ("29463-7", "kg")
        elif kind == "assessment":
            assert coding["system"] == codes.ASSESSMENT_SYSTEM
            names = [p["code"]["coding"][0]["code"] for p in o["component"]]
            assert names[:2] == ["classification", "referral"]
            assert all(c["system"] == codes.REASON_SYSTEM for c in o["valueCodeableConcept"].get("coding", []))
        assert o["subject"]["reference"].startswith("Patient/")
        assert o["encounter"]["reference"].startswith("Encounter/")
    assert {"bp", "fasting-glucose", "assessment"} <= seen


def test_contracts_and_appointments(county):
    signing = db.session.scalar(select(Contract).where(Contract.status == "active", Contract.renewed_from_id.is_not(None)))
    resource = fhir.contract(signing, signing.entitlements, signing.packages)
    assert resource["status"] == "executed" and resource["subType"][0]["coding"][0]["code"] == "active"
    assert resource["applies"] == {"start": signing.starts_on.isoformat(), "end": signing.ends_on.isoformat()}
    assert resource["supportingInfo"] == [{"reference": f"Contract/{signing.renewed_from_id}"}]
    assets = [a for t in resource["term"] for a in t.get("asset", [])]
    assert len(assets) == len(signing.entitlements)
    assert sorted(a["valuedItem"][0]["points"] for a in assets) == sorted(e.used for e in signing.entitlements)
    expired = db.session.scalar(select(Contract).where(Contract.status == "expired"))
    assert fhir.contract(expired, expired.entitlements, expired.packages)["status"] == "terminated"
    booking, session = db.session.execute(select(Appointment, Slot).join(Slot, Slot.id == Appointment.slot_id)
                                          .where(Appointment.status == "no_show")).first()
    resource = fhir.appointment(booking, session)
    assert resource["status"] == "noshow" and resource["participant"][0]["actor"] == {
        "reference": f"Patient/{booking.resident_id}"}


def test_patient_identifier_diagnoses_and_hierarchy(county):
    cipher = county.extensions["pii_cipher"]
    r = db.session.scalar(select(Resident).where(Resident.phone.is_not(None)).order_by(Resident.id))
    p = fhir.patient(r, cipher.decrypt(r.id_number_encrypted), ["elderly"])
    official = next(i for i in p["identifier"] if i.get("use") == "official")
    assert official["system"] == codes.ID_NUMBER_SYSTEM and official["type"]["coding"][0]["code"] == "NI"
    assert len(official["value"]) == 18 and official["value"] == cipher.decrypt(r.id_number_encrypted)
    assert p["telecom"] == [{"system": "phone", "value": r.phone, "use": "mobile"}]
    assert p["meta"]["tag"][0]["code"] == "elderly"
    # left out when not given
    assert all(i.get("use") != "official" for i in fhir.patient(r, None, [])["identifier"])
    # ICD-10 per programme and disease
    icd = {(e.program, e.disease): fhir.condition(e)["code"]["coding"][0]["code"]
           for e in db.session.scalars(select(ProgramEnrolment))}
    assert {code for (program, _), code in icd.items() if program == "hypertension"} == {"I10"}
    assert {code for (program, _), code in icd.items() if program == "diabetes"} == {"E11"}
    assert {code for (program, disease), code in icd.items() if disease == "schizophrenia"} <= {"F20"}
    # villages' clinics are part of their township's centre
    clinic = db.session.scalar(select(Institution).where(Institution.type == "village_clinic"))
    assert fhir.organization(clinic)["partOf"] == {"reference": f"Organization/{clinic.parent_id}"}
