import subprocess
import sys
from datetime import date

import pytest

from services.catalog.eligibility import EligibilityResult, ResidentFacts, check_eligibility
from services.catalog.types import FUNDERS, Eligibility, PackageDefinition, PackageItem

START = date(2025, 7, 1)
OK = EligibilityResult(eligible=True, rule=None, reason=None)


def package(**eligibility) -> PackageDefinition:
    return PackageDefinition(
        code="p", name="测试服务包", kind="personalised", version=1, effective_from=date(2025, 1, 1),
        description="", eligibility=Eligibility(**eligibility),
        items=(PackageItem("visit", "随访", 1, 1000),), list_value_fen=1000,
        funding={f: 0 for f in FUNDERS}, self_pay_fen=1000,
    )


def facts(birth_date=date(1980, 3, 15), sex="male", tags=(), programs=()) -> ResidentFacts:
    return ResidentFacts(birth_date=birth_date, sex=sex, tags=frozenset(tags), programs=frozenset(programs))


def fail(rule, reason):
    return EligibilityResult(eligible=False, rule=rule, reason=reason)


@pytest.mark.parametrize(
    ("birth_date", "expected"),
    [
        (date(1960, 6, 30), OK),                       # 65th birthday the day before the start
        (date(1960, 7, 1), OK),                        # 65th birthday on the start date
        (date(1960, 7, 2), fail("AGE_MIN", "该服务包仅面向65岁及以上居民（签约起始日年龄为64岁）")),
        (date(1961, 1, 1), fail("AGE_MIN", "该服务包仅面向65岁及以上居民（签约起始日年龄为64岁）")),
        (date(1990, 1, 1), fail("AGE_MIN", "该服务包仅面向65岁及以上居民（签约起始日年龄为35岁）")),
        (date(1930, 1, 1), OK),
    ],
)
def test_elderly_age_on_start_date(birth_date, expected):
    assert check_eligibility(package(age_min=65), facts(birth_date), START) == expected


@pytest.mark.parametrize(
    ("birth_date", "expected"),
    [
        (date(2025, 6, 30), OK),                       # newborn, age 0
        (date(2025, 7, 1), OK),                        # born on the start date
        (date(2018, 7, 2), OK),                        # 6, turns 7 tomorrow
        (date(2018, 7, 1), fail("AGE_MAX", "该服务包仅面向6岁及以下居民（签约起始日年龄为7岁）")),
        (date(2018, 6, 30), fail("AGE_MAX", "该服务包仅面向6岁及以下居民（签约起始日年龄为7岁）")),
    ],
)
def test_child_age_on_start_date(birth_date, expected):
    assert check_eligibility(package(age_max=6), facts(birth_date), START) == expected


FEB29 = date(1960, 2, 29)


@pytest.mark.parametrize(
    ("age_min", "on", "expected"),
    [
        (65, date(2025, 2, 28), fail("AGE_MIN", "该服务包仅面向65岁及以上居民（签约起始日年龄为64岁）")),
        (65, date(2025, 3, 1), OK),                    # non-leap year: the birthday is reached on Mar 1
        (64, date(2024, 2, 28), fail("AGE_MIN", "该服务包仅面向64岁及以上居民（签约起始日年龄为63岁）")),
        (64, date(2024, 2, 29), OK),                   # leap year: reached on the day itself
        (60, date(2020, 2, 29), OK),
        (60, date(2020, 2, 28), fail("AGE_MIN", "该服务包仅面向60岁及以上居民（签约起始日年龄为59岁）")),
    ],
)
def test_feb_29_birthday(age_min, on, expected):
    assert check_eligibility(package(age_min=age_min), facts(FEB29), on) == expected


def test_age_range_both_bounds():
    pkg = package(age_min=15, age_max=49)
    assert check_eligibility(pkg, facts(date(2010, 7, 2)), START).rule == "AGE_MIN"
    assert check_eligibility(pkg, facts(date(2010, 7, 1)), START) == OK
    assert check_eligibility(pkg, facts(date(1975, 7, 2)), START) == OK            # 49
    assert check_eligibility(pkg, facts(date(1975, 7, 1)), START).reason == (
        "该服务包仅面向49岁及以下居民（签约起始日年龄为50岁）"
    )


def test_birth_after_start_is_refused_only_when_age_matters():
    unborn = facts(date(2025, 8, 1))
    assert check_eligibility(package(), unborn, START) == OK
    with pytest.raises(ValueError):
        check_eligibility(package(age_max=6), unborn, START)


