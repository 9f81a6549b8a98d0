"""One pure function per FHIR R4 resource: plain values in (the ORM rows, already
loaded, and what must be given separately such as the decrypted ID number),
a JSON-ready dict out. No database access, so an export can stream rows through
them. Codes and systems: `codes.py`."""
from __future__ import annotations

import datetime as dt

from services.exports.fhir import codes as c
from services.models.resident import TAG_LABELS

ORG_TYPES = {"county_hospital": "县级医院", "township_health_center": "乡镇卫生院", "village_clinic": "村卫生室",
             "community_health_center": "社区卫生服务中心"}
PROGRAM_LABELS = {"hypertension": "高血压患者健康管理", "diabetes": "2型糖尿病患者健康管理",
                  "mental_disorder": "严重精神障碍患者管理"}
ENROLMENT_STATUS = {"active": "active", "moved_out": "finished", "deceased": "finished", "lost": "finished"}
VISIT_CLASS = {"clinic": ("AMB", "ambulatory"), "home": ("HH", "home health"), "phone": ("VR", "virtual")}


def ref(resource_type: str, rid: int | str) -> dict:
    return {"reference": f"{resource_type}/{rid}"}


def _instant(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.isoformat()


def _drop_empty(d: dict) -> dict:
    """FHIR forbids empty values: drop None, empty strings, lists and dicts (recursively)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = _drop_empty(v)
        elif isinstance(v, list):
            v = [_drop_empty(x) if isinstance(x, dict) else x for x in v]
            v = [x for x in v if x not in (None, "", {}, [])]
        if v not in (None, "", {}, []):
            out[k] = v
    return out


def _meta(updated: dt.datetime | None, tags: list[dict] | None = None) -> dict:
    return {"lastUpdated": _instant(updated), "tag": tags or None}


# --- people and places ----------------------------------------------------------------

def patient(resident, id_number: str | None, tags: list[str], *, id_number_system: str = c.ID_NUMBER_SYSTEM) -> dict:
    """居民 → Patient. `id_number` is the decrypted ID number (None to leave it out); `tags` are the
    resident's key-population codes (recorded and derived), carried as meta.tag."""
    return _drop_empty({
        "resourceType": "Patient", "id": str(resident.id),
        "meta": _meta(getattr(resident, "updated_at", None),
                      [{"system": c.TAG_SYSTEM, "code": t, "display": TAG_LABELS.get(t, t)} for t in tags]),
        "identifier": [
            {"use": "secondary", "system": c.sid("resident"), "value": str(resident.id)},
            {"use": "official", "type": {"coding": [{"system": c.V2_0203, "code": "NI"}], "text": "居民身份证号"},
             "system": id_number_system, "value": id_number} if id_number else None,
        ],
        "active": True,
        "name": [{"use": "official", "text": resident.name}],
        "telecom": [{"system": "phone", "value": resident.phone, "use": "mobile"}] if resident.phone else None,
        "gender": {"male": "male", "female": "female"}.get(resident.sex, "unknown"),
        "birthDate": resident.birth_date.isoformat() if resident.birth_date else None,
        "address": [{"use": "home", "text": resident.address,
                     "line": [resident.village] if resident.village else None}]
        if (resident.address or resident.village) else None,
        "managingOrganization": ref("Organization", resident.institution_id),
    })


def organization(institution) -> dict:
    """机构 → Organization, with partOf its parent institution."""
    return _drop_empty({
        "resourceType": "Organization", "id": str(institution.id),
        "identifier": [{"system": c.sid("institution"), "value": institution.code}],
        "active": True,
        "type": [{"coding": [{"system": c.ORG_TYPE_SYSTEM, "code": institution.type,
                              "display": ORG_TYPES.get(institution.type, institution.type)}]}],
        "name": institution.name,
        "partOf": ref("Organization", institution.parent_id) if institution.parent_id else None,
    })


def practitioner(staff) -> dict:
    """工作人员 → Practitioner (no login details)."""
    return _drop_empty({
        "resourceType": "Practitioner", "id": str(staff.id),
        "identifier": [{"system": c.sid("staff"), "value": str(staff.id)}],
        "active": bool(staff.active),
        "name": [{"use": "official", "text": staff.name}],
    })


def practitioner_role(staff, team_role_label: str | None = None) -> dict:
    """A staff member's place: their institution, and their role in a family-doctor team."""
    return _drop_empty({
        "resourceType": "PractitionerRole", "id": f"staff-{staff.id}",
        "active": bool(staff.active),
        "practitioner": ref("Practitioner", staff.id),
        "organization": ref("Organization", staff.institution_id) if staff.institution_id else None,
        "code": [{"coding": [{"system": c.TEAM_ROLE_SYSTEM, "code": staff.team_role,
                              "display": team_role_label}]}] if staff.team_role else None,
    })


def care_team(team, members) -> dict:
    """家庭医生团队 → CareTeam, members as participants with their team role."""
    return _drop_empty({
        "resourceType": "CareTeam", "id": str(team.id),
        "identifier": [{"system": c.sid("team"), "value": team.code}],
        "status": "active",
        "name": team.name,
        "managingOrganization": [ref("Organization", team.institution_id)],
        "participant": [{
            "role": [{"coding": [{"system": c.TEAM_ROLE_SYSTEM, "code": m.team_role}]}] if m.team_role else None,
            "member": ref("Practitioner", m.id)} for m in members],
        "telecom": [{"system": "phone", "value": team.phone}] if getattr(team, "phone", None) else None,
    })


# --- chronic-disease management --------------------------------------------------------

def _diagnosis_code(enrolment) -> tuple[str, str]:
    key = enrolment.disease if enrolment.program == "mental_disorder" and enrolment.disease else enrolment.program
    return c.DIAGNOSES[key]


def condition(enrolment) -> dict:
    """The diagnosis an enrolment is for, ICD-10 coded (codes.DIAGNOSES)."""
    code, display = _diagnosis_code(enrolment)
    return _drop_empty({
        "resourceType": "Condition", "id": f"enrolment-{enrolment.id}",
        "clinicalStatus": {"coding": [{"system": c.CONDITION_CLINICAL, "code": "active"}]},
        "category": [{"coding": [{"system": c.CONDITION_CATEGORY, "code": "problem-list-item"}]}],
        "code": {"coding": [{"system": c.ICD10, "code": code, "display": display}]},
        "subject": ref("Patient", enrolment.resident_id),
        "onsetDateTime": enrolment.diagnosed_on.isoformat() if enrolment.diagnosed_on else None,
        "recordedDate": enrolment.enrolled_on.isoformat(),
    })


def episode_of_care(enrolment) -> dict:
    """纳入慢病管理 → EpisodeOfCare of the team, for its Condition; finished when the patient left."""
    left = enrolment.status_changed_on if enrolment.status != "active" else None
    return _drop_empty({
        "resourceType": "EpisodeOfCare", "id": str(enrolment.id),
        "identifier": [{"system": c.sid("enrolment"), "value": str(enrolment.id)}],
        "status": ENROLMENT_STATUS.get(enrolment.status, "active"),
        "type": [{"coding": [{"system": c.PROGRAM_SYSTEM, "code": enrolment.program,
                              "display": PROGRAM_LABELS.get(enrolment.program)}]}],
        "diagnosis": [{"condition": ref("Condition", f"enrolment-{enrolment.id}")}],
        "patient": ref("Patient", enrolment.resident_id),
        "team": [ref("CareTeam", enrolment.team_id)],
        "period": {"start": enrolment.enrolled_on.isoformat(), "end": left.isoformat() if left else None},
    })


def encounter(visit) -> dict:
    """随访 → Encounter of the enrolment's episode (clinic, home or phone)."""
    code, display = VISIT_CLASS.get(visit.visit_mode, ("AMB", "ambulatory"))
    return _drop_empty({
        "resourceType": "Encounter", "id": str(visit.id),
        "identifier": [{"system": c.sid("followup"), "value": str(visit.id)}],
        "status": "finished",
        "class": {"system": c.ACT_CODE, "code": code, "display": display},
        "type": [{"coding": [{"system": c.PROGRAM_SYSTEM, "code": visit.program}], "text": "慢病随访"}],
        "subject": ref("Patient", visit.resident_id),
        "episodeOfCare": [ref("EpisodeOfCare", visit.enrolment_id)],
        "participant": [{"individual": ref("Practitioner", visit.recorded_by_id)}],
        "period": {"start": visit.visit_date.isoformat(), "end": visit.visit_date.isoformat()},
        "reasonReference": [ref("Condition", f"enrolment-{visit.enrolment_id}")],
    })


def _observation(visit, suffix: str, code: dict, category: str, **value) -> dict:
    return _drop_empty({
        "resourceType": "Observation", "id": f"{visit.id}-{suffix}",
        "status": "final",
        "category": [{"coding": [{"system": c.OBSERVATION_CATEGORY, "code": category}]}],
        "code": code,
        "subject": ref("Patient", visit.resident_id),
        "encounter": ref("Encounter", visit.id),
        "effectiveDateTime": visit.visit_date.isoformat(),
        "performer": [ref("Practitioner", visit.recorded_by_id)],
        **value,
    })


def _quantity(value: float, unit_code: str, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": c.UCUM, "code": unit_code}


def visit_observations(visit) -> list[dict]:
    """The readings of a visit (LOINC, UCUM) and its assessment, as Observations."""
    if visit.not_reached:
        return []
    out = []
    if visit.sbp is not None and visit.dbp is not None:
        out.append(_observation(
            visit, "bp", {"coding": [{"system": c.LOINC, "code": c.BP_PANEL[0], "display": c.BP_PANEL[1]}],
                          "text": "血压"}, "vital-signs",
            component=[
                {"code": {"coding": [{"system": c.LOINC, "code": c.SYSTOLIC[0], "display": c.SYSTOLIC[1]}]},
                 "valueQuantity": _quantity(visit.sbp, c.MM_HG, "mmHg")},
                {"code": {"coding": [{"system": c.LOINC, "code": c.DIASTOLIC[0], "display": c.DIASTOLIC[1]}]},
                 "valueQuantity": _quantity(visit.dbp, c.MM_HG, "mmHg")}]))
    for field, (code, display, unit_code, unit) in c.READINGS.items():
        value = getattr(visit, field, None)
        if value is None:
            continue
        category = "laboratory" if field == "fasting_glucose" else "vital-signs"
        out.append(_observation(visit, field.replace("_", "-"),
                                {"coding": [{"system": c.LOINC, "code": code, "display": display}]}, category,
                                valueQuantity=_quantity(value, unit_code, unit)))
    if visit.classification:
        components = [{"code": {"coding": [{"system": c.ASSESSMENT_SYSTEM, "code": "classification"}]},
                       "valueCodeableConcept": {"coding": [{"system": c.ASSESSMENT_SYSTEM,
                                                            "code": visit.classification}]}},
                      {"code": {"coding": [{"system": c.ASSESSMENT_SYSTEM, "code": "referral"}]},
                       "valueCodeableConcept": {"coding": [{"system": c.ASSESSMENT_SYSTEM,
                                                            "code": f"referral-{visit.referral}"}]}}]
        if visit.at_target is not None:
            components.append({"code": {"coding": [{"system": c.ASSESSMENT_SYSTEM, "code": "at-target"}]},
                               "valueBoolean": bool(visit.at_target)})
        out.append(_observation(
            visit, "assessment", {"coding": [{"system": c.ASSESSMENT_SYSTEM, "code": "followup-assessment",
                                              "display": "随访评估"}]}, "exam",
            valueCodeableConcept={"coding": [{"system": c.REASON_SYSTEM, "code": r} for r in visit.reasons or []],
                                  "text": visit.classification},
            component=components,
            note=[{"text": f"rules {visit.rules_version}"}] if visit.rules_version else None))
    return out
