"""The service-package catalog (服务包目录): `packages_catalog/*.yaml` read and
validated into `PackageDefinition`s.

Pure parsing and validation, no database: the `catalog check` / `catalog load`
commands, pricing and the tests all go through here, so a file that passes
`parse_package` is one the rest of the product can trust (known tags and
funders, exact integer-fen sums). The file format is documented in
`packages_catalog/README.md`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from decimal import Decimal, InvalidOperation

import yaml

from services.catalog.types import (
    FUNDERS,
    KINDS,
    PROGRAMS,
    Eligibility,
    OutsideDiscount,
    PackageDefinition,
    PackageItem,
    WaiverRule,
)

CATALOG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "packages_catalog")

CODE_PATTERN = r"^[a-z][a-z0-9_]{1,39}$"
SEXES = ("male", "female")
MAX_AGE = 150
FILE_SUFFIXES = (".yaml", ".yml")

# `field` of an error that concerns the whole file or the whole directory.
DOCUMENT = "(document)"
DIRECTORY = "(directory)"

_CODE_RE = re.compile(CODE_PATTERN)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_TOP_REQUIRED = ("code", "name", "kind", "version", "effective_from", "description",
                 "items", "list_value_fen", "funding", "self_pay_fen")
_TOP_OPTIONAL = ("eligibility", "waivers", "discounts")
_ELIGIBILITY_KEYS = ("tags_any", "age_min", "age_max", "sex", "program")
_ITEM_KEYS = ("code", "name", "times_per_year", "unit_value_fen")
_WAIVER_REQUIRED = ("tags_any",)
_WAIVER_OPTIONAL = ("to_funder", "label")
_DISCOUNT_KEYS = ("service_code", "name", "rate")


class CatalogError(Exception):
    """A catalog file (or the catalog as a whole) is not valid.

    `file`, `field` (dotted path such as `items[2].unit_value_fen`) and
    `reason` describe the first problem found; `problems` lists every
    `(field, reason)` found in that file, the first one included.
    """

    def __init__(self, file: str, field: str, reason: str,
                 problems: list[tuple[str, str]] | tuple[tuple[str, str], ...] | None = None):
        self.file = file
        self.field = field
        self.reason = reason
        self.problems: tuple[tuple[str, str], ...] = tuple(problems) if problems else ((field, reason),)
        super().__init__(f"{file}: {field}: {reason}")

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"

    def lines(self) -> list[str]:
        """One `file: field: reason` line per problem, for a command to print."""
        return [f"{self.file}: {field}: {reason}" for field, reason in self.problems]


# --- YAML -------------------------------------------------------------------

class _StrictLoader(yaml.SafeLoader):
    """`yaml.safe_load`, except that a repeated key is an error (PyYAML keeps
    the last one silently) and an impossible date such as 2026-02-30 stays a
    string, so the validator can name the field instead of failing to parse."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # unhashable: the base class reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_lenient_timestamp(self, node):
        try:
            return self.construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_lenient_timestamp)


def _yaml_reason(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    return "invalid YAML: " + " ".join(str(exc).split())


# --- validation helpers -------------------------------------------------------
# Each helper records its problems and returns None when the value is unusable,
# so dependent checks (the sums) run only on values that are themselves valid.

def _known_tags() -> dict[str, str]:
    # Imported here, not at module level: the models package may one day
    # import this module (e.g. for content_hash), and that must not be a cycle.
    from services.models.resident import TAG_LABELS

    return TAG_LABELS


def _describe(value: object) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a decimal number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, dt.datetime):
        return f"a date and time ({value.isoformat()})"
    if isinstance(value, dt.date):
        return f"a date ({value.isoformat()})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


