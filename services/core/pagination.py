"""The one pagination helper: a select() in, a page of rows and the total out."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from services.core.db import db


@dataclass
class Page:
    items: list[Any]
    page: int
    page_size: int
    total: int

    def with_items(self, convert: Callable[[list[Any]], list[Any]]) -> Page:
        """The same page with its rows turned into what is shown (views, dicts)."""
        return Page(items=convert(self.items), page=self.page, page_size=self.page_size, total=self.total)

    def as_dict(self, items: list[Any] | None = None) -> dict:
        return {"items": self.items if items is None else items, "page": self.page,
                "page_size": self.page_size, "total": self.total}


def paginate(stmt: Select, page: int, page_size: int, *, rows: bool = False, params: dict | None = None) -> Page:
    """The page's rows, then the total: counted in SQL only when the page does not
    tell it (a full page, or an empty one past the first). A short page ends the
    list, so the total is the rows before it plus its own.

    `rows=True`: `stmt` selects columns, not entities; the page holds its Row
    tuples, read on the session's connection without the ORM (hot lists).
    `params`: values for the statement's bound parameters (a statement built once)."""
    offset = (page - 1) * page_size
    limited = stmt.limit(page_size).offset(offset)
    if rows:
        found = list(db.session.connection().execute(limited, params).all())
    else:
        # unique(): a page may eager-load a collection in the same statement (joinedload).
        found = list(db.session.scalars(limited, params).unique().all())
    if 0 < len(found) < page_size or (page == 1 and not found):
        total = offset + len(found)
    else:
        total = db.session.scalar(
            select(func.count()).select_from(stmt.order_by(None).subquery()), params
        ) or 0
    return Page(items=found, page=page, page_size=page_size, total=total)
