"""The service-package catalog: the shipped files, and every way a file can be wrong."""
from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
from decimal import Decimal

import pytest
import yaml

from services.catalog.files import (
    CATALOG_DIR,
    DIRECTORY,
    DOCUMENT,
    CatalogError,
    content_hash,
    load_directory,
    parse_package,
    scan_directory,
)
from services.catalog.types import FUNDERS, PackageDefinition

SHIPPED_CODES = {"basic", "elderly", "hypertension", "diabetes", "mental_health", "maternal", "child",
                 "disabled", "tcm"}
POOR_TAGS = ("minimum_living_allowance", "extreme_poverty", "poverty_alleviation")


# --- the shipped catalog -------------------------------------------------------

@pytest.fixture(scope="module")
def shipped() -> dict[str, PackageDefinition]:
    return {d.code: d for d in load_directory(CATALOG_DIR)}


def test_catalog_dir_is_the_repository_folder():
    assert os.path.isabs(CATALOG_DIR)
    assert os.path.isfile(os.path.join(CATALOG_DIR, "README.md"))


def test_shipped_catalog_has_the_nine_packages_and_one_basic(shipped):
    assert set(shipped) == SHIPPED_CODES
    assert [c for c, d in shipped.items() if d.kind == "basic"] == ["basic"]
    for code, d in shipped.items():
        assert os.path.basename(d.source_file) == f"{code}.yaml"
        assert d.version == 1
        assert d.effective_from == dt.date(2026, 1, 1)
        assert d.name and d.description


def test_load_directory_returns_packages_sorted_by_file_name():
    assert [d.code for d in load_directory(CATALOG_DIR)] == sorted(SHIPPED_CODES)


@pytest.mark.parametrize("code", sorted(SHIPPED_CODES))
def test_shipped_package_sums_are_exact(shipped, code):
    d = shipped[code]
    assert d.list_value_fen == sum(i.times_per_year * i.unit_value_fen for i in d.items)
    assert sum(d.funding.values()) + d.self_pay_fen == d.list_value_fen
    assert tuple(d.funding) == FUNDERS
    assert all(type(v) is int and v >= 0 for v in d.funding.values())


@pytest.mark.parametrize("code", sorted(SHIPPED_CODES))
def test_every_shipped_package_waives_the_poor_to_fiscal(shipped, code):
    waivers = shipped[code].waivers
    assert len(waivers) == 1
    assert set(waivers[0].tags_any) == set(POOR_TAGS)
    assert waivers[0].to_funder == "fiscal"
    assert waivers[0].label == "低保、特困、脱贫人口免缴个人费用"


def test_basic_package_is_40_yuan_for_8_and_open_to_everyone(shipped):
    basic = shipped["basic"]
    assert (basic.list_value_fen, basic.self_pay_fen) == (4000, 800)
    assert basic.eligibility.tags_any == () and basic.eligibility.age_min is None
    assert basic.eligibility.age_max is None and basic.eligibility.sex is None
    assert basic.eligibility.program is None


@pytest.mark.parametrize("code", sorted(SHIPPED_CODES - {"basic"}))
def test_personalised_packages_are_100_to_500_yuan_for_50_to_200(shipped, code):
    d = shipped[code]
    assert d.kind == "personalised"
    assert 10000 <= d.list_value_fen <= 50000
    assert 5000 <= d.self_pay_fen <= 20000


def test_disabled_package_is_255_yuan_for_180_with_three_20_percent_discounts(shipped):
    d = shipped["disabled"]
    assert (d.list_value_fen, d.self_pay_fen) == (25500, 18000)
    assert d.eligibility.tags_any == ("disabled",)
    assert [(x.service_code, x.name, x.rate) for x in d.discounts] == [
        ("liver_function", "肝功能检查", Decimal("0.2")),
        ("kidney_function", "肾功能检查", Decimal("0.2")),
        ("blood_lipids", "血脂检查", Decimal("0.2")),
    ]


