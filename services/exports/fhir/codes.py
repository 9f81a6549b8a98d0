"""The code systems the FHIR mappings use, in one place.

- Identifiers: our own record ids as `{BASE}/sid/<kind>`; the resident ID number
  (居民身份证号) as `ID_NUMBER_SYSTEM`, typed with v2-0203 `NI` (national unique
  individual identifier). The default system is our own URI; a county platform
  that expects another (an OID of its standards) passes it to `patient()`.
- Diagnoses: ICD-10 (`http://hl7.org/fhir/sid/icd-10`): hypertension I10
  (essential (primary) hypertension), type 2 diabetes E11, and the six severe
  mental disorders of the national standard: schizophrenia F20, schizoaffective
  disorder F25, paranoid psychosis (persistent delusional disorder) F22, bipolar
  affective disorder F31, mental disorder due to epilepsy F06 (organic mental
  disorder; the epilepsy itself is G40), mental disorder with intellectual
  disability F79 (unspecified intellectual disability; F70-F78 when the degree is
  known, which the register does not hold).
- Readings: LOINC with UCUM units — blood pressure panel 85354-9 with systolic
  8480-6 and diastolic 8462-4 in mm[Hg]; heart rate 8867-4 in /min; body weight
  29463-7 in kg; body temperature 8310-5 in Cel; fasting glucose 14771-0
  ("Fasting glucose [Moles/volume] in Serum or Plasma", mmol/L: the molar
  code, since the register holds mmol/L; 1558-6 is the mass code in mg/dL).
- The assessment (our own judgement of a visit) is an Observation coded in a
  code system we mint, `{BASE}/CodeSystem/followup-assessment`, with components
  `classification`, `referral` and `at-target`, and the reasons as
  `{BASE}/CodeSystem/followup-reason` codings (the rule codes of
  services/followup/judgement, e.g. CONTROLLED, ELDERLY_TARGET_150).
- Key-population tags as `meta.tag` in `{BASE}/CodeSystem/population-tag`.
- Team roles as `{BASE}/CodeSystem/team-role` (doctor, nurse, public_health,
  village_doctor); session kinds (clinic, home_visit, round) as
  `{BASE}/CodeSystem/session-kind`; service packages (`code@version`) and their
  items as `{BASE}/CodeSystem/service-package` / `service-item`; our contract
  statuses as `{BASE}/CodeSystem/contract-status`, next to the R4 contract-status
  code they map to (resources.CONTRACT_STATUS).
"""
from __future__ import annotations

BASE = "https://fdoc.example.cn/fhir"
ID_NUMBER_SYSTEM = f"{BASE}/sid/cn-resident-identity-card"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ASSESSMENT_SYSTEM = f"{BASE}/CodeSystem/followup-assessment"
REASON_SYSTEM = f"{BASE}/CodeSystem/followup-reason"
TAG_SYSTEM = f"{BASE}/CodeSystem/population-tag"
TEAM_ROLE_SYSTEM = f"{BASE}/CodeSystem/team-role"
PROGRAM_SYSTEM = f"{BASE}/CodeSystem/chronic-program"
ORG_TYPE_SYSTEM = f"{BASE}/CodeSystem/institution-type"
SLOT_KIND_SYSTEM = f"{BASE}/CodeSystem/session-kind"
PACKAGE_SYSTEM = f"{BASE}/CodeSystem/service-package"
SERVICE_ITEM_SYSTEM = f"{BASE}/CodeSystem/service-item"
CONTRACT_STATUS_SYSTEM = f"{BASE}/CodeSystem/contract-status"


def sid(kind: str) -> str:
    """The identifier system of our own ids of one kind (resident, institution, staff, team...)."""
    return f"{BASE}/sid/{kind}"


# program (and mental disease) -> (ICD-10 code, display)
DIAGNOSES = {
    "hypertension": ("I10", "Essential (primary) hypertension"),
    "diabetes": ("E11", "Type 2 diabetes mellitus"),
    "schizophrenia": ("F20", "Schizophrenia"),
    "schizoaffective_disorder": ("F25", "Schizoaffective disorders"),
    "paranoid_psychosis": ("F22", "Persistent delusional disorders"),
    "bipolar_disorder": ("F31", "Bipolar affective disorder"),
    "epilepsy_mental_disorder": ("F06", "Other mental disorders due to brain damage and dysfunction and to "
                                         "physical disease"),
    "intellectual_disability_mental_disorder": ("F79", "Unspecified mental retardation"),
}

# reading -> (LOINC code, display, UCUM unit code, unit shown)
READINGS = {
    "heart_rate": ("8867-4", "Heart rate", "/min", "次/分"),
    "weight_kg": ("29463-7", "Body weight", "kg", "kg"),
    "temperature": ("8310-5", "Body temperature", "Cel", "℃"),
    "fasting_glucose": ("14771-0", "Fasting glucose [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L"),
}
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = ("8480-6", "Systolic blood pressure")
DIASTOLIC = ("8462-4", "Diastolic blood pressure")
MM_HG = "mm[Hg]"
