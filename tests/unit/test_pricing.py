import random
from datetime import date

import pytest

from services.catalog.pricing import (
    PackageQuote,
    Quote,
    build_quote,
    check_package_selection,
    quote_package,
)
from services.catalog.types import FUNDERS, Eligibility, PackageDefinition, PackageItem, WaiverRule
from services.core.errors import ValidationFailed

WAIVER_LABEL = "低保、特困、脱贫人口免缴个人费用"
POOR_WAIVER = WaiverRule(
    tags_any=("minimum_living_allowance", "extreme_poverty", "poverty_alleviation"),
    to_funder="fiscal",
    label=WAIVER_LABEL,
)


def make_package(code="basic", *, kind="basic", version=1, items=None, funding=None, waivers=(), name=None):
    """A package whose sums hold: list value from items, self-pay = list - funding."""
    items = items if items is not None else (
        PackageItem("bp_check", "血压测量", 4, 500),
        PackageItem("assessment", "健康评估", 1, 2000),
    )
    list_value = sum(i.times_per_year * i.unit_value_fen for i in items)
    funding = {f: 0 for f in FUNDERS} | dict(funding or {})
    return PackageDefinition(
        code=code, name=name or f"{code}服务包", kind=kind, version=version,
        effective_from=date(2025, 1, 1), description="", eligibility=Eligibility(),
        items=tuple(items), list_value_fen=list_value, funding=funding,
        self_pay_fen=list_value - sum(funding.values()), waivers=tuple(waivers),
    )


# Basic package: 40 yuan of services, resident pays 8 yuan.
BASIC = make_package(
    "basic", funding={"medical_insurance": 1600, "public_health": 1600}, waivers=(POOR_WAIVER,),
)
# Personalised: elderly 150 yuan for 60 yuan; hypertension 300 yuan for 120 yuan, partly fiscal.
ELDERLY = make_package(
    "elderly", kind="personalised",
    items=(PackageItem("home_visit", "上门随访", 2, 5000), PackageItem("ecg", "心电图", 1, 5000)),
    funding={"medical_insurance": 6000, "partner_discount": 3000}, waivers=(POOR_WAIVER,),
)
HYPERTENSION = make_package(
    "hypertension", kind="personalised", version=3,
    items=(PackageItem("bp_check", "血压测量", 12, 1000), PackageItem("lipids", "血脂检查", 2, 9000)),
    funding={"medical_insurance": 10000, "public_health": 2000, "fiscal": 5000, "partner_discount": 1000},
    waivers=(WaiverRule(tags_any=("extreme_poverty",), to_funder="medical_insurance", label="特困人员医保兜底"),),
)


def test_fixture_packages_are_consistent():
    assert BASIC.list_value_fen == 4000 and BASIC.self_pay_fen == 800
    assert ELDERLY.list_value_fen == 15000 and ELDERLY.self_pay_fen == 6000
    assert HYPERTENSION.list_value_fen == 30000 and HYPERTENSION.self_pay_fen == 12000


@pytest.mark.parametrize(
    ("tags", "funding", "self_pay", "waiver"),
    [
        (frozenset(), {"medical_insurance": 1600, "public_health": 1600, "fiscal": 0, "partner_discount": 0}, 800, None),
        (frozenset({"elderly", "hypertension"}),
         {"medical_insurance": 1600, "public_health": 1600, "fiscal": 0, "partner_discount": 0}, 800, None),
        (frozenset({"minimum_living_allowance"}),
         {"medical_insurance": 1600, "public_health": 1600, "fiscal": 800, "partner_discount": 0}, 0, WAIVER_LABEL),
        (frozenset({"extreme_poverty"}),
         {"medical_insurance": 1600, "public_health": 1600, "fiscal": 800, "partner_discount": 0}, 0, WAIVER_LABEL),
        (frozenset({"poverty_alleviation", "elderly"}),
         {"medical_insurance": 1600, "public_health": 1600, "fiscal": 800, "partner_discount": 0}, 0, WAIVER_LABEL),
    ],
)
def test_basic_package(tags, funding, self_pay, waiver):
    q = quote_package(BASIC, tags)
    assert q == PackageQuote(
        code="basic", version=1, name="basic服务包", kind="basic",
        list_value_fen=4000, funding=funding, self_pay_fen=self_pay, waiver=waiver,
    )
    assert list(q.funding) == list(FUNDERS)
    assert sum(q.funding.values()) + q.self_pay_fen == 4000