@pytest.mark.parametrize(
    "code, tags_any, age_min, age_max, sex, program",
    [
        ("elderly", (), 65, None, None, None),
        ("hypertension", (), None, None, None, "hypertension"),
        ("diabetes", (), None, None, None, "diabetes"),
        ("mental_health", (), None, None, None, "mental_disorder"),
        ("maternal", ("pregnant_postpartum",), None, None, "female", None),
        ("child", (), 0, 6, None, None),
        ("disabled", ("disabled",), None, None, None, None),
        ("tcm", (), None, None, None, None),
    ],
)
def test_shipped_eligibility(shipped, code, tags_any, age_min, age_max, sex, program):
    e = shipped[code].eligibility
    assert (e.tags_any, e.age_min, e.age_max, e.sex, e.program) == (tags_any, age_min, age_max, sex, program)


@pytest.mark.parametrize("code", sorted(SHIPPED_CODES))
def test_to_dict_from_dict_round_trip(shipped, code):
    d = shipped[code]
    snapshot = json.loads(json.dumps(d.to_dict(), ensure_ascii=False))  # as a contract stores it
    again = PackageDefinition.from_dict(snapshot)
    assert again == d
    assert again.to_dict() == d.to_dict()
    assert content_hash(again) == content_hash(d)


def test_same_service_has_same_code_and_name_across_packages(shipped):
    names: dict[str, set[str]] = {}
    for d in shipped.values():
        for item in d.items:
            names.setdefault(item.code, set()).add(item.name)
    assert {code: n for code, n in names.items() if len(n) > 1} == {}


# --- content_hash ----------------------------------------------------------------

def test_content_hash_is_stable_across_loads(shipped):
    again = {d.code: d for d in load_directory(CATALOG_DIR)}
    for code, d in shipped.items():
        h = content_hash(d)
        assert len(h) == 64 and int(h, 16) >= 0
        assert content_hash(again[code]) == h


def test_content_hash_ignores_layout_but_not_content():
    data = valid()
    original = content_hash(parse(data))
    reordered = yaml.safe_dump(dict(reversed(list(data.items()))), allow_unicode=True, default_flow_style=True)
    assert content_hash(parse_package("# a comment\n" + reordered, "sample.yaml")) == original

    for mutate in (with_(("items", 0, "name"), "血压测量（诊室）"), with_(("version",), 2),
                   with_(("discounts", 0, "rate"), "0.25"), with_(("waivers", 0, "to_funder"), "public_health")):
        changed = valid()
        mutate(changed)
        assert content_hash(parse(changed)) != original


def test_hashes_of_shipped_packages_differ(shipped):
    assert len({content_hash(d) for d in shipped.values()}) == len(shipped)


# --- parse_package: a valid file and its variants -----------------------------------

def valid() -> dict:
    return {
        "code": "sample",
        "name": "测试服务包",
        "kind": "personalised",
        "version": 1,
        "effective_from": dt.date(2026, 1, 1),
        "description": "用于测试的服务包",
        "eligibility": {"tags_any": ["disabled"], "age_min": 18, "age_max": 80},
        "items": [
            {"code": "bp_check", "name": "血压测量", "times_per_year": 4, "unit_value_fen": 500},
            {"code": "home_visit", "name": "上门随访", "times_per_year": 2, "unit_value_fen": 1500},
            {"code": "fasting_glucose", "name": "空腹血糖检测", "times_per_year": 1, "unit_value_fen": 1000},
        ],
        "list_value_fen": 6000,
        "funding": {"medical_insurance": 2000, "public_health": 1000, "fiscal": 500, "partner_discount": 500},
        "self_pay_fen": 2000,
        "waivers": [{"tags_any": list(POOR_TAGS), "to_funder": "fiscal", "label": "低保、特困、脱贫人口免缴个人费用"}],
        "discounts": [{"service_code": "liver_function", "name": "肝功能检查", "rate": "0.2"}],
    }


def dump(data: object) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def parse(data: dict, file_name: str = "sample.yaml") -> PackageDefinition:
    return parse_package(dump(data), file_name)


def _parent(data, path):
    for key in path[:-1]:
        data = data[key]
    return data


def with_(path: tuple, value):
    def mutate(data):
        _parent(data, path)[path[-1]] = value
    return mutate


