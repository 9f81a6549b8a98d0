"""One pure function per FHIR R4 resource: plain values in (the ORM rows, already
loaded, and what must be given separately such as the decrypted ID number),
a JSON-ready dict out. No database access, so an export can stream rows through
them. Codes and systems: `codes.py`."""
from __future__ import annotations

import datetime as dt

from services.exports.fhir import codes as c
from services.models.org import INSTITUTION_TYPE_LABELS
from services.models.resident import TAG_LABELS

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
                              "display": INSTITUTION_TYPE_LABELS.get(institution.type, institution.type)}]}],
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


# --- appointments ------------------------------------------------------------------------

SLOT_KIND_LABELS = {"clinic": "门诊", "home_visit": "上门服务", "round": "巡诊"}
APPOINTMENT_STATUS = {"booked": "booked", "cancelled": "cancelled", "checked_in": "arrived", "no_show": "noshow"}


def schedule(slot) -> dict:
    """A session's calendar: one Schedule per team member (or the whole team) and kind of session."""
    actor = ref("Practitioner", slot.staff_id) if slot.staff_id else ref("CareTeam", slot.team_id)
    return _drop_empty({
        "resourceType": "Schedule", "id": f"team-{slot.team_id}-{slot.staff_id or 'all'}-{slot.kind}",
        "active": True,
        "serviceType": [{"coding": [{"system": c.SLOT_KIND_SYSTEM, "code": slot.kind,
                                     "display": SLOT_KIND_LABELS.get(slot.kind)}]}],
        "actor": [actor],
    })


def slot(session) -> dict:
    """出诊时段 → Slot on its Schedule: busy when full or cancelled, else free."""
    full = session.booked >= session.capacity
    status = "busy-unavailable" if session.status == "cancelled" else ("busy" if full else "free")
    return _drop_empty({
        "resourceType": "Slot", "id": str(session.id),
        "schedule": ref("Schedule", schedule(session)["id"]),
        "serviceType": [{"coding": [{"system": c.SLOT_KIND_SYSTEM, "code": session.kind}]}],
        "status": status,
        "start": _instant(session.starts_at), "end": _instant(session.ends_at),
        "overbooked": False,
        "comment": f"容量 {session.capacity}，已约 {session.booked}",
    })


def appointment(booking, session) -> dict:
    """预约 → Appointment in its Slot, the resident and (if named) the doctor as participants."""
    participants = [{"actor": ref("Patient", booking.resident_id), "status": "accepted"}]
    if session.staff_id:
        participants.append({"actor": ref("Practitioner", session.staff_id), "status": "accepted"})
    return _drop_empty({
        "resourceType": "Appointment", "id": str(booking.id),
        "status": APPOINTMENT_STATUS.get(booking.status, "booked"),
        "serviceType": [{"coding": [{"system": c.SLOT_KIND_SYSTEM, "code": session.kind,
                                     "display": SLOT_KIND_LABELS.get(session.kind)}]}],
        "description": booking.reason,
        "start": _instant(session.starts_at), "end": _instant(session.ends_at),
        "slot": [ref("Slot", session.id)],
        "created": _instant(booking.created_at),
        "participant": participants,
        "cancelationReason": {"text": booking.reason} if booking.status == "cancelled" and booking.reason else None,
    })


# --- contracts ---------------------------------------------------------------------------

CONTRACT_STATUS = {"pending": "offered", "awaiting_payment": "offered", "scheduled": "executed", "active": "executed",
                   "expired": "terminated", "terminated": "revoked", "rejected": "rejected"}


def contract(signing, entitlements, packages) -> dict:
    """签约 → Contract (trial-use in R4). What goes where: status mapped to the R4 contract-status
    codes (CONTRACT_STATUS; our own status kept in `subType`); the resident as `subject`, the team as
    the second signer; the term as `applies`; each service package as a `term` with its offer, and
    each entitlement (promised, used) as an `asset` of that term; the self-pay and each funder's
    share in fen as `valuedItem`s of the package's asset."""
    # An item two packages both promise was merged into one entitlement: it is listed once, under
    # the first package that brings it (its text names them all).
    by_package: dict[str | None, list] = {}
    for e in entitlements:
        by_package.setdefault((e.package_codes or [None])[0], []).append(e)
    terms = []
    for p in packages:
        items = by_package.get(p.code, [])
        terms.append({
            "identifier": {"system": c.PACKAGE_SYSTEM, "value": f"{p.code}@{p.version}"},
            "type": {"coding": [{"system": c.PACKAGE_SYSTEM, "code": p.code, "display": p.name}]},
            "offer": {"text": p.name},
            "asset": [{
                "typeReference": [{"display": e.name}],
                "text": f"{e.item_code}: 承诺 {e.promised} 次，已提供 {e.used} 次（服务包 {'、'.join(e.package_codes or [])}）",
                "valuedItem": [{"entityCodeableConcept": {"coding": [{"system": c.SERVICE_ITEM_SYSTEM,
                                                                       "code": e.item_code}]},
                                "quantity": {"value": e.promised}, "points": e.used,
                                "unitPrice": {"value": e.unit_value_fen / 100, "currency": "CNY"}}],
            } for e in items] or None,
        })
    return _drop_empty({
        "resourceType": "Contract", "id": str(signing.id),
        "identifier": [{"system": c.sid("contract"), "value": str(signing.id)}],
        "status": CONTRACT_STATUS.get(signing.status, "offered"),
        "type": {"coding": [{"system": c.PACKAGE_SYSTEM, "code": "family-doctor-contract",
                             "display": "家庭医生签约服务"}]},
        "subType": [{"coding": [{"system": c.CONTRACT_STATUS_SYSTEM, "code": signing.status}]}],
        "issued": _instant(signing.created_at),
        "applies": {"start": signing.starts_on.isoformat() if signing.starts_on else None,
                    "end": signing.ends_on.isoformat() if signing.ends_on else None},
        "subject": [ref("Patient", signing.resident_id)],
        "authority": [ref("Organization", signing.team.institution_id)] if getattr(signing, "team", None) else None,
        "signer": [{"type": {"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1",
                             "display": "Author's Signature"}, "party": ref("Patient", signing.resident_id),
                    "signature": [{"type": [{"system": "urn:iso-astm:E1762-95:2013",
                                             "code": "1.2.840.10065.1.12.1.1"}],
                                   "when": _instant(signing.created_at), "who": ref("Patient", signing.resident_id)}]},
                   {"type": {"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.7",
                             "display": "Consent Signature"}, "party": ref("CareTeam", signing.team_id),
                    "signature": [{"type": [{"system": "urn:iso-astm:E1762-95:2013",
                                             "code": "1.2.840.10065.1.12.1.7"}],
                                   "when": _instant(signing.paid_at or signing.created_at),
                                   "who": ref("CareTeam", signing.team_id)}]}],
        "term": terms or None,
        "relevantHistory": None,
        "supportingInfo": [ref("Contract", signing.renewed_from_id)] if signing.renewed_from_id else None,
    })