def test_waiver_adds_to_existing_fiscal_share():
    pkg = make_package(funding={"medical_insurance": 1600, "public_health": 1200, "fiscal": 400}, waivers=(POOR_WAIVER,))
    assert pkg.self_pay_fen == 800
    q = quote_package(pkg, frozenset({"minimum_living_allowance"}))
    assert q.funding == {"medical_insurance": 1600, "public_health": 1200, "fiscal": 1200, "partner_discount": 0}
    assert q.self_pay_fen == 0


@pytest.mark.parametrize(
    ("tags", "funding", "waiver"),
    [
        # First matching rule wins, even though the second one also matches.
        (frozenset({"extreme_poverty", "disabled"}),
         {"medical_insurance": 1600, "public_health": 1600, "fiscal": 800, "partner_discount": 0}, "A"),
        (frozenset({"disabled"}),
         {"medical_insurance": 1600, "public_health": 1600, "fiscal": 0, "partner_discount": 800}, "B"),
        (frozenset({"special_family_planning"}),
         {"medical_insurance": 1600, "public_health": 1600, "fiscal": 0, "partner_discount": 800}, "B"),
    ],
)
def test_first_matching_waiver_applies(tags, funding, waiver):
    pkg = make_package(
        funding={"medical_insurance": 1600, "public_health": 1600},
        waivers=(
            WaiverRule(tags_any=("extreme_poverty",), to_funder="fiscal", label="A"),
            WaiverRule(tags_any=("disabled", "extreme_poverty", "special_family_planning"),
                       to_funder="partner_discount", label="B"),
        ),
    )
    q = quote_package(pkg, tags)
    assert (q.funding, q.self_pay_fen, q.waiver) == (funding, 0, waiver)


def test_waiver_without_label_still_reports_a_label():
    pkg = make_package(funding={"public_health": 3200}, waivers=(WaiverRule(tags_any=("disabled",)),))
    q = quote_package(pkg, frozenset({"disabled"}))
    assert (q.funding["fiscal"], q.self_pay_fen, q.waiver) == (800, 0, "免缴个人费用")


def test_waiver_on_fully_funded_package_reports_nothing_waived():
    pkg = make_package(funding={"public_health": 4000}, waivers=(POOR_WAIVER,))
    q = quote_package(pkg, frozenset({"minimum_living_allowance"}))
    assert (q.funding["fiscal"], q.self_pay_fen, q.waiver) == (0, 0, None)


def test_quote_does_not_mutate_the_package():
    before = dict(BASIC.funding)
    q = quote_package(BASIC, frozenset({"minimum_living_allowance"}))
    q.funding["fiscal"] += 1
    assert BASIC.funding == before
    assert BASIC.self_pay_fen == 800


@pytest.mark.parametrize(
    ("tags", "totals_funding", "totals_self_pay", "self_pays"),
    [
        (frozenset(),
         {"medical_insurance": 17600, "public_health": 3600, "fiscal": 5000, "partner_discount": 4000},
         18800, (800, 6000, 12000)),
        (frozenset({"minimum_living_allowance"}),  # basic + elderly waived to fiscal, hypertension not
         {"medical_insurance": 17600, "public_health": 3600, "fiscal": 11800, "partner_discount": 4000},
         12000, (0, 0, 12000)),
        (frozenset({"extreme_poverty"}),  # hypertension's own rule sends its share to medical insurance
         {"medical_insurance": 29600, "public_health": 3600, "fiscal": 11800, "partner_discount": 4000},
         0, (0, 0, 0)),
    ],
)
def test_totals_over_basic_and_two_personalised(tags, totals_funding, totals_self_pay, self_pays):
    quote = build_quote([BASIC, ELDERLY, HYPERTENSION], tags)
    assert tuple(p.code for p in quote.packages) == ("basic", "elderly", "hypertension")
    assert tuple(p.self_pay_fen for p in quote.packages) == self_pays
    assert quote.list_value_fen == 4000 + 15000 + 30000
    assert quote.funding == totals_funding
    assert list(quote.funding) == list(FUNDERS)
    assert quote.self_pay_fen == totals_self_pay
    assert sum(quote.funding.values()) + quote.self_pay_fen == quote.list_value_fen
    for f in FUNDERS:
        assert quote.funding[f] == sum(p.funding[f] for p in quote.packages)