class _Checker:
    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def add(self, field: str, reason: str) -> None:
        self.problems.append((field, reason))

    def mapping(self, value: object, path: str, required: tuple[str, ...],
                optional: tuple[str, ...] = (), what: str = "key") -> dict | None:
        if not isinstance(value, dict):
            self.add(path or DOCUMENT, f"must be a mapping, not {_describe(value)}")
            return None
        allowed = required + optional
        for key in value:
            if key not in allowed:
                self.add(_join(path, key), f"unknown {what} (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                self.add(_join(path, key), "required key missing")
        return value

    def sequence(self, value: object, path: str, non_empty: bool = False) -> list | None:
        if not isinstance(value, list):
            self.add(path, f"must be a list, not {_describe(value)}")
            return None
        if non_empty and not value:
            self.add(path, "must not be empty")
            return None
        return value

    def integer(self, value: object, path: str, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        if type(value) is not int:  # bool is an int subclass; 1.0 and "1" are not integers either
            self.add(path, f"must be an integer, not {_describe(value)}")
            return None
        if minimum is not None and value < minimum:
            self.add(path, f"must be >= {minimum}, got {value}")
            return None
        if maximum is not None and value > maximum:
            self.add(path, f"must be <= {maximum}, got {value}")
            return None
        return value

    def text(self, value: object, path: str, allow_empty: bool = False) -> str | None:
        if not isinstance(value, str):
            self.add(path, f"must be a string, not {_describe(value)}")
            return None
        if not allow_empty and not value.strip():
            self.add(path, "must not be empty")
            return None
        return value

    def code(self, value: object, path: str) -> str | None:
        text = self.text(value, path)
        if text is None:
            return None
        if not _CODE_RE.match(text):
            self.add(path, f"must match {CODE_PATTERN} (a lower-case letter, then 1-39 lower-case "
                           f"letters, digits or _), got {text!r}")
            return None
        return text

    def choice(self, value: object, path: str, choices: tuple[str, ...], what: str) -> str | None:
        text = self.text(value, path)
        if text is None:
            return None
        if text not in choices:
            self.add(path, f"unknown {what} {text!r} (known: {', '.join(choices)})")
            return None
        return text

    def tags(self, value: object, path: str) -> tuple[str, ...] | None:
        items = self.sequence(value, path, non_empty=True)
        if items is None:
            return None
        known = tuple(_known_tags())
        ok = True
        seen: set[str] = set()
        for i, tag in enumerate(items):
            tag_path = f"{path}[{i}]"
            if self.choice(tag, tag_path, known, "tag") is None:
                ok = False
            elif tag in seen:
                self.add(tag_path, f"duplicate tag {tag!r}")
                ok = False
            else:
                seen.add(tag)
        return tuple(items) if ok else None

    def date(self, value: object, path: str) -> dt.date | None:
        if type(value) is dt.date:
            return value
        if isinstance(value, str) and _DATE_RE.match(value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                self.add(path, f"not a valid date: {value!r}")
                return None
        self.add(path, f"must be a date written YYYY-MM-DD, not {_describe(value)}")
        return None

    def rate(self, value: object, path: str) -> Decimal | None:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.add(path, f'must be a decimal string such as "0.2" or a number, not {_describe(value)}')
            return None
        try:
            rate = Decimal(value.strip() if isinstance(value, str) else str(value))
        except InvalidOperation:
            self.add(path, f"not a decimal number: {value!r}")
            return None
        if not rate.is_finite() or not Decimal(0) < rate < Decimal(1):
            self.add(path, f"must be strictly between 0 and 1 (0.2 = 20% off), got {value!r}")
            return None
        return rate


# --- one package --------------------------------------------------------------

def _eligibility(c: _Checker, value: object, kind: str | None) -> Eligibility | None:
    if value is None:
        return Eligibility()
    doc = c.mapping(value, "eligibility", (), _ELIGIBILITY_KEYS)
    if doc is None:
        return None
    before = len(c.problems)
    tags_any = c.tags(doc["tags_any"], "eligibility.tags_any") if "tags_any" in doc else ()
    age_min = c.integer(doc["age_min"], "eligibility.age_min", 0, MAX_AGE) if "age_min" in doc else None
    age_max = c.integer(doc["age_max"], "eligibility.age_max", 0, MAX_AGE) if "age_max" in doc else None
    sex = c.choice(doc["sex"], "eligibility.sex", SEXES, "sex") if "sex" in doc else None
    program = c.choice(doc["program"], "eligibility.program", PROGRAMS, "program") if "program" in doc else None
    if age_min is not None and age_max is not None and age_min > age_max:
        c.add("eligibility.age_min", f"must be <= age_max {age_max}, got {age_min}")
    if len(c.problems) > before:
        return None
    eligibility = Eligibility(tags_any=tags_any, age_min=age_min, age_max=age_max, sex=sex, program=program)
    if kind == "basic" and eligibility != Eligibility():
        c.add("eligibility", "a basic package admits every resident: remove its eligibility conditions")
        return None
    return eligibility


def _items(c: _Checker, value: object) -> tuple[PackageItem, ...] | None:
    entries = c.sequence(value, "items", non_empty=True)
    if entries is None:
        return None
    before = len(c.problems)
    items = []
    first_index: dict[str, int] = {}
    for i, entry in enumerate(entries):
        path = f"items[{i}]"
        doc = c.mapping(entry, path, _ITEM_KEYS)
        if doc is None:
            continue
        code = c.code(doc["code"], f"{path}.code") if "code" in doc else None
        name = c.text(doc["name"], f"{path}.name") if "name" in doc else None
        times = c.integer(doc["times_per_year"], f"{path}.times_per_year", 1) if "times_per_year" in doc else None
        unit = c.integer(doc["unit_value_fen"], f"{path}.unit_value_fen", 0) if "unit_value_fen" in doc else None
        if code is not None:
            if code in first_index:
                c.add(f"{path}.code", f"duplicate item code {code!r} (also items[{first_index[code]}])")
            else:
                first_index[code] = i
        if None not in (code, name, times, unit):
            items.append(PackageItem(code=code, name=name, times_per_year=times, unit_value_fen=unit))
    return tuple(items) if len(c.problems) == before else None


def _funding(c: _Checker, value: object) -> dict[str, int] | None:
    """Funders left out of the file fund 0 fen."""
    doc = c.mapping(value, "funding", (), FUNDERS, what="funder")
    if doc is None:
        return None
    before = len(c.problems)
    funding = {funder: 0 for funder in FUNDERS}
    for funder in FUNDERS:
        if funder in doc:
            funding[funder] = c.integer(doc[funder], f"funding.{funder}", 0)
    return funding if len(c.problems) == before else None


def _waivers(c: _Checker, value: object) -> tuple[WaiverRule, ...] | None:
    if value is None:
        return ()
    entries = c.sequence(value, "waivers")
    if entries is None:
        return None
    before = len(c.problems)
    waivers = []
    for i, entry in enumerate(entries):
        path = f"waivers[{i}]"
        doc = c.mapping(entry, path, _WAIVER_REQUIRED, _WAIVER_OPTIONAL)
        if doc is None:
            continue
        tags_any = c.tags(doc["tags_any"], f"{path}.tags_any") if "tags_any" in doc else None
        to_funder = c.choice(doc.get("to_funder", "fiscal"), f"{path}.to_funder", FUNDERS, "funder")
        label = c.text(doc.get("label", ""), f"{path}.label", allow_empty=True)
        if None not in (tags_any, to_funder, label):
            waivers.append(WaiverRule(tags_any=tags_any, to_funder=to_funder, label=label))
    return tuple(waivers) if len(c.problems) == before else None


def _discounts(c: _Checker, value: object) -> tuple[OutsideDiscount, ...] | None:
    if value is None:
        return ()
    entries = c.sequence(value, "discounts")
    if entries is None:
        return None
    before = len(c.problems)
    discounts = []
    first_index: dict[str, int] = {}
    for i, entry in enumerate(entries):
        path = f"discounts[{i}]"
        doc = c.mapping(entry, path, _DISCOUNT_KEYS)
        if doc is None:
            continue
        code = c.code(doc["service_code"], f"{path}.service_code") if "service_code" in doc else None
        name = c.text(doc["name"], f"{path}.name") if "name" in doc else None
        rate = c.rate(doc["rate"], f"{path}.rate") if "rate" in doc else None
        if code is not None:
            if code in first_index:
                c.add(f"{path}.service_code",
                      f"duplicate service_code {code!r} (also discounts[{first_index[code]}])")
            else:
                first_index[code] = i
        if None not in (code, name, rate):
            discounts.append(OutsideDiscount(service_code=code, name=name, rate=rate))
    return tuple(discounts) if len(c.problems) == before else None


def _check_sums(c: _Checker, items, list_value_fen, funding, self_pay_fen) -> None:
    if items is not None and list_value_fen is not None:
        total = sum(i.times_per_year * i.unit_value_fen for i in items)
        if total != list_value_fen:
            c.add("list_value_fen", f"must equal the sum of items (times_per_year × unit_value_fen) = {total}, "
                                    f"got {list_value_fen}")
    if funding is not None and self_pay_fen is not None and list_value_fen is not None:
        funded = sum(funding.values())
        if funded + self_pay_fen != list_value_fen:
            c.add("funding", f"sum(funding) {funded} + self_pay_fen {self_pay_fen} = {funded + self_pay_fen}, "
                             f"must equal list_value_fen {list_value_fen}")


def parse_package(text: str, file_name: str) -> PackageDefinition:
    """Parse and validate one package file; `file_name` names it in errors and
    its stem must equal the package code. Raises CatalogError listing every
    problem found in the file (the first one in file/field/reason)."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # nosec B506 - _StrictLoader is a SafeLoader subclass: safe_load semantics
    except yaml.YAMLError as exc:
        raise CatalogError(file_name, DOCUMENT, _yaml_reason(exc)) from None
    c = _Checker()
    defn = _build(c, data, os.path.splitext(os.path.basename(file_name))[0], file_name)
    if c.problems:
        field, reason = c.problems[0]
        raise CatalogError(file_name, field, reason, c.problems)
    assert defn is not None
    return defn


def _build(c: _Checker, data: object, stem: str, file_name: str) -> PackageDefinition | None:
    if data is None:
        c.add(DOCUMENT, "the file is empty")
        return None
    doc = c.mapping(data, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    if doc is None:
        return None

    def field(key, check, *args):
        return check(doc[key], key, *args) if key in doc else None

    code = field("code", c.code)
    if code is not None and code != stem:
        c.add("code", f"must equal the file name without its extension ({stem!r}), got {code!r}")
    name = field("name", c.text)
    kind = field("kind", c.choice, KINDS, "kind")
    version = field("version", c.integer, 1)
    effective_from = field("effective_from", c.date)
    description = field("description", c.text)
    eligibility = _eligibility(c, doc.get("eligibility"), kind)
    items = _items(c, doc["items"]) if "items" in doc else None
    list_value_fen = field("list_value_fen", c.integer, 0)
    funding = _funding(c, doc["funding"]) if "funding" in doc else None
    self_pay_fen = field("self_pay_fen", c.integer, 0)
    waivers = _waivers(c, doc.get("waivers"))
    discounts = _discounts(c, doc.get("discounts"))
    _check_sums(c, items, list_value_fen, funding, self_pay_fen)
    if c.problems:
        return None
    return PackageDefinition(
        code=code, name=name, kind=kind, version=version, effective_from=effective_from,
        description=description, eligibility=eligibility, items=items, list_value_fen=list_value_fen,
        funding=funding, self_pay_fen=self_pay_fen, waivers=waivers, discounts=discounts,
        source_file=file_name,
    )


# --- the whole catalog --------------------------------------------------------

def scan_directory(path: str) -> tuple[list[PackageDefinition], list[CatalogError]]:
    """Every valid package of the directory and one CatalogError per bad file,
    plus catalog-wide errors (duplicate codes, not exactly one basic package).
    For `catalog check`, which reports everything at once."""
    if not os.path.isdir(path):
        return [], [CatalogError(path, DIRECTORY, "not a directory")]
    names = sorted(n for n in os.listdir(path)
                   if n.endswith(FILE_SUFFIXES) and not n.startswith(".")
                   and os.path.isfile(os.path.join(path, n)))
    if not names:
        return [], [CatalogError(path, DIRECTORY, f"no package files ({', '.join('*' + s for s in FILE_SUFFIXES)})")]
    definitions: list[PackageDefinition] = []
    errors: list[CatalogError] = []
    defined_in: dict[str, str] = {}
    for name in names:
        file_path = os.path.join(path, name)
        try:
            with open(file_path, encoding="utf-8") as fh:
                text = fh.read()
            defn = parse_package(text, file_path)
        except UnicodeDecodeError:
            errors.append(CatalogError(file_path, DOCUMENT, "not UTF-8 text"))
            continue
        except OSError as exc:
            errors.append(CatalogError(file_path, DOCUMENT, f"cannot read the file: {exc.strerror or exc}"))
            continue
        except CatalogError as exc:
            errors.append(exc)
            continue
        if defn.code in defined_in:
            errors.append(CatalogError(file_path, "code",
                                       f"package code {defn.code!r} is also defined in {defined_in[defn.code]}"))
            continue
        defined_in[defn.code] = name
        definitions.append(defn)
    if not errors:
        basics = [os.path.basename(d.source_file) for d in definitions if d.kind == "basic"]
        if len(basics) != 1:
            found = f"{len(basics)} ({', '.join(basics)})" if basics else "none"
            errors.append(CatalogError(path, "kind", f"the catalog must hold exactly one basic package, found {found}"))
    return definitions, errors


def load_directory(path: str) -> list[PackageDefinition]:
    """Every package file (*.yaml, *.yml) of the directory, sorted by file
    name, validated one by one and as a catalog; raises the first CatalogError."""
    definitions, errors = scan_directory(path)
    if errors:
        raise errors[0]
    return definitions


def content_hash(defn: PackageDefinition) -> str:
    """sha256 of the canonical JSON of a definition: equal for equal content,
    whatever the file's layout, comments or key order."""
    canonical = json.dumps(defn.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
