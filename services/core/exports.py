"""Re-exports for a part's `__init__`, loaded on first use.

A part re-exports what routes call (`from services import contracts;
contracts.create_contract(...)`), but importing a part must not import all of
it: the pure clinical rules (`followup.judgement`) and pricing and eligibility
(`catalog`) are imported by tests and tools that must not pull in Flask or the
database. So a part's `__init__` names its exports and the module each comes
from, and the module is imported when a name is first asked for (PEP 562).
"""
from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]]) -> tuple[Callable[[str], Any], Callable[[], list]]:
    """`exports` maps a submodule name to the names it provides; returns the
    package's `__getattr__` and `__dir__`."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{module}"), name)

    def __dir__() -> list:
        return sorted(where)

    return __getattr__, __dir__
