"""The branches' live board a page at a time, by total, points per member or
participation, without ranking every branch of a city for one page of 50.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text, true
from sqlalchemy.orm import Session

from service.boards.board import BranchLine, BranchMetric, parse_board_period
from service.boards.live import branch_line_of
from service.boards.pages import code_order
from service.persistence.models import (
    Branch,
    BranchRoster,
    BranchTotal,
)
from service.persistence.pagination import PAGE_SIZE, page_bounds
from service.scoring.points import to_tenths
from service.scoring.ranking import Ranked


@dataclass(frozen=True)
class BranchPage:
    """One page of the branches board ranked by ``metric``, with every rank of the
    branches shown."""

    period: str
    metric: str
    rows: list[Ranked[BranchLine]]
    ranks: dict[str, dict[int, int]]  # metric -> branch id -> rank (the rows shown)
    count: int
    page: int
    pages: int


_KEY_COLUMNS = {
    BranchMetric.TOTAL: BranchTotal.points,
    BranchMetric.PER_MEMBER: BranchTotal.per_member_key,
    BranchMetric.PARTICIPATION: BranchTotal.participation_key,
}

_KEY_NAMES = {
    BranchMetric.TOTAL: "points",
    BranchMetric.PER_MEMBER: "per_member_key",
    BranchMetric.PARTICIPATION: "participation_key",
}


def _key_of(metric: BranchMetric, row: Any) -> Any:
    return getattr(row, _KEY_NAMES[metric])


@dataclass(frozen=True)
class _Segments:
    """Where a metric puts the branches of a span: those above zero (from the index,
    highest first), those at zero, rows or none (by code), those below zero."""

    above: int
    zero: int
    below: int
    without_row: int  # branches with no row for the span (all their figures zero)


def _segments(session: Session, key: str, column: Any, count: int) -> _Segments:
    def rows(condition: Any) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(BranchTotal)
                .where(BranchTotal.period == key, condition)
            )
            or 0
        )

    above, below = rows(column > 0), rows(column < 0)
    with_row = rows(true())
    return _Segments(above, count - above - below, below, count - with_row)


def _sorted_keys(session: Session, key: str, metric: BranchMetric) -> list[Any]:
    """Every branch row's ``metric`` key in the span, in ascending order (points in
    tenths): one index-only scan of the span's rows. A count of rows above a value is
    then a bisection, where a COUNT per value would scan half the index each."""
    column = _KEY_NAMES[metric]
    result = session.execute(
        text(f"SELECT {column} FROM branch_total WHERE period = :period ORDER BY {column}"),  # noqa: S608 - fixed names
        {"period": key},
    )
    try:
        # Plain numbers (no type to apply): straight from the driver's cursor, at half
        # the cost of a Row each for a city's 20,000 branches.
        return [value for (value,) in result.cursor.fetchall()]  # type: ignore[attr-defined]
    finally:
        result.close()


def _key_value(metric: BranchMetric, value: Any) -> Any:
    """A row's key as ``_sorted_keys`` has them (points in tenths)."""
    return to_tenths(value) if metric is BranchMetric.TOTAL else value


def _counts_above(keys: list[Any], metric: BranchMetric, values: list[Any]) -> list[int]:
    """For each value, how many branch rows of the span (``keys``, from
    ``_sorted_keys``) have a higher ``metric``."""
    return [len(keys) - bisect_right(keys, _key_value(metric, value)) for value in values]


def _segments_of(keys: list[Any], count: int) -> _Segments:
    """``_segments`` from the span's sorted keys (``_sorted_keys``)."""
    above = len(keys) - bisect_right(keys, 0)
    below = bisect_left(keys, 0)
    return _Segments(above, count - above - below, below, count - len(keys))


def _total_line_query() -> Any:
    return select(
        BranchTotal.branch_id,
        Branch.code,
        Branch.name,
        Branch.kind,
        BranchTotal.points,
        BranchTotal.participants,
        BranchTotal.members,
        BranchTotal.per_member_key,
        BranchTotal.participation_key,
    ).join(Branch, Branch.id == BranchTotal.branch_id)


def _keyed_slice(
    session: Session,
    key: str,
    metric: BranchMetric,
    first: int,
    last: int,
    *,
    negative: bool,
    segments: _Segments,
) -> list[tuple[Ranked[BranchLine], Any]]:
    """Positions ``first`` to ``last`` of the branches above zero (or below zero, with
    ``negative``, counted within that segment), ranked; with each row's keys.

    The rows come in the board's order (the key, then the code) from the index with
    LIMIT and OFFSET, one more on each side to tell a tie across the page's edge; a
    rank is one more than the rows with a higher key: counted for the page's first key,
    the position in the order for the others."""
    column = _KEY_COLUMNS[metric]
    sign = column < 0 if negative else column > 0
    before = 1 if first > 0 else 0
    size = last - first + 1
    found = list(
        session.execute(
            _total_line_query()
            .where(BranchTotal.period == key, sign)
            .order_by(column.desc(), code_order(session, Branch.code))
            .limit(size + before + 1)
            .offset(first - before)
        )
    )
    if len(found) <= before:
        return []
    values = [_key_of(metric, row) for row in found]
    higher = (
        session.scalar(
            select(func.count())
            .select_from(BranchTotal)
            .where(BranchTotal.period == key, sign, column > values[before])
        )
        or 0
    )
    offset = segments.above + segments.zero if negative else 0
    out: list[tuple[Ranked[BranchLine], Any]] = []
    rank = offset + higher + 1
    for index in range(before, min(len(found), before + size)):
        value = values[index]
        if index > before and value != values[index - 1]:
            rank = offset + first + (index - before) + 1
        tied = (index > 0 and values[index - 1] == value) or (
            index + 1 < len(found) and values[index + 1] == value
        )
        out.append((Ranked(rank=rank, tied=tied, item=branch_line_of(found[index])), found[index]))
    return out