@pytest.mark.parametrize(
    ("rule_sex", "sex", "expected"),
    [
        ("female", "female", OK),
        ("female", "male", fail("SEX", "该服务包仅面向女性居民")),
        ("male", "female", fail("SEX", "该服务包仅面向男性居民")),
        ("male", "male", OK),
    ],
)
def test_sex_rule(rule_sex, sex, expected):
    assert check_eligibility(package(sex=rule_sex), facts(sex=sex), START) == expected


@pytest.mark.parametrize(
    ("tags_any", "tags", "expected"),
    [
        (("disabled",), {"disabled"}, OK),
        (("disabled",), set(), fail("TAGS", "该服务包仅面向以下人群：残疾人")),
        (("disabled",), {"elderly", "minimum_living_allowance"}, fail("TAGS", "该服务包仅面向以下人群：残疾人")),
        (("disabled", "elderly"), {"elderly"}, OK),
        (("pregnant_postpartum", "child"), {"child", "disabled"}, OK),
        (("minimum_living_allowance", "extreme_poverty", "poverty_alleviation"), {"hypertension"},
         fail("TAGS", "该服务包仅面向以下人群：低保、特困、脱贫人口")),
        (("elderly", "child"), set(), fail("TAGS", "该服务包仅面向以下人群：65岁及以上老年人、0-6岁儿童")),
        (("some_new_tag",), set(), fail("TAGS", "该服务包仅面向以下人群：some_new_tag")),  # unknown code shown as is
    ],
)
def test_tags_any(tags_any, tags, expected):
    assert check_eligibility(package(tags_any=tags_any), facts(tags=tags), START) == expected


@pytest.mark.parametrize(
    ("program", "programs", "expected"),
    [
        ("hypertension", {"hypertension"}, OK),
        ("hypertension", {"diabetes"}, fail("PROGRAM", "该服务包仅面向已纳入高血压患者健康管理的居民")),
        ("diabetes", set(), fail("PROGRAM", "该服务包仅面向已纳入2型糖尿病患者健康管理的居民")),
        ("diabetes", {"hypertension", "diabetes"}, OK),
        ("mental_disorder", {"hypertension"}, fail("PROGRAM", "该服务包仅面向已纳入严重精神障碍患者健康管理的居民")),
        ("mental_disorder", {"mental_disorder"}, OK),
    ],
)
def test_program(program, programs, expected):
    # The hypertension tag alone is not an enrolment: only `programs` counts.
    resident = facts(tags={"hypertension", "diabetes", "mental_disorder"}, programs=programs)
    assert check_eligibility(package(program=program), resident, START) == expected


@pytest.mark.parametrize(
    "resident",
    [
        facts(),
        facts(date(2025, 7, 1), "female"),
        facts(date(1920, 1, 1), "female", {"elderly", "disabled"}, {"hypertension", "diabetes"}),
    ],
)
def test_empty_eligibility_admits_everyone(resident):
    assert check_eligibility(package(), resident, START) == OK


STRICT = {"age_min": 65, "age_max": 80, "sex": "female", "tags_any": ("disabled",), "program": "diabetes"}


@pytest.mark.parametrize(
    ("resident", "rule"),
    [
        # Everything wrong: age_min is reported first.
        (facts(date(1990, 1, 1), "male"), "AGE_MIN"),
        (facts(date(1930, 1, 1), "male"), "AGE_MAX"),
        (facts(date(1950, 1, 1), "male"), "SEX"),
        (facts(date(1950, 1, 1), "female"), "TAGS"),
        (facts(date(1950, 1, 1), "female", {"disabled"}, {"hypertension"}), "PROGRAM"),
        (facts(date(1950, 1, 1), "female", {"disabled"}, {"diabetes"}), None),
    ],
)
def test_order_of_failing_rules(resident, rule):
    result = check_eligibility(package(**STRICT), resident, START)
    assert result.rule == rule
    assert result.eligible is (rule is None)
    assert (result.reason is None) is (rule is None)


def test_facts_accept_any_iterable_and_stay_frozen():
    resident = ResidentFacts(birth_date=date(1950, 1, 1), sex="female", tags={"disabled"}, programs=["diabetes"])
    assert resident.tags == frozenset({"disabled"}) and isinstance(resident.tags, frozenset)
    assert resident.programs == frozenset({"diabetes"}) and isinstance(resident.programs, frozenset)
    assert check_eligibility(package(**STRICT), resident, START) == OK


def test_modules_import_without_flask_or_database():
    code = (
        "import sys, services.catalog.eligibility, services.catalog.pricing; "
        "bad = [m for m in ('flask', 'flask_sqlalchemy', 'app', 'services.core.db', 'services.models') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