def without(path: tuple):
    def mutate(data):
        del _parent(data, path)[path[-1]]
    return mutate


def both(*mutations):
    def mutate(data):
        for m in mutations:
            m(data)
    return mutate


def test_valid_file_parses():
    d = parse(valid())
    assert d.code == "sample" and d.kind == "personalised" and d.version == 1
    assert d.effective_from == dt.date(2026, 1, 1)
    assert d.eligibility.tags_any == ("disabled",) and (d.eligibility.age_min, d.eligibility.age_max) == (18, 80)
    assert [(i.code, i.times_per_year, i.unit_value_fen) for i in d.items] == [
        ("bp_check", 4, 500), ("home_visit", 2, 1500), ("fasting_glucose", 1, 1000)]
    assert d.funding == {"medical_insurance": 2000, "public_health": 1000, "fiscal": 500, "partner_discount": 500}
    assert d.waivers[0].tags_any == POOR_TAGS
    assert d.discounts[0].rate == Decimal("0.2")
    assert d.source_file == "sample.yaml"


@pytest.mark.parametrize(
    "mutate, check",
    [
        # effective_from as a quoted string
        (with_(("effective_from",), "2026-03-01"), lambda d: d.effective_from == dt.date(2026, 3, 1)),
        # omitted funders fund 0 and are still listed
        (both(without(("funding", "fiscal")), without(("funding", "partner_discount")),
              with_(("self_pay_fen",), 3000)),
         lambda d: d.funding == {"medical_insurance": 2000, "public_health": 1000, "fiscal": 0, "partner_discount": 0}),
        # optional parts absent
        (both(without(("eligibility",)), without(("waivers",)), without(("discounts",))),
         lambda d: d.eligibility.tags_any == () and d.waivers == () and d.discounts == ()),
        (with_(("eligibility",), {}), lambda d: d.eligibility.age_min is None),
        # a waiver's funder defaults to fiscal, its label to ""
        (with_(("waivers", 0), {"tags_any": ["extreme_poverty"]}),
         lambda d: (d.waivers[0].to_funder, d.waivers[0].label) == ("fiscal", "")),
        # a rate may be a number
        (with_(("discounts", 0, "rate"), 0.15), lambda d: d.discounts[0].rate == Decimal("0.15")),
        (with_(("discounts", 0, "rate"), " 0.05 "), lambda d: d.discounts[0].rate == Decimal("0.05")),
        # a basic package with an empty eligibility
        (both(with_(("kind",), "basic"), with_(("eligibility",), {})), lambda d: d.kind == "basic"),
        # free items and a package the resident pays nothing for
        (both(with_(("items", 0, "unit_value_fen"), 0), with_(("list_value_fen",), 4000),
              with_(("self_pay_fen",), 0)), lambda d: d.self_pay_fen == 0),
        # ages at the bounds
        (with_(("eligibility",), {"age_min": 0, "age_max": 150}), lambda d: d.eligibility.age_max == 150),
        (with_(("eligibility",), {"sex": "female", "program": "mental_disorder"}),
         lambda d: (d.eligibility.sex, d.eligibility.program) == ("female", "mental_disorder")),
    ],
)
def test_valid_variants(mutate, check):
    data = valid()
    mutate(data)
    assert check(parse(data))


# --- parse_package: every kind of error ----------------------------------------------