def test_to_dict_matches_api_shape():
    body = build_quote([BASIC, HYPERTENSION], frozenset({"extreme_poverty"})).to_dict()
    assert body == {
        "packages": [
            {"code": "basic", "version": 1, "name": "basic服务包", "kind": "basic", "list_value_fen": 4000,
             "funding": {"medical_insurance": 1600, "public_health": 1600, "fiscal": 800, "partner_discount": 0},
             "self_pay_fen": 0, "waiver": WAIVER_LABEL},
            {"code": "hypertension", "version": 3, "name": "hypertension服务包", "kind": "personalised",
             "list_value_fen": 30000,
             "funding": {"medical_insurance": 22000, "public_health": 2000, "fiscal": 5000, "partner_discount": 1000},
             "self_pay_fen": 0, "waiver": "特困人员医保兜底"},
        ],
        "totals": {
            "list_value_fen": 34000,
            "funding": {"medical_insurance": 23600, "public_health": 3600, "fiscal": 5800, "partner_discount": 1000},
            "self_pay_fen": 0,
        },
    }
    assert [list(p["funding"]) for p in body["packages"]] == [list(FUNDERS)] * 2
    assert list(body["totals"]["funding"]) == list(FUNDERS)


def test_empty_quote_is_all_zero():
    quote = build_quote([], frozenset({"extreme_poverty"}))
    assert quote == Quote(packages=(), list_value_fen=0, funding={f: 0 for f in FUNDERS}, self_pay_fen=0)


def test_funding_given_in_another_order_comes_out_in_funders_order():
    pkg = make_package(funding={"partner_discount": 100, "fiscal": 200, "public_health": 300, "medical_insurance": 400})
    assert list(quote_package(pkg, frozenset()).funding) == list(FUNDERS)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"self_pay_fen": 799}, AssertionError),                  # sums do not add up
        ({"list_value_fen": 4001}, AssertionError),
        ({"self_pay_fen": 800.0}, TypeError),                     # never floats
        ({"funding": {"medical_insurance": 1600.0, "public_health": 1600}}, TypeError),
        ({"funding": {"medical_insurance": 1600, "public_health": 1600, "insurer": 0}}, ValueError),
        ({"waivers": (WaiverRule(tags_any=("extreme_poverty",), to_funder="charity"),)}, ValueError),
    ],
)
def test_broken_package_is_refused(change, error):
    fields = {f: getattr(BASIC, f) for f in BASIC.__dataclass_fields__} | change
    with pytest.raises(error):
        quote_package(PackageDefinition(**fields), frozenset({"extreme_poverty"}))


ALL_TAGS = (
    "elderly", "child", "pregnant_postpartum", "disabled", "hypertension", "diabetes", "mental_disorder",
    "tuberculosis", "poverty_alleviation", "minimum_living_allowance", "extreme_poverty", "special_family_planning",
)


def random_package(rng: random.Random, n: int) -> PackageDefinition:
    items = tuple(
        PackageItem(f"item{i}", f"项目{i}", rng.randint(1, 12), rng.randint(0, 50_000))
        for i in range(rng.randint(1, 6))
    )
    remaining = sum(i.times_per_year * i.unit_value_fen for i in items)
    funding = {}
    for f in rng.sample(FUNDERS, len(FUNDERS)):
        funding[f] = rng.randint(0, remaining) if rng.random() < 0.7 else 0
        remaining -= funding[f]
    if rng.random() < 0.2:  # sometimes fully funded
        funding[rng.choice(FUNDERS)] += remaining
    waivers = tuple(
        WaiverRule(tags_any=tuple(rng.sample(ALL_TAGS, rng.randint(1, 3))), to_funder=rng.choice(FUNDERS),
                   label=rng.choice(["", f"减免{k}"]))
        for k in range(rng.randint(0, 3))
    )
    return make_package(
        f"p{n}", kind=rng.choice(["basic", "personalised"]), version=rng.randint(1, 5),
        items=items, funding=funding, waivers=waivers,
    )


