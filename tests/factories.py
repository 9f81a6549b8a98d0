"""Factories for the main models: a small medical community to test scope against.

    county hospital
      ├── 东镇卫生院 (thc_a)  ── 东村卫生室 (village_a)   team_a: doctor_a (lead), nurse_a
      └── 西镇卫生院 (thc_b)  ── 西村卫生室 (village_b)   team_b: doctor_b (lead)
    staff: admin_all (community admin), admin_a (institution admin of thc_a)
"""
from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from services.core.db import db
from services.core.idcard import make_id_number
from services.models import Contract, Institution, MedicalCommunity, Resident, ResidentTag, RoundPoint, Staff, Team

PASSWORD = "correct-horse-battery"
_HASH = generate_password_hash(PASSWORD, method="scrypt")  # once: scrypt is slow on purpose
_seq = itertools.count(1)


def _cipher():
    return current_app.extensions["pii_cipher"]


@dataclass
class World:
    community: MedicalCommunity
    county: Institution
    thc_a: Institution
    thc_b: Institution
    village_a: Institution
    village_b: Institution
    team_a: Team
    team_b: Team
    doctor_a: Staff
    nurse_a: Staff
    doctor_b: Staff
    admin_all: Staff
    admin_a: Staff
    extra: dict = field(default_factory=dict)


def make_staff(username: str, role: str, community: MedicalCommunity, *, team: Team | None = None,
               team_role: str | None = None, institution: Institution | None = None,
               name: str | None = None) -> Staff:
    staff = Staff(username=username, name=name or username, password_hash=_HASH, role=role,
                  community_id=community.id, institution_id=institution.id if institution else
                  (team.institution_id if team else None), team_id=team.id if team else None,
                  team_role=team_role, active=True)
    db.session.add(staff)
    db.session.flush()
    return staff


def make_world() -> World:
    community = MedicalCommunity(code="test", name="测试县医共体")
    db.session.add(community)
    db.session.flush()

    def inst(code, name, type_, parent=None):
        i = Institution(community_id=community.id, parent_id=parent.id if parent else None,
                        code=code, name=name, type=type_)
        db.session.add(i)
        db.session.flush()
        return i

    county = inst("county", "测试县人民医院", "county_hospital")
    thc_a = inst("thc-a", "东镇卫生院", "township_health_center", county)
    thc_b = inst("thc-b", "西镇卫生院", "township_health_center", county)
    village_a = inst("vil-a", "东村卫生室", "village_clinic", thc_a)
    village_b = inst("vil-b", "西村卫生室", "village_clinic", thc_b)
    team_a = Team(institution_id=thc_a.id, code="team-a", name="东镇家庭医生一队")
    team_b = Team(institution_id=thc_b.id, code="team-b", name="西镇家庭医生一队")
    db.session.add_all([team_a, team_b])
    db.session.flush()
    doctor_a = make_staff("doctor_a", "doctor", community, team=team_a, team_role="doctor", name="李医生")
    nurse_a = make_staff("nurse_a", "doctor", community, team=team_a, team_role="nurse", name="王护士")
    doctor_b = make_staff("doctor_b", "doctor", community, team=team_b, team_role="doctor", name="赵医生")
    admin_all = make_staff("admin_all", "admin", community, name="医共体管理员")
    admin_a = make_staff("admin_a", "admin", community, institution=thc_a, name="东镇管理员")
    team_a.lead_doctor_id = doctor_a.id
    team_b.lead_doctor_id = doctor_b.id
    db.session.add(RoundPoint(institution_id=thc_a.id, name="东村巡诊点", village="东村"))
    db.session.commit()
    return World(community, county, thc_a, thc_b, village_a, village_b, team_a, team_b,
                 doctor_a, nurse_a, doctor_b, admin_all, admin_a)


def make_resident(institution: Institution, *, name: str = "张三", birth: dt.date = dt.date(1960, 5, 17),
                  sex: str = "male", phone: str | None = None, tags: tuple[str, ...] = (),
                  village: str | None = None) -> SimpleNamespace:
    """A resident row built directly (as a county's register import would), committed."""
    n = next(_seq)
    number = make_id_number("131122", birth, n % 100, sex)
    cipher = _cipher()
    resident = Resident(institution_id=institution.id, name=name,
                        id_number_encrypted=cipher.encrypt(number),
                        id_number_hash=cipher.lookup_hash(number), birth_date=birth, sex=sex,
                        phone=phone, village=village)
    resident.tag_rows = [ResidentTag(tag=t) for t in tags]
    db.session.add(resident)
    db.session.commit()
    return SimpleNamespace(id=resident.id, id_number=number, row=resident)


def make_contract(resident_id: int, team: Team, status: str = "active") -> Contract:
    c = Contract(resident_id=resident_id, team_id=team.id, status=status,
                 starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2026, 12, 31))
    db.session.add(c)
    db.session.commit()
    return c


def login(client, username: str, password: str = PASSWORD) -> dict:
    """A staff member's access token, minted as a successful login would issue it.

    The real password check (scrypt, ~0.4 s each) runs in `login_with_password`
    and the tests of the login endpoint; the other tests only need to be signed in.
    """
    from app.auth import issue_tokens

    staff = db.session.scalar(select(Staff).where(Staff.username == username))
    if staff is None or not staff.active or staff.password_hash != _HASH or password != PASSWORD:
        return login_with_password(client, username, password)  # an account made another way: check for real
    with client.application.app_context():
        token = issue_tokens("staff", staff.id, staff.role)["access_token"]
    return {"Authorization": f"Bearer {token}"}


def login_with_password(client, username: str, password: str = PASSWORD) -> dict:
    resp = client.post("/api/v1/auth/staff/login", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.get_json()
    return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}


def resident_headers(resident_id: int) -> dict:
    """A resident's access token, as the SMS-code login would issue it."""
    from flask_jwt_extended import create_access_token

    token = create_access_token(identity=f"resident:{resident_id}", additional_claims={"role": "resident"})
    return {"Authorization": f"Bearer {token}"}


def load_catalog() -> None:
    from services.catalog import versions as packages
    from services.catalog.files import CATALOG_DIR, load_directory

    packages.load_catalog(load_directory(CATALOG_DIR))
    db.session.commit()