ERROR_CASES = [
    # id, mutation, field, reason (a fragment of it)
    ("unknown top-level key", with_(("colour",), "red"), "colour", "unknown key"),
    ("unknown item key", with_(("items", 1, "price"), 100), "items[1].price", "unknown key"),
    ("unknown eligibility key", with_(("eligibility", "region"), "north"), "eligibility.region", "unknown key"),
    ("unknown waiver key", with_(("waivers", 0, "rate"), 1), "waivers[0].rate", "unknown key"),
    ("unknown discount key", with_(("discounts", 0, "until"), "2026-12-31"), "discounts[0].until", "unknown key"),
    ("missing name", without(("name",)), "name", "required key missing"),
    ("missing description", without(("description",)), "description", "required key missing"),
    ("missing self_pay_fen", without(("self_pay_fen",)), "self_pay_fen", "required key missing"),
    ("missing item key", without(("items", 0, "times_per_year")), "items[0].times_per_year", "required key missing"),
    ("missing waiver tags", without(("waivers", 0, "tags_any")), "waivers[0].tags_any", "required key missing"),
    ("missing discount rate", without(("discounts", 0, "rate")), "discounts[0].rate", "required key missing"),
    ("bool as version", with_(("version",), True), "version", "must be an integer, not a boolean (true)"),
    ("bool as times", with_(("items", 0, "times_per_year"), True), "items[0].times_per_year",
     "must be an integer, not a boolean"),
    ("float as int", with_(("items", 2, "unit_value_fen"), 1000.0), "items[2].unit_value_fen",
     "must be an integer, not a decimal number (1000.0)"),
    ("float funding", with_(("funding", "fiscal"), 500.5), "funding.fiscal", "must be an integer"),
    ("string as int", with_(("list_value_fen",), "6000"), "list_value_fen", "must be an integer, not a string"),
    ("bool as age", with_(("eligibility", "age_min"), False), "eligibility.age_min", "must be an integer"),
    ("upper-case code", with_(("code",), "Sample"), "code", "must match ^[a-z][a-z0-9_]{1,39}$"),
    ("one-letter code", with_(("code",), "s"), "code", "must match"),
    ("code with dash", with_(("code",), "sam-ple"), "code", "must match"),
    ("code not a string", with_(("code",), 7), "code", "must be a string"),
    ("bad item code", with_(("items", 1, "code"), "1visit"), "items[1].code", "must match"),
    ("bad discount code", with_(("discounts", 0, "service_code"), "肝功能"), "discounts[0].service_code", "must match"),
    ("code is not the file name", with_(("code",), "other"), "code",
     "must equal the file name without its extension ('sample'), got 'other'"),
    ("bad kind", with_(("kind",), "extra"), "kind", "unknown kind 'extra' (known: basic, personalised)"),
    ("version 0", with_(("version",), 0), "version", "must be >= 1, got 0"),
    ("empty name", with_(("name",), "  "), "name", "must not be empty"),
    ("item sum mismatch", with_(("items", 0, "unit_value_fen"), 400), "list_value_fen",
     "must equal the sum of items (times_per_year × unit_value_fen) = 5600, got 6000"),
    ("funding sum mismatch", with_(("self_pay_fen",), 2100), "funding",
     "sum(funding) 4000 + self_pay_fen 2100 = 6100, must equal list_value_fen 6000"),
    ("negative funding", with_(("funding", "fiscal"), -500), "funding.fiscal", "must be >= 0, got -500"),
    ("negative unit value", with_(("items", 0, "unit_value_fen"), -1), "items[0].unit_value_fen",
     "must be >= 0, got -1"),
    ("zero times", with_(("items", 0, "times_per_year"), 0), "items[0].times_per_year", "must be >= 1, got 0"),
    ("negative self pay", with_(("self_pay_fen",), -1), "self_pay_fen", "must be >= 0, got -1"),
    ("negative list value", with_(("list_value_fen",), -6000), "list_value_fen", "must be >= 0, got -6000"),
    ("no items", with_(("items",), []), "items", "must not be empty"),
    ("items not a list", with_(("items",), {"code": "bp_check"}), "items", "must be a list, not a mapping"),
    ("item not a mapping", with_(("items", 0), "bp_check"), "items[0]", "must be a mapping, not a string"),
    ("duplicate item code", with_(("items", 1, "code"), "bp_check"), "items[1].code",
     "duplicate item code 'bp_check' (also items[0])"),
    ("unknown eligibility tag", with_(("eligibility", "tags_any"), ["vip"]), "eligibility.tags_any[0]",
     "unknown tag 'vip'"),
    ("unknown waiver tag", with_(("waivers", 0, "tags_any", 1), "rich"), "waivers[0].tags_any[1]",
     "unknown tag 'rich'"),
    ("empty tag list", with_(("eligibility", "tags_any"), []), "eligibility.tags_any", "must not be empty"),
    ("repeated tag", with_(("eligibility", "tags_any"), ["disabled", "disabled"]), "eligibility.tags_any[1]",
     "duplicate tag 'disabled'"),
    ("unknown funder in funding", with_(("funding", "charity"), 0), "funding.charity", "unknown funder"),
    ("unknown funder in waiver", with_(("waivers", 0, "to_funder"), "charity"), "waivers[0].to_funder",
     "unknown funder 'charity'"),
    ("funding not a mapping", with_(("funding",), [2000, 1000]), "funding", "must be a mapping, not a list"),
    ("age_min > age_max", with_(("eligibility", "age_min"), 81), "eligibility.age_min",
     "must be <= age_max 80, got 81"),
    ("age over 150", with_(("eligibility", "age_max"), 151), "eligibility.age_max", "must be <= 150, got 151"),
    ("negative age", with_(("eligibility", "age_min"), -1), "eligibility.age_min", "must be >= 0, got -1"),
    ("bad sex", with_(("eligibility", "sex"), "f"), "eligibility.sex", "unknown sex 'f' (known: male, female)"),
    ("bad program", with_(("eligibility", "program"), "tuberculosis"), "eligibility.program",
     "unknown program 'tuberculosis'"),
    ("eligibility not a mapping", with_(("eligibility",), ["disabled"]), "eligibility", "must be a mapping"),
    ("rate 0", with_(("discounts", 0, "rate"), "0"), "discounts[0].rate", "must be strictly between 0 and 1"),
    ("rate 1.5", with_(("discounts", 0, "rate"), 1.5), "discounts[0].rate",
     "must be strictly between 0 and 1 (0.2 = 20% off), got 1.5"),
    ("rate 1", with_(("discounts", 0, "rate"), 1), "discounts[0].rate", "must be strictly between 0 and 1"),
    ("rate negative", with_(("discounts", 0, "rate"), "-0.2"), "discounts[0].rate", "strictly between 0 and 1"),
    ("rate not a number", with_(("discounts", 0, "rate"), "20%"), "discounts[0].rate", "not a decimal number: '20%'"),
    ("rate NaN", with_(("discounts", 0, "rate"), "NaN"), "discounts[0].rate", "strictly between 0 and 1"),
    ("rate bool", with_(("discounts", 0, "rate"), True), "discounts[0].rate", "must be a decimal string"),
    ("duplicate discount", with_(("discounts",), [{"service_code": "liver_function", "name": "肝功能检查", "rate": "0.2"},
                                                  {"service_code": "liver_function", "name": "肝功", "rate": "0.1"}]),
     "discounts[1].service_code", "duplicate service_code 'liver_function' (also discounts[0])"),
    ("basic with eligibility", with_(("kind",), "basic"), "eligibility",
     "a basic package admits every resident: remove its eligibility conditions"),
    ("impossible date", with_(("effective_from",), "2026-02-30"), "effective_from", "not a valid date: '2026-02-30'"),
    ("date with slashes", with_(("effective_from",), "2026/01/01"), "effective_from",
     "must be a date written YYYY-MM-DD, not a string ('2026/01/01')"),
    ("date and time", with_(("effective_from",), dt.datetime(2026, 1, 1, 8, 0)), "effective_from",
     "not a date and time"),
    ("date as int", with_(("effective_from",), 20260101), "effective_from", "must be a date written YYYY-MM-DD"),
    ("waivers not a list", with_(("waivers",), {"tags_any": ["extreme_poverty"]}), "waivers", "must be a list"),
    ("waiver label not text", with_(("waivers", 0, "label"), 3), "waivers[0].label", "must be a string"),
]


