"""What a set of service packages costs and who pays (报价), in integer fen only.

Pure functions over `PackageDefinition`s and the resident's key-population
tags; no Flask, no database, never a float. For every package and for the
totals, the funding lines plus the self-pay add up exactly to the list value.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.catalog.types import FUNDERS, PackageDefinition
from services.core.errors import ValidationFailed

__all__ = [
    "PackageQuote",
    "Quote",
    "build_quote",
    "check_package_selection",
    "quote_package",
]

DEFAULT_WAIVER_LABEL = "免缴个人费用"

MSG_BASIC_REQUIRED = "须选择且只能选择一个基础服务包"


@dataclass(frozen=True)
class PackageQuote:
    code: str
    version: int
    name: str
    kind: str
    list_value_fen: int
    funding: dict[str, int]   # every funder in FUNDERS, in FUNDERS order
    self_pay_fen: int
    waiver: str | None        # label of the waiver applied, else None

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "version": self.version,
            "name": self.name,
            "kind": self.kind,
            "list_value_fen": self.list_value_fen,
            "funding": dict(self.funding),
            "self_pay_fen": self.self_pay_fen,
            "waiver": self.waiver,
        }


@dataclass(frozen=True)
class Quote:
    packages: tuple[PackageQuote, ...]
    list_value_fen: int
    funding: dict[str, int]   # per-funder sums, in FUNDERS order
    self_pay_fen: int

    def to_dict(self) -> dict:
        """The `POST /quotes` response body (docs/api.md)."""
        return {
            "packages": [p.to_dict() for p in self.packages],
            "totals": {
                "list_value_fen": self.list_value_fen,
                "funding": dict(self.funding),
                "self_pay_fen": self.self_pay_fen,
            },
        }


def _fen(value: object, what: str) -> int:
    # bool is an int subclass; a float or Decimal here means a catalog bug.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int amount in fen, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    return value


def _check_balanced(what: str, list_value_fen: int, funding: dict[str, int], self_pay_fen: int) -> None:
    # An internal invariant, raised explicitly so `python -O` cannot strip it.
    if sum(funding.values()) + self_pay_fen != list_value_fen:
        raise AssertionError(
            f"{what}: funding {funding} + self-pay {self_pay_fen} != list value {list_value_fen}"
        )


def quote_package(package: PackageDefinition, tags: Iterable[str]) -> PackageQuote:
    """Price one package for a resident with the given key-population tags.

    The package's own funding split applies; if a waiver rule matches any of
    the tags, the first matching rule moves the whole self-pay to its funder
    and the resident pays nothing. `waiver` names the rule only when it
    actually waived something (self-pay was not already zero).
    """
    unknown = set(package.funding) - set(FUNDERS)
    if unknown:
        raise ValueError(f"package {package.code}: unknown funders {sorted(unknown)}")
    funding = {f: _fen(package.funding.get(f, 0), f"{package.code}.funding.{f}") for f in FUNDERS}
    self_pay = _fen(package.self_pay_fen, f"{package.code}.self_pay_fen")
    list_value = _fen(package.list_value_fen, f"{package.code}.list_value_fen")
    _check_balanced(f"package {package.code} v{package.version}", list_value, funding, self_pay)

    tag_set = frozenset(tags)
    waiver: str | None = None
    rule = next((w for w in package.waivers if tag_set.intersection(w.tags_any)), None)
    if rule is not None and self_pay > 0:
        if rule.to_funder not in FUNDERS:
            raise ValueError(f"package {package.code}: waiver to unknown funder {rule.to_funder!r}")
        funding[rule.to_funder] += self_pay
        self_pay = 0
        waiver = rule.label or DEFAULT_WAIVER_LABEL

    _check_balanced(f"package {package.code} v{package.version}", list_value, funding, self_pay)
    return PackageQuote(
        code=package.code, version=package.version, name=package.name, kind=package.kind,
        list_value_fen=list_value, funding=funding, self_pay_fen=self_pay, waiver=waiver,
    )


def build_quote(packages: Sequence[PackageDefinition], tags: Iterable[str]) -> Quote:
    """Price each package and sum per funder. Does not check the selection
    rules (one basic package, no duplicates): see `check_package_selection`."""
    tag_set = frozenset(tags)
    quotes = tuple(quote_package(p, tag_set) for p in packages)
    funding = {f: sum(q.funding[f] for q in quotes) for f in FUNDERS}
    list_value = sum(q.list_value_fen for q in quotes)
    self_pay = sum(q.self_pay_fen for q in quotes)
    _check_balanced("quote totals", list_value, funding, self_pay)
    return Quote(packages=quotes, list_value_fen=list_value, funding=funding, self_pay_fen=self_pay)


def check_package_selection(packages: Sequence[PackageDefinition]) -> None:
    """A contract holds exactly one basic package and no package twice.

    Raises ValidationFailed on field `package_codes` with code
    DUPLICATE_PACKAGE (checked first) or BASIC_PACKAGE_REQUIRED.
    """
    counts = Counter(p.code for p in packages)
    duplicates = [code for code, n in counts.items() if n > 1]
    if duplicates:
        raise ValidationFailed.field(
            "package_codes", f"服务包不能重复选择：{'、'.join(duplicates)}", code="DUPLICATE_PACKAGE"
        )
    basic = sum(1 for p in packages if p.kind == "basic")
    if basic != 1:
        raise ValidationFailed.field("package_codes", MSG_BASIC_REQUIRED, code="BASIC_PACKAGE_REQUIRED")
