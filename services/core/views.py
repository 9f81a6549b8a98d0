"""View dataclasses: a record shown together with facts that are not its columns
(a session's bookability, a booking's history, a resident's no-show count).

Services return these instead of setting attributes on ORM objects. A view
names its own fields; every other attribute is read from `model`, so a schema
serialises the view exactly as it would the model plus the extra fields.
"""
from __future__ import annotations

from typing import Any


class ModelView:
    """Base for dataclasses whose first field is `model`."""

    model: Any

    def __getattr__(self, name: str) -> Any:
        if name == "model":  # not set yet (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.model, name)