def _zero_slice(
    session: Session, key: str, metric: BranchMetric, first: int, last: int, segments: _Segments
) -> list[tuple[Ranked[BranchLine], Any]]:
    """Positions ``first`` to ``last`` of the branches whose metric is zero (a row at
    zero or none), by code: they share the rank after those above zero."""
    column = _KEY_COLUMNS[metric]
    rows = session.execute(
        select(
            Branch.id.label("branch_id"),
            Branch.code,
            Branch.name,
            Branch.kind,
            func.coalesce(BranchTotal.points, 0).label("points"),
            func.coalesce(BranchTotal.participants, 0).label("participants"),
            func.coalesce(BranchRoster.members, 0).label("members"),
            func.coalesce(BranchTotal.per_member_key, 0.0).label("per_member_key"),
            func.coalesce(BranchTotal.participation_key, 0.0).label("participation_key"),
        )
        .outerjoin(BranchTotal, (BranchTotal.period == key) & (BranchTotal.branch_id == Branch.id))
        .outerjoin(BranchRoster, BranchRoster.branch_id == Branch.id)
        .where(func.coalesce(column, 0) == 0)
        .order_by(code_order(session, Branch.code))
        .limit(last - first + 1)
        .offset(first)
    )
    return [
        (
            Ranked(rank=segments.above + 1, tied=segments.zero > 1, item=branch_line_of(row)),
            row,
        )
        for row in rows
    ]


def branch_page(
    session: Session,
    period: str,
    metric: str,
    page: int = 1,
    *,
    size: int = PAGE_SIZE,
    other_ranks: bool = True,
) -> BranchPage:
    """Page ``page`` of the branches ranked by ``metric``: the order, ranks and ties of
    ``branch_board``, read a page at a time from the span's branch totals by index
    (``branch_total``: a row per branch with activity in the span; a branch without one
    has every figure at zero)."""
    metric = BranchMetric(metric)
    key = parse_board_period(period).key
    count = session.scalar(select(func.count()).select_from(Branch)) or 0
    pages, page = page_bounds(count, page, size)
    first, last = (page - 1) * size, min(page * size, count) - 1
    column = _KEY_COLUMNS[metric]
    found: list[tuple[Ranked[BranchLine], Any]] = []
    # Most pages (the first ones) lie wholly above zero: then nothing needs counting.
    wholly_above = session.scalar(
        select(column)
        .where(BranchTotal.period == key, column > 0)
        .order_by(column.desc())
        .limit(1)
        .offset(last)
    )
    segments = (
        _Segments(above=last + 1, zero=0, below=0, without_row=0)
        if wholly_above is not None
        else _segments(session, key, column, count)
    )
    if first <= min(last, segments.above - 1):
        found += _keyed_slice(
            session, key, metric, first, min(last, segments.above - 1), negative=False,
            segments=segments,
        )  # fmt: skip
    zero_first = max(first, segments.above)
    zero_last = min(last, segments.above + segments.zero - 1)
    if zero_first <= zero_last:
        found += _zero_slice(
            session, key, metric, zero_first - segments.above, zero_last - segments.above,
            segments,
        )  # fmt: skip
    below_first = max(first, segments.above + segments.zero)
    if below_first <= last:
        offset = segments.above + segments.zero
        found += _keyed_slice(
            session, key, metric, below_first - offset, last - offset, negative=True,
            segments=segments,
        )  # fmt: skip
    rows = [ranked for ranked, _row in found]
    ranks: dict[str, dict[int, int]] = {metric.value: {r.item.branch_id: r.rank for r in rows}}
    if other_ranks and found:
        for other in BranchMetric:
            if other is metric:
                continue
            keys = _sorted_keys(session, key, other)
            others = _segments_of(keys, count)
            values = [_key_of(other, row) for _ranked, row in found]
            higher = _counts_above(keys, other, values)
            ranks[other.value] = {
                ranked.item.branch_id: (
                    others.above + 1
                    if value == 0
                    else above + 1 + (others.without_row if value < 0 else 0)
                )
                for (ranked, _row), value, above in zip(found, values, higher, strict=True)
            }
    return BranchPage(
        period=period, metric=metric.value, rows=rows, ranks=ranks, count=count, page=page,
        pages=pages,
    )  # fmt: skip
