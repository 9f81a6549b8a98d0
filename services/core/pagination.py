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
    total = db.session.scalar(
        select(func.count()).select_from(stmt.order_by(None).subquery())
    ) or 0
    rows = db.session.scalars(stmt.limit(page_size).offset((page - 1) * page_size)).all()
    return Page(items=list(rows), page=page, page_size=page_size, total=total)
