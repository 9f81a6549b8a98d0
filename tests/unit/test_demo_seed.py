"""`services.demo.seed.seed_demo`: the demo community, idempotent and with no plaintext ID numbers.

Self-contained: builds its own app on a temporary SQLite file and creates the
schema with the Alembic migrations (as production does), not db.create_all.
"""
from __future__ import annotations

import collections
from pathlib import Path

import pytest
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[2]
COUNTED = ("MedicalCommunity", "Institution", "Team", "Staff", "RoundPoint", "Resident", "ResidentTag")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    import flask_migrate

    from app import create_app
    from services.core.db import db
    from services.demo import seed as demo

    tmp = tmp_path_factory.mktemp("demo")
    db_file = tmp / "demo.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_file}", "TESTING": True})
    with app.app_context():
        flask_migrate.upgrade(directory=str(REPO / "migrations"))
        cipher = app.extensions["pii_cipher"]
        first = demo.seed_demo(cipher)
        db.session.commit()
        yield {"app": app, "cipher": cipher, "first": first, "db_file": db_file}
        db.session.remove()
        db.engine.dispose()


def _counts():
    from services import models
    from services.core.db import db

    return {name: db.session.scalar(select(func.count()).select_from(getattr(models, name)))
            for name in COUNTED}


def test_counts(seeded):
    assert _counts() == {"MedicalCommunity": 1, "Institution": 7, "Team": 4, "Staff": 12,
                         "RoundPoint": 6, "Resident": 200,
                         "ResidentTag": seeded["first"].created["resident_tags"]}
    created = seeded["first"].created
    assert created["medical_communities"] == 1
    assert created["institutions"] == 7
    assert created["teams"] == 4
    assert created["staff"] == 12
    assert created["round_points"] == 6
    assert created["residents"] == 200


def test_institution_tree(seeded):
    from services.core.db import db
    from services.models import Institution, MedicalCommunity

    community = db.session.scalar(select(MedicalCommunity))
    assert community.code == "demo"
    insts = {i.code: i for i in db.session.scalars(select(Institution))}
    assert all(i.community_id == community.id for i in insts.values())
    by_type = collections.Counter(i.type for i in insts.values())
    assert by_type == {"county_hospital": 1, "township_health_center": 2, "village_clinic": 4}
    hospital = insts["demo-county-hospital"]
    assert hospital.type == "county_hospital" and hospital.parent_id is None
    centres = [i for i in insts.values() if i.type == "township_health_center"]
    assert all(c.parent_id == hospital.id for c in centres)
    for centre in centres:
        clinics = [i for i in insts.values() if i.parent_id == centre.id]
        assert len(clinics) == 2 and all(c.type == "village_clinic" for c in clinics)


def test_teams_staff_and_round_points(seeded):
    from services.core.db import db
    from services.models import Institution, RoundPoint, Staff, Team

    insts = {i.code: i for i in db.session.scalars(select(Institution))}
    thc1, thc2 = insts["demo-thc-1"], insts["demo-thc-2"]
    teams = list(db.session.scalars(select(Team).order_by(Team.code)))
    assert [t.code for t in teams] == [f"demo-team-{n}" for n in range(1, 5)]
    assert collections.Counter(t.institution_id for t in teams) == {thc1.id: 2, thc2.id: 2}
    for team in teams:
        assert team.capacity_per_doctor is None
        assert team.service_area and team.phone and team.introduction
        roles = {m.team_role for m in team.members}
        assert {"doctor", "nurse"} <= roles
        lead = team.lead_doctor
        assert lead is not None and lead.team_id == team.id and lead.team_role == "doctor"
        assert all(m.institution_id == team.institution_id and m.role == "doctor" for m in team.members)

    staff = {s.username: s for s in db.session.scalars(select(Staff))}
    assert len(staff) == 12
    assert all(s.community_id is not None and s.active for s in staff.values())
    assert staff["demo_admin"].role == "admin" and staff["demo_admin"].institution_id is None
    assert staff["demo_thc1_admin"].role == "admin"
    assert staff["demo_thc1_admin"].institution_id == thc1.id
    members = [s for s in staff.values() if s.role == "doctor"]
    assert len(members) == 10
    assert {"public_health", "village_doctor"} <= {s.team_role for s in members}
    assert staff["demo_doctor"].team.institution_id == thc1.id
    assert staff["demo_doctor"].team.lead_doctor_id == staff["demo_doctor"].id
    assert staff["demo_doctor"].team.code == "demo-team-1"
    assert staff["demo_doctor2"].team.institution_id == thc2.id
    assert staff["demo_doctor2"].team.code == "demo-team-3"
    assert staff["demo_doctor2"].team.lead_doctor_id == staff["demo_doctor2"].id

    from werkzeug.security import check_password_hash
    assert check_password_hash(staff["demo_doctor"].password_hash, "demo-password")

    points = list(db.session.scalars(select(RoundPoint)))
    assert len(points) == 6
    assert collections.Counter(p.institution_id for p in points) == {thc1.id: 3, thc2.id: 3}
    assert all(p.name.endswith("巡诊点") and p.village for p in points)
    logins = {u for u, _, _ in seeded["first"].logins}
    assert logins == set(staff)


