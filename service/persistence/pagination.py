"""Long lists: one page at a time, counted and fetched in the database (LIMIT/OFFSET), so
no list is ever cut short: every item is on some page. A page asked for beyond the last
is the last page; anything that is not a page number is the first. And the search box
most lists have (``matching``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, TypeVarTuple

from sqlalchemy import ColumnElement, Row, Select, func, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from service.kernel.numbers import parse_int

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

PAGE_SIZE = 50
# Longer than any page there can be; a longer number is simply "the last page".
PAGE_DIGITS_MAX = 9
PAGE_MAX = int("9" * PAGE_DIGITS_MAX)


def page_number(text: str | None) -> int:
    """The page a query string asks for: 1 for a missing, empty or non-numeric value, so
    an edited address never fails; a number past the last page is clamped later."""
    text = (text or "").strip()
    if len(text) > PAGE_DIGITS_MAX:
        # Longer than any page: the last page, when it is a number at all.
        return PAGE_MAX if text.isascii() and text.isdigit() else 1
    return parse_int(text, low=1, high=PAGE_MAX) or 1


def page_bounds(total: int, page: int, size: int) -> tuple[int, int]:
    """(pages, page): at least one page, and ``page`` within them."""
    pages = max(1, -(-total // size))
    return pages, min(max(page, 1), pages)


@dataclass(frozen=True)
class Page(Generic[T]):
    """The items of one page and where it lies among all of them."""

    items: list[T]
    total: int  # items on every page together
    page: int  # 1-based, within 1..pages
    pages: int
    size: int

    @property
    def first(self) -> int:
        """1-based position of the page's first item (0 on an empty list)."""
        return (self.page - 1) * self.size + 1 if self.items else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.size + len(self.items)


def fetch_page(
    session: Session, statement: Select[*Ts], *, page: int, size: int = PAGE_SIZE
) -> tuple[Sequence[Row[*Ts]], int, int, int]:
    """Count what ``statement`` selects, clamp ``page``, and fetch that page's rows.
    ``statement`` must be ordered on something unique (an id last), so that pages neither
    repeat nor skip a row. Returns (rows, total, page, pages)."""
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    total = total or 0
    pages, page = page_bounds(total, page, size)
    rows = session.execute(statement.limit(size).offset((page - 1) * size)).all()
    return rows, total, page, pages


def matching(
    statement: Select[*Ts], query: str, *columns: ColumnElement[str] | QueryableAttribute[str]
) -> Select[*Ts]:
    """``statement`` narrowed to rows where any of ``columns`` contains the typed
    ``query`` (case-insensitively); unchanged for an empty query."""
    text = query.strip()
    if not text:
        return statement
    pattern = f"%{text}%"
    return statement.where(or_(*(column.ilike(pattern) for column in columns)))
