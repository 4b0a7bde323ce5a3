"""The members' live board a page at a time.

A city has 100,000 members and 20,000 branches: a page of 50 must not rank them all.
The town board of a span reads the members' totals (service/boards/totals.py) in points
order from an index and ranks a member by counting who has more; its counts come from
board_count. The results are those of ``member_board``, a page at a time.

Exempt members with points in a span are not ranked: the town board lists them apart,
by member number, on pages of their own (a city has a thousand, a province 20,000), and
its own pages only say how many there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import false, func, select, text
from sqlalchemy.orm import Session

from service.boards.board import MemberBoard, MemberLine, parse_board_period
from service.boards.live import member_board
from service.persistence.models import (
    BoardCount,
    Branch,
    Member,
    PointsTotal,
)
from service.persistence.pagination import PAGE_SIZE, page_bounds
from service.scoring.points import from_tenths
from service.scoring.ranking import Ranked


@dataclass(frozen=True)
class MemberPage:
    """One page of a members board, with what the page says about the rest.

    The exempt members with points are not on the page: they are listed apart, unranked,
    on pages of their own (``exempt_page``); the board page says how many there are.
    ``exempt`` holds their lines when the board had them at hand anyway (a board built
    whole, a stored board's lines read once per revision), else it is empty and
    ``exempt_count`` says how many there are."""

    period: str
    rows: list[Ranked[MemberLine]]
    ranked_count: int  # ranked members on every page together
    exempt: list[MemberLine]  # see above: may be empty while exempt_count is not
    without_points: int  # active, non-exempt members without points
    page: int
    pages: int
    exempt_count: int | None = None  # None: len(exempt)

    @property
    def exempt_members(self) -> int:
        """How many exempt members with points the board lists apart."""
        return len(self.exempt) if self.exempt_count is None else self.exempt_count

    @property
    def lines(self) -> list[MemberLine]:
        """Every line shown: the page's ranked ones."""
        return [ranked.item for ranked in self.rows]


def page_of(board: MemberBoard, page: int, size: int = PAGE_SIZE) -> MemberPage:
    """A page of a board already built whole (a branch's, a stored one)."""
    pages, page = page_bounds(len(board.ranked), page, size)
    return MemberPage(
        period=board.period,
        rows=board.ranked[(page - 1) * size : page * size],
        ranked_count=len(board.ranked),
        exempt=board.exempt,
        without_points=board.without_points,
        page=page,
        pages=pages,
    )


@dataclass(frozen=True)
class BoardCounts:
    ranked: int  # non-exempt members with points other than zero
    without_points: int  # active, non-exempt members with no points
    exempt: int = 0  # exempt members with points other than zero (listed apart)


def board_counts(session: Session, key: str) -> BoardCounts:
    """The counts of the town board of span ``key`` (board_count: no member is read)."""
    counts = {
        (row.scope, bool(row.exempt), bool(row.active)): row.members
        for row in session.execute(
            select(
                BoardCount.scope, BoardCount.exempt, BoardCount.active, BoardCount.members
            ).where(BoardCount.scope.in_(["", key]))
        )
    }
    ranked = counts.get((key, False, True), 0) + counts.get((key, False, False), 0)
    without = counts.get(("", False, True), 0) - counts.get((key, False, True), 0)
    exempt = counts.get((key, True, True), 0) + counts.get((key, True, False), 0)
    return BoardCounts(ranked=ranked, without_points=without, exempt=exempt)


def _ranked_where(key: str) -> tuple[Any, ...]:
    return (
        PointsTotal.period == key,
        PointsTotal.exempt == false(),
        PointsTotal.points != 0,
    )


def _line_query() -> Any:
    return (
        select(
            PointsTotal.member_id,
            Member.code,
            Member.name,
            Member.branch_id,
            Branch.name.label("branch_name"),
            PointsTotal.points,
            PointsTotal.exempt,
        )
        .join(Member, Member.id == PointsTotal.member_id)
        .join(Branch, Branch.id == Member.branch_id)
    )


def _member_line(row: Any) -> MemberLine:
    return MemberLine(
        member_id=row.member_id,
        member_code=row.code,
        name=row.name,
        branch_id=row.branch_id,
        branch_name=row.branch_name,
        points=row.points,
        exempt=bool(row.exempt),
    )


def member_page(
    session: Session,
    period: str,
    page: int = 1,
    *,
    branch_id: int | None = None,
    size: int = PAGE_SIZE,
) -> MemberPage:
    """Page ``page`` of the members board of ``period`` (a month, a quarter or a year):
    the same lines, ranks and counts as ``member_board``, read a page at a time."""
    if branch_id is not None:
        # A branch has a few dozen members at most: its board is built whole.
        return page_of(member_board(session, period, branch_id=branch_id), page, size)
    key = parse_board_period(period).key
    counts = board_counts(session, key)
    pages, page = page_bounds(counts.ranked, page, size)
    rows: list[Ranked[MemberLine]] = []
    first = (page - 1) * size
    last = min(first + size, counts.ranked) - 1
    if last >= first:
        rows = _ranked_slice(session, key, first, last)
    return MemberPage(
        period=period,
        rows=rows,
        ranked_count=counts.ranked,
        exempt=[],
        without_points=counts.without_points,
        page=page,
        pages=pages,
        exempt_count=counts.exempt,
    )


EXEMPT_PAGE_SIZE = 100


@dataclass(frozen=True)
class ExemptPage:
    """One page of the exempt members with points of a town board, by member number."""

    period: str
    lines: list[MemberLine]
    count: int  # on every page together
    page: int
    pages: int


def exempt_page_of(
    period: str, lines: Sequence[MemberLine], page: int, size: int = EXEMPT_PAGE_SIZE
) -> ExemptPage:
    """A page of exempt lines already at hand, sorted by member number (a board built
    whole, a stored board's)."""
    pages, page = page_bounds(len(lines), page, size)
    return ExemptPage(
        period=period,
        lines=list(lines[(page - 1) * size : page * size]),
        count=len(lines),
        page=page,
        pages=pages,
    )


# Plain SQL, points converted once per distinct value.
_EXEMPT_LINES = (
    "SELECT t.member_id, m.code, m.name, m.branch_id, b.name AS branch_name, t.points "
    "FROM points_total t JOIN member m ON m.id = t.member_id "
    "JOIN branch b ON b.id = m.branch_id "
    "WHERE t.period = :period AND t.exempt = :exempt AND t.points <> 0"
)


def code_order(session: Session, column: Any) -> Any:
    """Order by a code as Python compares it (the boards' tie order): by code point, so
    on PostgreSQL in the "C" collation whatever the database's."""
    if session.get_bind().dialect.name == "postgresql":
        return column.collate("C")
    return column


def _exempt_query(session: Session, *, paged: bool) -> Any:
    # By member number as Python compares it (code_order): "C" on PostgreSQL.
    order = ' COLLATE "C"' if session.get_bind().dialect.name == "postgresql" else ""
    limit = " LIMIT :limit OFFSET :offset" if paged else ""
    return text(f"{_EXEMPT_LINES} ORDER BY m.code{order}, t.member_id{limit}")


def _exempt_lines(session: Session, query: Any, params: dict[str, Any]) -> list[MemberLine]:
    points: dict[int, Decimal] = {}
    lines = []
    for member_id, code, name, branch_id, branch_name, tenths in session.execute(query, params):
        value = points.get(tenths)
        if value is None:
            value = points[tenths] = from_tenths(tenths)
        lines.append(MemberLine(member_id, code, name, branch_id, branch_name, value, True))
    return lines


def exempt_lines(session: Session, key: str) -> list[MemberLine]:
    """Every exempt member with points in span ``key``, by member number."""
    return _exempt_lines(
        session, _exempt_query(session, paged=False), {"period": key, "exempt": True}
    )


def exempt_page(
    session: Session, period: str, page: int = 1, *, size: int = EXEMPT_PAGE_SIZE
) -> ExemptPage:
    """Page ``page`` of the live town board's exempt members with points in ``period``
    (``member_board(...).exempt``, a page at a time): counted from board_count, read
    by member number."""
    key = parse_board_period(period).key
    count = board_counts(session, key).exempt
    pages, page = page_bounds(count, page, size)
    lines = _exempt_lines(
        session,
        _exempt_query(session, paged=True),
        {"period": key, "exempt": True, "limit": size, "offset": (page - 1) * size},
    )
    return ExemptPage(period=period, lines=lines, count=count, page=page, pages=pages)


def _points_at(session: Session, key: str, position: int) -> Decimal | None:
    """The points of the ranked member at ``position`` (0: the most points)."""
    return session.scalar(
        select(PointsTotal.points)
        .where(*_ranked_where(key))
        .order_by(PointsTotal.points.desc())
        .limit(1)
        .offset(position)
    )


def ranked_members(
    session: Session, period: str, first: int, last: int
) -> list[Ranked[MemberLine]]:
    """Ranked members ``first`` to ``last`` (0-based, inclusive) of the town board of
    ``period``: what a page of it ranks."""
    return _ranked_slice(session, parse_board_period(period).key, first, last)


def _ranked_slice(session: Session, key: str, first: int, last: int) -> list[Ranked[MemberLine]]:
    """Ranked members ``first`` to ``last`` (0-based, inclusive) of the town board.

    Reads the members whose points lie between those at both ends (whole ties
    included), and counts those above: a rank is one more than the members with more
    points, whatever page they are on.
    """
    high = _points_at(session, key, first)
    low = _points_at(session, key, last)
    if high is None or low is None:
        return []
    above = (
        session.scalar(
            select(func.count())
            .select_from(PointsTotal)
            .where(*_ranked_where(key), PointsTotal.points > high)
        )
        or 0
    )
    lines = sorted(
        (
            _member_line(row)
            for row in session.execute(
                _line_query().where(*_ranked_where(key), PointsTotal.points.between(low, high))
            )
        ),
        key=lambda line: (-line.points, line.member_code),
    )
    same: dict[Decimal, int] = {}
    for line in lines:
        same[line.points] = same.get(line.points, 0) + 1
    ranked: list[Ranked[MemberLine]] = []
    rank = above + 1
    for index, line in enumerate(lines):
        if index > 0 and line.points != lines[index - 1].points:
            rank = above + index + 1
        ranked.append(Ranked(rank=rank, tied=same[line.points] > 1, item=line))
    start = first - above
    return ranked[start : start + last - first + 1]


def member_standing(
    session: Session, period: str, member_id: int, *, branch_id: int | None = None
) -> Ranked[MemberLine] | None:
    """A member's line and rank on the board of ``period`` (town-wide, or in one
    branch), as ``member_board(...).standing(member_id)`` gives it; None when the
    member is not ranked there (exempt, or no points)."""
    if branch_id is not None:
        return member_board(session, period, branch_id=branch_id).standing(member_id)
    key = parse_board_period(period).key
    row = session.execute(
        _line_query().where(PointsTotal.period == key, PointsTotal.member_id == member_id)
    ).first()
    if row is None or row.exempt or row.points == 0:
        return None
    line = _member_line(row)

    def count(condition: Any) -> int:
        return (
            session.scalar(
                select(func.count()).select_from(PointsTotal).where(*_ranked_where(key), condition)
            )
            or 0
        )

    above = count(PointsTotal.points > line.points)
    tied = (
        session.scalar(
            select(PointsTotal.member_id)
            .where(
                *_ranked_where(key),
                PointsTotal.points == line.points,
                PointsTotal.member_id != member_id,
            )
            .limit(1)
        )
        is not None
    )
    return Ranked(rank=above + 1, tied=tied, item=line)