def test_residents_are_valid_and_encrypted(seeded):
    from services.core import clock
    from services.core.db import db
    from services.core.idcard import age_on, validate_id_number
    from services.core.phones import normalize_mobile
    from services.models import Institution, Resident, ResidentTag, RoundPoint, Staff

    cipher = seeded["cipher"]
    residents = list(db.session.scalars(select(Resident)))
    assert len(residents) == 200
    insts = {i.id: i for i in db.session.scalars(select(Institution))}
    villages = ({i.name.split("镇", 1)[1].removesuffix("卫生室")
                 for i in insts.values() if i.type == "village_clinic"}
                | {p.village for p in db.session.scalars(select(RoundPoint))})
    member_ids = {s.id for s in db.session.scalars(select(Staff).where(Staff.role == "doctor"))}
    today = clock.today()
    # With WAL, recent pages may sit in the -wal file: read both.
    wal = seeded["db_file"].with_name(seeded["db_file"].name + "-wal")
    data = seeded["db_file"].read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    # The reader really sees the rows: plaintext phones (not secret) are there.
    assert any(r.phone and r.phone.encode() in data for r in residents)

    numbers = set()
    for r in residents:
        number = cipher.decrypt(r.id_number_encrypted)
        parsed = validate_id_number(number)
        assert parsed.number == number
        assert (parsed.birth_date, parsed.sex) == (r.birth_date, r.sex)
        assert r.id_number_hash == cipher.lookup_hash(number)
        assert number.encode() not in data
        numbers.add(number)
        assert insts[r.institution_id].type in ("village_clinic", "township_health_center")
        assert r.village in villages and r.address
        if r.phone is not None:
            assert normalize_mobile(r.phone) == r.phone
        if r.consent_given_at is not None:
            assert r.consent_scope == ["health_management", "family_doctor_contract"]
            assert r.consent_witness_id in member_ids
        if r.floating:
            assert r.residence_since is not None and r.residence_since <= today
    assert len(numbers) == 200

    ages = [age_on(r.birth_date, today) for r in residents]
    assert sum(a >= 65 for a in ages) >= 20
    assert sum(a <= 6 for a in ages) >= 10
    assert sum(18 <= a < 65 for a in ages) >= 50
    assert min(r.birth_date.year for r in residents) < 1945
    assert sum(r.consent_given_at is not None for r in residents) >= 150
    assert any(r.floating and (today - r.residence_since).days < 183 for r in residents)

    phones = collections.Counter(r.phone for r in residents if r.phone)
    assert sorted(n for n in phones.values() if n > 1) == [2, 2]
    assert any(r.phone is None for r in residents)

    tags = collections.Counter(db.session.scalars(select(ResidentTag.tag)))
    assert "elderly" not in tags and "child" not in tags
    assert tags["hypertension"] > tags["diabetes"] > 0
    assert tags["pregnant_postpartum"] > 0 and tags["mental_disorder"] > 0


def test_sample_residents_have_their_own_phone(seeded):
    from services.core import clock
    from services.core.db import db
    from services.core.idcard import age_on
    from services.models import Resident

    samples = seeded["first"].sample_residents
    assert len(samples) >= 3
    for name, phone in samples[:3]:
        rows = list(db.session.scalars(select(Resident).where(Resident.phone == phone)))
        assert len(rows) == 1 and rows[0].name == name
        assert age_on(rows[0].birth_date, clock.today()) >= 18

    text = seeded["first"].summary()
    assert "demo-password" in text and "仅供演示" in text and "demo only" in text
    assert "demo_admin" in text and "demo_doctor" in text
    assert all(phone in text for _, phone in samples[:3])


def test_second_run_creates_nothing(seeded):
    from services.core.db import db
    from services.demo import seed as demo

    before = _counts()
    second = demo.seed_demo(seeded["cipher"])
    db.session.commit()
    assert second.created and all(n == 0 for n in second.created.values())
    assert _counts() == before
    assert second.sample_residents == seeded["first"].sample_residents
    assert [u for u, _, _ in second.logins] == [u for u, _, _ in seeded["first"].logins]
    assert "demo-password" in second.summary()
