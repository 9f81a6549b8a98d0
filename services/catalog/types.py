"""The shape of a service package (服务包) once its YAML file is validated.

Plain frozen dataclasses: the catalog loader produces them, pricing and
eligibility read them, and a contract snapshots them as JSON
(`to_dict`/`from_dict` round-trip exactly).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from decimal import Decimal

FUNDERS = ("medical_insurance", "public_health", "fiscal", "partner_discount")
FUNDER_LABELS = {
    "medical_insurance": "医保基金",
    "public_health": "基本公共卫生服务经费",
    "fiscal": "财政补助",
    "partner_discount": "合作医院让利",
}
PROGRAMS = ("hypertension", "diabetes", "mental_disorder")
KINDS = ("basic", "personalised")


@dataclass(frozen=True)
class PackageItem:
    code: str            # stable within the package, e.g. "bp_check"
    name: str            # 中文名称, e.g. "血压测量"
    times_per_year: int  # >= 1
    unit_value_fen: int  # >= 0


@dataclass(frozen=True)
class Eligibility:
    """Who may take the package. Every condition given must hold; an empty
    Eligibility admits everyone."""

    tags_any: tuple[str, ...] = ()        # resident has at least one of these key-population tags
    age_min: int | None = None            # exact age on the contract start date, inclusive
    age_max: int | None = None            # inclusive (child 0-6: age_max 6)
    sex: str | None = None                # "male" | "female" (e.g. maternal)
    program: str | None = None            # enrolled chronic program: hypertension | diabetes | mental_disorder


@dataclass(frozen=True)
class WaiverRule:
    """Residents with any of `tags_any` pay nothing; their self-pay share goes to `to_funder`."""

    tags_any: tuple[str, ...]
    to_funder: str = "fiscal"
    label: str = ""                       # e.g. "低保、特困、脱贫人口免缴个人费用"


@dataclass(frozen=True)
class OutsideDiscount:
    """A discount on a service outside the package (e.g. 20% off liver function tests)."""

    service_code: str
    name: str
    rate: Decimal                         # 0 < rate < 1, the share taken off (0.2 = 20% off)


@dataclass(frozen=True)
class PackageDefinition:
    code: str
    name: str
    kind: str                             # "basic" | "personalised"
    version: int                          # >= 1, as declared in the file
    effective_from: dt.date
    description: str
    eligibility: Eligibility
    items: tuple[PackageItem, ...]
    list_value_fen: int                   # == sum(times_per_year * unit_value_fen)
    funding: dict[str, int]               # every funder of FUNDERS present (0 allowed), each >= 0
    self_pay_fen: int                     # == list_value_fen - sum(funding)  (>= 0)
    waivers: tuple[WaiverRule, ...] = ()
    discounts: tuple[OutsideDiscount, ...] = ()
    source_file: str = field(default="", compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["effective_from"] = self.effective_from.isoformat()
        d["discounts"] = [{**x, "rate": str(x["rate"])} for x in d["discounts"]]
        d.pop("source_file")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PackageDefinition:
        return cls(
            code=d["code"], name=d["name"], kind=d["kind"], version=d["version"],
            effective_from=dt.date.fromisoformat(d["effective_from"]),
            description=d.get("description", ""),
            eligibility=Eligibility(**{**d["eligibility"], "tags_any": tuple(d["eligibility"].get("tags_any", ()))}),
            items=tuple(PackageItem(**i) for i in d["items"]),
            list_value_fen=d["list_value_fen"], funding=dict(d["funding"]), self_pay_fen=d["self_pay_fen"],
            waivers=tuple(WaiverRule(**{**w, "tags_any": tuple(w["tags_any"])}) for w in d.get("waivers", ())),
            discounts=tuple(OutsideDiscount(**{**x, "rate": Decimal(x["rate"])}) for x in d.get("discounts", ())),
        )
