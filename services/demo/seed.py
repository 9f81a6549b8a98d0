"""Demo data for `flask demo seed`: one fictional county medical community.

Creates the community, a county hospital, two township health centres with
two village clinics each, four family-doctor teams with twelve staff
accounts, six round points and 200 residents with realistic names, valid
(fictional) ID numbers, mobile numbers and key-population tags.

Idempotent: every row is looked up by its natural key first (community,
institution and team codes, usernames, round point (institution, name), the
resident's ID-number lookup hash), so a second run creates nothing.
Deterministic: residents come from `random.Random(SEED)` and fixed dates, so
every run generates the same people; only dates relative to "now" (consent,
floating residents' `residence_since`) follow the project clock.

The caller commits; this module only adds and flushes.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from sqlalchemy import select

from services.access.staff_login import hash_password
from services.core import clock
from services.core.crypto import PiiCipher
from services.core.db import db
from services.core.idcard import age_on, make_id_number, validate_id_number
from services.core.phones import PhoneError, normalize_mobile
from services.models import (
    Institution,
    MedicalCommunity,
    Resident,
    ResidentTag,
    RoundPoint,
    Staff,
    Team,
)

__all__ = ["DEMO_PASSWORD", "SEED", "SeedResult", "seed_demo"]

SEED = 20261123
DEMO_PASSWORD = "demo-password"
RESIDENT_COUNT = 200
# Age-based decisions (who may have hypertension, who may be pregnant) are
# judged on this fixed date, so the generated people never depend on "today".
REFERENCE_DATE = dt.date(2026, 11, 23)
LATEST_BIRTH = dt.date(2024, 12, 31)
CONSENT_SCOPE = ["health_management", "family_doctor_contract"]

COUNTY = "青禾县"  # fictional
COMMUNITY_CODE = "demo"
COMMUNITY_NAME = f"{COUNTY}医共体"
LOCAL_AREA_CODE = "131122"
# Where floating residents' ID numbers were issued (other counties/provinces).
OUTSIDE_AREA_CODES = ("410522", "370826", "130682", "131182", "411421", "372925")

KINDS = ("medical_communities", "institutions", "teams", "staff", "round_points",
         "residents", "resident_tags")
KIND_LABELS = {
    "medical_communities": "医共体 / medical community",
    "institutions": "医疗机构 / institutions",
    "teams": "家庭医生团队 / teams",
    "staff": "工作人员账号 / staff accounts",
    "round_points": "巡诊点 / round points",
    "residents": "居民 / residents",
    "resident_tags": "重点人群标签 / recorded tags",
}


# --------------------------------------------------------------------------
# Organisation
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class _InstitutionSpec:
    code: str
    name: str
    type: str
    parent: str | None
    address: str
    phone: str
    village: str | None = None  # for village clinics


_INSTITUTIONS = (
    _InstitutionSpec("demo-county-hospital", f"{COUNTY}人民医院", "county_hospital", None,
                     f"{COUNTY}城关镇人民路88号", "0318-7521234"),
    _InstitutionSpec("demo-thc-1", "城关镇卫生院", "township_health_center", "demo-county-hospital",
                     f"{COUNTY}城关镇建设街16号", "0318-7523360"),
    _InstitutionSpec("demo-thc-2", "石桥镇卫生院", "township_health_center", "demo-county-hospital",
                     f"{COUNTY}石桥镇石桥大街52号", "0318-7586120"),
    _InstitutionSpec("demo-vc-1", "城关镇东关村卫生室", "village_clinic", "demo-thc-1",
                     f"{COUNTY}城关镇东关村村委会东侧", "0318-7524471", "东关村"),
    _InstitutionSpec("demo-vc-2", "城关镇西街村卫生室", "village_clinic", "demo-thc-1",
                     f"{COUNTY}城关镇西街村中心街9号", "0318-7525183", "西街村"),
    _InstitutionSpec("demo-vc-3", "石桥镇石桥村卫生室", "village_clinic", "demo-thc-2",
                     f"{COUNTY}石桥镇石桥村文化广场北侧", "0318-7587206", "石桥村"),
    _InstitutionSpec("demo-vc-4", "石桥镇河东村卫生室", "village_clinic", "demo-thc-2",
                     f"{COUNTY}石桥镇河东村村委会院内", "0318-7588342", "河东村"),
)
_TOWN_OF = {"demo-thc-1": "城关镇", "demo-thc-2": "石桥镇"}


@dataclass(frozen=True)
class _RoundPointSpec:
    institution: str
    village: str
    address: str

    @property
    def name(self) -> str:
        return f"{self.village}巡诊点"


_ROUND_POINTS = (
    _RoundPointSpec("demo-thc-1", "东关村", f"{COUNTY}城关镇东关村村委会"),
    _RoundPointSpec("demo-thc-1", "南庄村", f"{COUNTY}城关镇南庄村党群服务中心"),
    _RoundPointSpec("demo-thc-1", "北王庄村", f"{COUNTY}城关镇北王庄村文化活动室"),
    _RoundPointSpec("demo-thc-2", "河西村", f"{COUNTY}石桥镇河西村村委会"),
    _RoundPointSpec("demo-thc-2", "柳林村", f"{COUNTY}石桥镇柳林村小学旁"),
    _RoundPointSpec("demo-thc-2", "杜庄村", f"{COUNTY}石桥镇杜庄村老年活动中心"),
)


@dataclass(frozen=True)
class _TeamSpec:
    code: str
    name: str
    institution: str
    villages: tuple[str, ...]
    phone: str
    introduction: str


_TEAMS = (
    _TeamSpec("demo-team-1", "城关镇卫生院家庭医生一队", "demo-thc-1", ("东关村", "南庄村"),
              "0318-7523361",
              "由全科医生、护士和公卫医生组成，负责东关村、南庄村居民的签约、"
              "慢病随访和老年人健康管理，每周二在东关村巡诊点出诊。"),
    _TeamSpec("demo-team-2", "城关镇卫生院家庭医生二队", "demo-thc-1", ("西街村", "北王庄村"),
              "0318-7523362",
              "负责西街村、北王庄村居民的家庭医生签约服务，擅长高血压、糖尿病规范管理，"
              "每周四在北王庄村巡诊点出诊。"),
    _TeamSpec("demo-team-3", "石桥镇卫生院家庭医生一队", "demo-thc-2", ("石桥村", "河西村"),
              "0318-7586121",
              "由全科医生、护士和乡村医生组成，负责石桥村、河西村居民的签约与随访，"
              "为行动不便的老人提供上门服务。"),
    _TeamSpec("demo-team-4", "石桥镇卫生院家庭医生二队", "demo-thc-2", ("河东村", "柳林村", "杜庄村"),
              "0318-7586122",
              "负责河东村、柳林村、杜庄村居民的家庭医生签约服务，开展孕产妇、儿童"
              "和重点人群健康管理，每月在各巡诊点轮流出诊。"),
)


@dataclass(frozen=True)
class _StaffSpec:
    username: str
    name: str
    role: str  # doctor | admin
    institution: str | None
    team: str | None = None
    team_role: str | None = None
    lead: bool = False
    description: str = ""


_STAFF = (
    _StaffSpec("demo_admin", "赵志远", "admin", None,
               description=f"医共体管理员（{COMMUNITY_NAME}全部机构）"),
    _StaffSpec("demo_thc1_admin", "孙丽萍", "admin", "demo-thc-1",
               description="机构管理员（城关镇卫生院及所辖村卫生室）"),
    _StaffSpec("demo_doctor", "李建华", "doctor", "demo-thc-1", "demo-team-1", "doctor", True,
               "城关镇卫生院家庭医生一队 · 医生（团队长）"),
    _StaffSpec("demo_nurse1", "王晓燕", "doctor", "demo-thc-1", "demo-team-1", "nurse",
               description="城关镇卫生院家庭医生一队 · 护士"),
    _StaffSpec("demo_public_health1", "张明", "doctor", "demo-thc-1", "demo-team-1", "public_health",
               description="城关镇卫生院家庭医生一队 · 公卫医生"),
    _StaffSpec("demo_doctor3", "刘国栋", "doctor", "demo-thc-1", "demo-team-2", "doctor", True,
               "城关镇卫生院家庭医生二队 · 医生（团队长）"),
    _StaffSpec("demo_nurse2", "陈静", "doctor", "demo-thc-1", "demo-team-2", "nurse",
               description="城关镇卫生院家庭医生二队 · 护士"),
    _StaffSpec("demo_doctor2", "杨振宇", "doctor", "demo-thc-2", "demo-team-3", "doctor", True,
               "石桥镇卫生院家庭医生一队 · 医生（团队长）"),
    _StaffSpec("demo_nurse3", "周敏", "doctor", "demo-thc-2", "demo-team-3", "nurse",
               description="石桥镇卫生院家庭医生一队 · 护士"),
    _StaffSpec("demo_village_doctor1", "马德顺", "doctor", "demo-thc-2", "demo-team-3", "village_doctor",
               description="石桥镇卫生院家庭医生一队 · 乡村医生（石桥村卫生室）"),
    _StaffSpec("demo_doctor4", "黄立新", "doctor", "demo-thc-2", "demo-team-4", "doctor", True,
               "石桥镇卫生院家庭医生二队 · 医生（团队长）"),
    _StaffSpec("demo_nurse4", "吴海霞", "doctor", "demo-thc-2", "demo-team-4", "nurse",
               description="石桥镇卫生院家庭医生二队 · 护士"),
)


# --------------------------------------------------------------------------
# Residents
# --------------------------------------------------------------------------

# Roughly by frequency; repeated entries weight the common ones.
_SURNAMES = (
    "王王王王李李李李张张张张刘刘刘陈陈陈杨杨黄黄赵赵赵吴周周徐孙孙马马朱胡郭郭何高高林罗"
    "郑梁谢宋唐许韩冯邓曹彭曾田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾"
)
_GIVEN = {
    # born up to 1959
    ("old", "male"): ("建国", "国庆", "振华", "德福", "长林", "福生", "金山", "永祥", "保国", "树林",
                      "春生", "玉柱", "凤山", "文德", "广才", "满仓", "有福", "庆丰", "明", "海"),
    ("old", "female"): ("桂英", "秀英", "玉兰", "淑珍", "凤英", "秀兰", "桂兰", "玉梅", "素珍", "金凤",
                        "桂芝", "秀珍", "玉珍", "淑芬", "翠兰", "秀云", "兰", "芳", "凤琴", "桂荣"),
    # 1960-1989
    ("mid", "male"): ("建军", "海涛", "志强", "红军", "国强", "卫东", "立新", "学军", "春雷", "晓东",
                      "伟", "勇", "军", "刚", "强", "永刚", "建平", "志刚", "海军", "俊峰"),
    ("mid", "female"): ("丽娟", "红梅", "秀梅", "海燕", "小红", "丽华", "艳", "静", "敏", "霞",
                        "燕", "红霞", "丽", "玉红", "春燕", "晓丽", "丽萍", "建英", "慧", "娟"),
    # 1990-2009
    ("young", "male"): ("浩", "鹏", "磊", "超", "杰", "宇航", "子豪", "俊杰", "浩然", "博文",
                        "晨阳", "帅", "鑫", "宇", "旭东", "泽宇", "家豪", "明轩", "天宇", "凯"),
    ("young", "female"): ("婷婷", "雪", "佳怡", "欣怡", "雨萱", "梦瑶", "思琪", "颖", "倩", "娜",
                          "晶晶", "雅琪", "梦婷", "佳琪", "文静", "悦", "丹", "璐", "雨欣", "佳慧"),
    # 2010 onwards
    ("kid", "male"): ("子轩", "梓睿", "宇轩", "浩宇", "一诺", "沐辰", "睿泽", "铭泽", "皓轩", "奕辰",
                      "梓豪", "宸", "俊熙", "子墨", "煜祺"),
    ("kid", "female"): ("一诺", "梓涵", "诗涵", "可馨", "语桐", "欣妍", "梓萱", "若汐", "沐晴", "芷若",
                        "依诺", "语汐", "安然", "思彤", "米乐"),
}
# (first birth date, last birth date, weight)
_AGE_BANDS = (
    (dt.date(1935, 1, 1), dt.date(1959, 12, 31), 27),   # elderly
    (dt.date(1960, 1, 1), dt.date(1975, 12, 31), 20),
    (dt.date(1976, 1, 1), dt.date(1991, 12, 31), 20),
    (dt.date(1992, 1, 1), dt.date(2006, 12, 31), 13),
    (dt.date(2007, 1, 1), dt.date(2019, 12, 31), 10),
    (dt.date(2020, 1, 1), LATEST_BIRTH, 10),           # children 0-6
)
_MOBILE_PREFIXES = ("138", "139", "150", "151", "158", "186", "187", "135", "136", "177", "199",
                    "137", "152", "159", "188", "155", "130", "131", "132", "185")
_STREET_SUFFIX = ("前街", "后街", "东街", "西街", "中心街", "南胡同", "北胡同")


@dataclass
class _ResidentSpec:
    name: str
    sex: str
    birth_date: dt.date
    id_number: str
    village: str
    institution: str  # institution code
    address: str
    phone: str | None
    tags: list[str]
    floating: bool = False
    residence_days_ago: int | None = None
    consent_days_ago: int | None = None
    witness: str | None = None  # username


def _generation(birth: dt.date) -> str:
    if birth.year < 1960:
        return "old"
    if birth.year < 1990:
        return "mid"
    if birth.year < 2010:
        return "young"
    return "kid"


def _random_date(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rng.randint(0, (last - first).days))


def _villages() -> list[tuple[str, str, str]]:
    """(village, institution code residents register at, township centre code)."""
    out = []
    for inst in _INSTITUTIONS:
        if inst.type == "village_clinic":
            out.append((inst.village, inst.code, inst.parent))
    clinic_villages = {v for v, _, _ in out}
    for rp in _ROUND_POINTS:
        if rp.village not in clinic_villages:
            out.append((rp.village, rp.institution, rp.institution))
    return out


def _team_for_village(village: str) -> _TeamSpec:
    for team in _TEAMS:
        if village in team.villages:
            return team
    raise LookupError(village)  # pragma: no cover - the tables above cover every village


def _members(team_code: str) -> list[str]:
    return [s.username for s in _STAFF if s.team == team_code]


def _new_mobile(rng: random.Random, used: set[str]) -> str:
    while True:
        raw = rng.choice(_MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
        if raw in used:
            continue
        try:
            phone = normalize_mobile(raw)
        except PhoneError:  # pragma: no cover - every prefix above is a mobile range
            continue
        used.add(phone)
        return phone


def _generate_residents(rng: random.Random) -> list[_ResidentSpec]:
    villages = _villages()
    band_weights = [w for _, _, w in _AGE_BANDS]
    used_numbers: set[str] = set()
    used_phones: set[str] = set()
    specs: list[_ResidentSpec] = []

    for _i in range(RESIDENT_COUNT):
        first, last, _ = rng.choices(_AGE_BANDS, weights=band_weights)[0]
        birth = _random_date(rng, first, last)
        sex = rng.choice(("male", "female"))
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN[(_generation(birth), sex)])
        village, inst_code, centre = rng.choice(villages)
        town = _TOWN_OF[centre]
        address = (f"{COUNTY}{town}{village}{rng.choice(_STREET_SUFFIX)}"
                   f"{rng.randint(1, 168)}号")
        age = age_on(birth, REFERENCE_DATE)

        floating = rng.random() < 0.05
        area = rng.choice(OUTSIDE_AREA_CODES) if floating else LOCAL_AREA_CODE
        while True:
            number = make_id_number(area, birth, rng.randint(0, 99), sex)
            if number not in used_numbers:
                used_numbers.add(number)
                break

        no_phone = age >= 65 and rng.random() < 0.10
        phone = None if no_phone else _new_mobile(rng, used_phones)

        tags: list[str] = []
        if age >= 35:
            # Both chronic diseases grow more common with age.
            if rng.random() < (0.35 if age >= 60 else 0.16):
                tags.append("hypertension")
            if rng.random() < (0.14 if age >= 60 else 0.07):
                tags.append("diabetes")
        if age >= 16 and rng.random() < 0.015:
            tags.append("mental_disorder")
        if rng.random() < 0.03:
            tags.append("disabled")
        if sex == "female" and 20 <= age <= 40 and rng.random() < 0.12:
            tags.append("pregnant_postpartum")
        poverty = rng.random()
        if poverty < 0.04:
            tags.append("poverty_alleviation")
        elif poverty < 0.07:
            tags.append("minimum_living_allowance")
        elif poverty < 0.08 + (0.02 if age >= 60 else 0.0):
            tags.append("extreme_poverty")
        if age >= 15 and rng.random() < 0.006:
            tags.append("tuberculosis")
        if age >= 50 and rng.random() < 0.015:
            tags.append("special_family_planning")

        team = _team_for_village(village)
        consent = rng.random() < 0.9
        consent_days = rng.randint(1, 700)
        witness = rng.choice(_members(team.code))
        residence_days = rng.randint(30, 170) if rng.random() < 0.4 else rng.randint(200, 3000)

        specs.append(_ResidentSpec(
            name=name, sex=sex, birth_date=birth, id_number=number, village=village,
            institution=inst_code, address=address, phone=phone, tags=tags,
            floating=floating,
            residence_days_ago=residence_days if floating else None,
            consent_days_ago=consent_days if consent else None,
            witness=witness if consent else None,
        ))

    _make_families(specs)
    _ensure_rare_tags(specs)
    return specs


def _make_families(specs: list[_ResidentSpec]) -> None:
    """Two households share one phone: an elderly couple, and a mother with her child."""
    elderly = [s for s in specs if age_on(s.birth_date, REFERENCE_DATE) >= 65 and s.phone]
    couple_a = next(s for s in elderly if s.sex == "male")
    couple_b = next(s for s in elderly if s.sex == "female")
    mother = next(s for s in specs if s.sex == "female"
                  and 25 <= age_on(s.birth_date, REFERENCE_DATE) <= 40 and s.phone)
    child = next(s for s in specs if age_on(s.birth_date, REFERENCE_DATE) <= 6
                 and s is not mother)
    for head, other in ((couple_a, couple_b), (mother, child)):
        other.phone = head.phone
        other.village, other.institution, other.address = head.village, head.institution, head.address
        other.floating = head.floating
        other.residence_days_ago = head.residence_days_ago
        if other.consent_days_ago is not None or head.consent_days_ago is not None:
            other.consent_days_ago = head.consent_days_ago or other.consent_days_ago
            other.witness = head.witness or other.witness


def _ensure_rare_tags(specs: list[_ResidentSpec]) -> None:
    """Make sure each rare tag appears at least once, so every filter has data."""
    def adults(min_age: int, sex: str | None = None, max_age: int = 200):
        return [s for s in specs
                if min_age <= age_on(s.birth_date, REFERENCE_DATE) <= max_age
                and (sex is None or s.sex == sex)]

    wanted = (
        ("tuberculosis", adults(30, max_age=70)),
        ("mental_disorder", adults(25, max_age=60)),
        ("special_family_planning", adults(55)),
        ("extreme_poverty", adults(70)),
        ("pregnant_postpartum", adults(22, "female", 38)),
    )
    for tag, pool in wanted:
        if not any(tag in s.tags for s in specs) and pool:
            pool[len(pool) // 2].tags.append(tag)


# --------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------

@dataclass
class SeedResult:
    created: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    logins: list[tuple[str, str, str]] = field(default_factory=list)
    sample_residents: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        total = sum(self.created.values())
        lines = [f"演示数据 / Demo data: {COMMUNITY_NAME}（code: {COMMUNITY_CODE}）"]
        if total:
            lines.append("本次新建 / created this run:")
            for kind in KINDS:
                lines.append(f"  {KIND_LABELS.get(kind, kind)}: {self.created.get(kind, 0)}")
        else:
            lines.append("演示数据已存在，本次未新建任何记录 / demo data already present, nothing created.")
        lines.append("")
        lines.append(f"演示账号（仅供演示 / demo only）密码 / password: {DEMO_PASSWORD}")
        width = max((len(u) for u, _, _ in self.logins), default=0)
        for username, _password, description in self.logins:
            lines.append(f"  {username.ljust(width)}  {description}")
        lines.append("")
        lines.append("居民短信验证码登录示例 / sample residents for OTP login (demo only):")
        for name, phone in self.sample_residents[:3]:
            lines.append(f"  {name}  {phone}")
        return "\n".join(lines)


# --------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------

def seed_demo(cipher: PiiCipher) -> SeedResult:
    """Create whatever part of the demo data is missing. Does not commit."""
    result = SeedResult()
    created = result.created

    community = db.session.scalar(
        select(MedicalCommunity).where(MedicalCommunity.code == COMMUNITY_CODE))
    if community is None:
        community = MedicalCommunity(code=COMMUNITY_CODE, name=COMMUNITY_NAME)
        db.session.add(community)
        db.session.flush()
        created["medical_communities"] += 1

    institutions: dict[str, Institution] = {}
    for spec in _INSTITUTIONS:  # parents come before children
        inst = db.session.scalar(select(Institution).where(Institution.code == spec.code))
        if inst is None:
            inst = Institution(
                community_id=community.id, code=spec.code, name=spec.name, type=spec.type,
                parent_id=institutions[spec.parent].id if spec.parent else None,
                address=spec.address, phone=spec.phone,
            )
            db.session.add(inst)
            db.session.flush()
            created["institutions"] += 1
        institutions[spec.code] = inst

    teams: dict[str, Team] = {}
    for spec in _TEAMS:
        team = db.session.scalar(select(Team).where(Team.code == spec.code))
        if team is None:
            team = Team(
                institution_id=institutions[spec.institution].id, code=spec.code, name=spec.name,
                service_area="、".join(spec.villages), phone=spec.phone,
                introduction=spec.introduction, capacity_per_doctor=None,
            )
            db.session.add(team)
            created["teams"] += 1
        teams[spec.code] = team
    db.session.flush()

    staff: dict[str, Staff] = {}
    for spec in _STAFF:
        member = db.session.scalar(select(Staff).where(Staff.username == spec.username))
        if member is None:
            member = Staff(
                username=spec.username, name=spec.name, role=spec.role,
                password_hash=hash_password(DEMO_PASSWORD),
                community_id=community.id,
                institution_id=institutions[spec.institution].id if spec.institution else None,
                team_id=teams[spec.team].id if spec.team else None,
                team_role=spec.team_role, active=True,
            )
            db.session.add(member)
            created["staff"] += 1
        staff[spec.username] = member
        result.logins.append((spec.username, DEMO_PASSWORD, spec.description))
    db.session.flush()
    for spec in _STAFF:
        if spec.lead and teams[spec.team].lead_doctor_id is None:
            teams[spec.team].lead_doctor_id = staff[spec.username].id
    db.session.flush()

    for spec in _ROUND_POINTS:
        inst_id = institutions[spec.institution].id
        exists = db.session.scalar(select(RoundPoint.id).where(
            RoundPoint.institution_id == inst_id, RoundPoint.name == spec.name))
        if exists is None:
            db.session.add(RoundPoint(institution_id=inst_id, name=spec.name,
                                      village=spec.village, address=spec.address))
            created["round_points"] += 1
    db.session.flush()

    specs = _generate_residents(random.Random(SEED))
    _seed_residents(specs, cipher, institutions, staff, created)
    result.sample_residents = _sample_residents(specs)
    return result


def _seed_residents(specs: list[_ResidentSpec], cipher: PiiCipher,
                    institutions: dict[str, Institution], staff: dict[str, Staff],
                    created: dict[str, int]) -> None:
    hashes = [cipher.lookup_hash(s.id_number) for s in specs]
    existing = set(db.session.scalars(
        select(Resident.id_number_hash).where(Resident.id_number_hash.in_(hashes))))
    now = clock.now()
    today = clock.today()
    for spec, number_hash in zip(specs, hashes, strict=False):
        if number_hash in existing:
            continue
        # Decode birth date and sex from the number, as registration does. The
        # "not in the future" check is judged on at least LATEST_BIRTH so a
        # clock frozen in the past by a test cannot break the fixed data.
        parsed = validate_id_number(spec.id_number, today=max(today, LATEST_BIRTH))
        consent_at = None
        if spec.consent_days_ago is not None:
            consent_at = now - dt.timedelta(days=spec.consent_days_ago)
            born = dt.datetime.combine(parsed.birth_date, dt.time(9, 0), tzinfo=clock.zone())
            if consent_at < born:
                consent_at = min(now, born + dt.timedelta(days=30))
        resident = Resident(
            institution_id=institutions[spec.institution].id,
            name=spec.name,
            id_number_encrypted=cipher.encrypt(parsed.number),
            id_number_hash=number_hash,
            birth_date=parsed.birth_date,
            sex=parsed.sex,
            phone=spec.phone,
            address=spec.address,
            village=spec.village,
            floating=spec.floating,
            residence_since=(today - dt.timedelta(days=spec.residence_days_ago)
                             if spec.floating and spec.residence_days_ago else None),
            consent_given_at=consent_at,
            consent_scope=list(CONSENT_SCOPE) if consent_at else None,
            consent_witness_id=staff[spec.witness].id if consent_at and spec.witness else None,
        )
        resident.tag_rows = [ResidentTag(tag=t) for t in dict.fromkeys(spec.tags)]
        db.session.add(resident)
        existing.add(number_hash)
        created["residents"] += 1
        created["resident_tags"] += len(resident.tag_rows)
    db.session.flush()


def _sample_residents(specs: list[_ResidentSpec], count: int = 3) -> list[tuple[str, str]]:
    """Adults whose phone belongs to them alone, so an OTP login finds one person."""
    phone_counts: dict[str, int] = {}
    for s in specs:
        if s.phone:
            phone_counts[s.phone] = phone_counts.get(s.phone, 0) + 1
    out = []
    for s in specs:
        if s.phone and phone_counts[s.phone] == 1 and 18 <= age_on(s.birth_date, REFERENCE_DATE) < 65:
            out.append((s.name, s.phone))
            if len(out) == count:
                break
    return out