@pytest.mark.parametrize("mutate, field, reason", [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_error(mutate, field, reason):
    data = valid()
    mutate(data)
    with pytest.raises(CatalogError) as caught:
        parse(data)
    err = caught.value
    assert (err.file, err.field) == ("sample.yaml", field)
    assert reason in err.reason
    assert str(err) == f"sample.yaml: {field}: {err.reason}"
    # One mistake, one message: no knock-on errors from the checks that depend on it.
    assert err.problems == ((field, err.reason),)


@pytest.mark.parametrize(
    "text, field, reason",
    [
        ("", DOCUMENT, "the file is empty"),
        ("# only a comment\n", DOCUMENT, "the file is empty"),
        ("- code: sample\n", DOCUMENT, "must be a mapping, not a list"),
        ("code: [sample\n", DOCUMENT, "invalid YAML at line 2"),
        ("code: sample\ncode: sample\n", DOCUMENT, "found duplicate key 'code'"),
    ],
)
def test_error_in_raw_text(text, field, reason):
    with pytest.raises(CatalogError) as caught:
        parse_package(text, "sample.yaml")
    assert (caught.value.file, caught.value.field) == ("sample.yaml", field)
    assert reason in caught.value.reason


def _raw_valid(effective_from: str) -> str:
    data = valid()
    data["effective_from"] = "@DATE@"
    return dump(data).replace("'@DATE@'", effective_from)


@pytest.mark.parametrize(
    "written, expected",
    [
        ("2026-01-01", dt.date(2026, 1, 1)),          # a bare YAML date
        ("'2026-01-01'", dt.date(2026, 1, 1)),        # a quoted string
        ("2026-02-30", "not a valid date: '2026-02-30'"),
        ("2026-13-01", "not a valid date: '2026-13-01'"),
        ("2026-1-1", "must be a date written YYYY-MM-DD, not a string ('2026-1-1')"),
        ("2026-01-01 08:00:00", "not a date and time"),
        ("", "not empty (null)"),
    ],
)
def test_effective_from_as_written(written, expected):
    text = _raw_valid(written)
    if isinstance(expected, dt.date):
        assert parse_package(text, "sample.yaml").effective_from == expected
        return
    with pytest.raises(CatalogError) as caught:
        parse_package(text, "sample.yaml")
    assert caught.value.field == "effective_from"
    assert expected in caught.value.reason


def test_duplicate_nested_key_is_an_error():
    text = dump(valid()).replace("  age_max: 80\n", "  age_max: 80\n  age_max: 90\n")
    assert "age_max: 90" in text
    with pytest.raises(CatalogError) as caught:
        parse_package(text, "sample.yaml")
    assert caught.value.field == DOCUMENT
    assert "found duplicate key 'age_max'" in caught.value.reason


def test_every_problem_of_a_file_is_listed_first_one_first():
    data = valid()
    data["colour"] = "red"
    data["version"] = 0
    data["items"][1]["unit_value_fen"] = 1.5
    data["eligibility"]["sex"] = "x"
    with pytest.raises(CatalogError) as caught:
        parse(data, "packages/sample.yaml")
    err = caught.value
    assert err.problems == (
        ("colour", "unknown key (allowed: code, name, kind, version, effective_from, description, items, "
                   "list_value_fen, funding, self_pay_fen, eligibility, waivers, discounts)"),
        ("version", "must be >= 1, got 0"),
        ("eligibility.sex", "unknown sex 'x' (known: male, female)"),
        ("items[1].unit_value_fen", "must be an integer, not a decimal number (1.5)"),
    )
    assert (err.file, err.field, err.reason) == ("packages/sample.yaml", *err.problems[0])
    assert err.lines() == [f"packages/sample.yaml: {f}: {r}" for f, r in err.problems]


def test_code_is_compared_with_the_file_name_stem():
    data = valid()
    assert parse(data, "/some/dir/sample.yml").code == "sample"
    with pytest.raises(CatalogError) as caught:
        parse(data, "/some/dir/sample2.yaml")
    assert (caught.value.file, caught.value.field) == ("/some/dir/sample2.yaml", "code")


# --- load_directory / scan_directory --------------------------------------------------

@pytest.fixture
def catalog_copy(tmp_path):
    target = tmp_path / "packages_catalog"
    shutil.copytree(CATALOG_DIR, target)
    return target


def _write(directory, name: str, data: dict) -> None:
    (directory / name).write_text(dump(data), encoding="utf-8")


def test_copy_of_shipped_catalog_loads_and_ignores_other_files(catalog_copy):
    (catalog_copy / "notes.txt").write_text("not a package", encoding="utf-8")
    (catalog_copy / ".draft.yaml").write_text("nonsense: [", encoding="utf-8")
    assert [d.code for d in load_directory(str(catalog_copy))] == sorted(SHIPPED_CODES)


def test_yml_files_are_read_too(catalog_copy):
    data = valid()
    data["code"] = "rehab"
    _write(catalog_copy, "rehab.yml", data)
    assert "rehab" in [d.code for d in load_directory(str(catalog_copy))]


def test_first_bad_file_is_raised_and_scan_reports_all(catalog_copy):
    tcm = yaml.safe_load((catalog_copy / "tcm.yaml").read_text(encoding="utf-8"))
    tcm["self_pay_fen"] = 7000
    _write(catalog_copy, "tcm.yaml", tcm)
    child = yaml.safe_load((catalog_copy / "child.yaml").read_text(encoding="utf-8"))
    child["items"][0]["times_per_year"] = 4.0
    _write(catalog_copy, "child.yaml", child)

    with pytest.raises(CatalogError) as caught:
        load_directory(str(catalog_copy))
    assert caught.value.file == str(catalog_copy / "child.yaml")
    assert caught.value.field == "items[0].times_per_year"

    definitions, errors = scan_directory(str(catalog_copy))
    assert [(os.path.basename(e.file), e.field) for e in errors] == [
        ("child.yaml", "items[0].times_per_year"), ("tcm.yaml", "funding")]
    assert "sum(funding) 7000 + self_pay_fen 7000 = 14000, must equal list_value_fen 15000" in errors[1].reason
    assert len(definitions) == len(SHIPPED_CODES) - 2


def test_catalog_without_a_basic_package(catalog_copy):
    os.remove(catalog_copy / "basic.yaml")
    with pytest.raises(CatalogError) as caught:
        load_directory(str(catalog_copy))
    assert (caught.value.file, caught.value.field) == (str(catalog_copy), "kind")
    assert caught.value.reason == "the catalog must hold exactly one basic package, found none"


def test_catalog_with_two_basic_packages(catalog_copy):
    data = yaml.safe_load((catalog_copy / "basic.yaml").read_text(encoding="utf-8"))
    data["code"] = "basic_urban"
    _write(catalog_copy, "basic_urban.yaml", data)
    with pytest.raises(CatalogError) as caught:
        load_directory(str(catalog_copy))
    assert (caught.value.field, caught.value.reason) == (
        "kind", "the catalog must hold exactly one basic package, found 2 (basic.yaml, basic_urban.yaml)")


def test_package_code_defined_twice(catalog_copy):
    shutil.copy(catalog_copy / "tcm.yaml", catalog_copy / "tcm.yml")
    with pytest.raises(CatalogError) as caught:
        load_directory(str(catalog_copy))
    assert (caught.value.file, caught.value.field) == (str(catalog_copy / "tcm.yml"), "code")
    assert caught.value.reason == "package code 'tcm' is also defined in tcm.yaml"


def test_file_that_is_not_utf8(catalog_copy):
    (catalog_copy / "tcm.yaml").write_bytes("name: 中医药服务包\n".encode("gbk"))
    with pytest.raises(CatalogError) as caught:
        load_directory(str(catalog_copy))
    assert (caught.value.field, caught.value.reason) == (DOCUMENT, "not UTF-8 text")


def test_missing_and_empty_directory(tmp_path):
    with pytest.raises(CatalogError) as caught:
        load_directory(str(tmp_path / "nowhere"))
    assert (caught.value.field, caught.value.reason) == (DIRECTORY, "not a directory")
    with pytest.raises(CatalogError) as caught:
        load_directory(str(tmp_path))
    assert (caught.value.file, caught.value.field) == (str(tmp_path), DIRECTORY)
    assert "no package files" in caught.value.reason


def test_parse_does_not_mutate_or_share_state():
    data = valid()
    before = copy.deepcopy(data)
    first = parse(data)
    assert data == before
    assert parse(data) == first