@pytest.mark.parametrize("seed", range(200))
def test_random_packages_always_balance(seed):
    rng = random.Random(seed)
    packages = [random_package(rng, n) for n in range(rng.randint(0, 5))]
    tags = frozenset(rng.sample(ALL_TAGS, rng.randint(0, 4)))
    quote = build_quote(packages, tags)

    def ints(*values):
        return all(type(v) is int for v in values)

    for pkg, pq in zip(packages, quote.packages, strict=True):
        assert list(pq.funding) == list(FUNDERS)
        assert ints(pq.list_value_fen, pq.self_pay_fen, *pq.funding.values())
        assert min(pq.self_pay_fen, *pq.funding.values()) >= 0
        assert sum(pq.funding.values()) + pq.self_pay_fen == pq.list_value_fen == pkg.list_value_fen
        rule = next((w for w in pkg.waivers if tags & set(w.tags_any)), None)
        if rule is None:
            assert (pq.funding, pq.self_pay_fen, pq.waiver) == (pkg.funding, pkg.self_pay_fen, None)
        else:
            expected = dict(pkg.funding)
            expected[rule.to_funder] += pkg.self_pay_fen
            assert (pq.funding, pq.self_pay_fen) == (expected, 0)
            assert (pq.waiver is None) == (pkg.self_pay_fen == 0)
    assert ints(quote.list_value_fen, quote.self_pay_fen, *quote.funding.values())
    assert sum(quote.funding.values()) + quote.self_pay_fen == quote.list_value_fen
    assert quote.list_value_fen == sum(p.list_value_fen for p in packages)
    for f in FUNDERS:
        assert quote.funding[f] == sum(pq.funding[f] for pq in quote.packages)
    body = quote.to_dict()
    assert body["totals"]["self_pay_fen"] == quote.self_pay_fen
    assert len(body["packages"]) == len(packages)


BASIC_B = make_package("basic_b")
PERSONAL_A = make_package("elderly", kind="personalised")
PERSONAL_B = make_package("diabetes", kind="personalised")


@pytest.mark.parametrize(
    ("packages", "code", "message"),
    [
        ([], "BASIC_PACKAGE_REQUIRED", "须选择且只能选择一个基础服务包"),
        ([PERSONAL_A], "BASIC_PACKAGE_REQUIRED", "须选择且只能选择一个基础服务包"),
        ([PERSONAL_A, PERSONAL_B], "BASIC_PACKAGE_REQUIRED", "须选择且只能选择一个基础服务包"),
        ([BASIC, BASIC_B], "BASIC_PACKAGE_REQUIRED", "须选择且只能选择一个基础服务包"),
        ([BASIC, PERSONAL_A, BASIC_B], "BASIC_PACKAGE_REQUIRED", "须选择且只能选择一个基础服务包"),
        ([BASIC, PERSONAL_A, PERSONAL_A], "DUPLICATE_PACKAGE", "服务包不能重复选择：elderly"),
        ([BASIC, BASIC], "DUPLICATE_PACKAGE", "服务包不能重复选择：basic"),
        ([PERSONAL_A, PERSONAL_A], "DUPLICATE_PACKAGE", "服务包不能重复选择：elderly"),
    ],
)
def test_package_selection_refused(packages, code, message):
    with pytest.raises(ValidationFailed) as exc:
        check_package_selection(packages)
    err = exc.value
    assert err.status == 422
    assert err.code == code
    assert err.message == message
    assert err.errors == {"package_codes": [message]}


@pytest.mark.parametrize(
    "packages",
    [[BASIC], [BASIC, PERSONAL_A], [PERSONAL_B, BASIC, PERSONAL_A], (BASIC_B, PERSONAL_A)],
)
def test_package_selection_ok(packages):
    assert check_package_selection(packages) is None
