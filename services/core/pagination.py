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


def paginate(stmt: Select, page: int, page_size: int) -> Page:
    """The page's rows, then the total: counted in SQL only when the page does not
    tell it (a full page, or an empty one past the first). A short page ends the
    list, so the total is the rows before it plus its own."""
    offset = (page - 1) * page_size
    # unique(): a page may eager-load a collection in the same statement (joinedload).
    rows = list(db.session.scalars(stmt.limit(page_size).offset(offset)).unique().all())
    if 0 < len(rows) < page_size or (page == 1 and not rows):
        total = offset + len(rows)
    else:
        total = db.session.scalar(
            select(func.count()).select_from(stmt.order_by(None).subquery())
        ) or 0
    return Page(items=rows, page=page, page_size=page_size, total=total)
