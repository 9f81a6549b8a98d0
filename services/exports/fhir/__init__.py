"""FHIR R4 (4.0.1) for sharing with the county platform (信息共享): one pure
function per resource, from the product's records to plain JSON dicts (no
database access, no Flask), and the code systems they use (`codes.py`).

Done: Patient, Organization, Practitioner, PractitionerRole, CareTeam,
EpisodeOfCare with its Condition, a follow-up visit as an Encounter with its
Observations (readings LOINC-coded with UCUM units, and the assessment),
Schedule, Slot, Appointment and Contract. Still to come (issue 18): the Bulk
Data `$export` that streams these to NDJSON files.
"""
from services.core.exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "resources": ("patient", "organization", "practitioner", "practitioner_role", "care_team", "episode_of_care",
                  "condition", "encounter", "visit_observations", "schedule", "slot", "appointment", "contract"),
})
