"""Live rankings for a month, a quarter or a year, read from the summary table."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any, TypeVar

from sqlalchemy import Row, false, func, select, text, true
from sqlalchemy.orm import Session

from service.kernel.errors import InvalidInput, NotFound
from service.kernel.i18n import N_, Message
from service.kernel.periods import PERIOD_PATTERN, shift_period
from service.persistence.models import (
    BoardCount,
    Branch,
    BranchKind,
    BranchRoster,
    BranchTotal,
    GroupTotal,
    Member,
    MemberStatus,
    PointsSummary,
    PointsTotal,
)
from service.scoring.engine import MANUAL_RULE_ID, year_score
from service.scoring.points import from_tenths, to_tenths
from service.scoring.ranking import Ranked, competition_rank
from service.scoring.rules import Rulebook, RuleGroup

K = TypeVar("K")
V = TypeVar("V")
ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class MemberLine:
    member_id: int
    member_code: str
    name: str
    branch_id: int
    branch_name: str
    points: Decimal
    exempt: bool


@dataclass(frozen=True)
class MemberBoard:
    period: str
    ranked: list[Ranked[MemberLine]]
    exempt: list[MemberLine]
    # Active, non-exempt members with no points this month: not ranked (a shared last
    # place for everyone who did nothing says nothing), listed apart.
    unscored: list[MemberLine]

    @property
    def without_points(self) -> int:
        return len(self.unscored)

    def standing(self, member_id: int) -> Ranked[MemberLine] | None:
        return next((r for r in self.ranked if r.item.member_id == member_id), None)


class Ratio:
    """An exact fraction compared by cross-multiplication: as a sort key after its float
    (``Ratio.of``), the float decides (correct rounding is monotonic and equal fractions
    round alike) and the ratio only breaks the float's ties, exactly. A city's 20,000
    branches sort without a Fraction comparison each."""

    __slots__ = ("denominator", "numerator")

    def __init__(self, numerator: int, denominator: int) -> None:
        self.numerator, self.denominator = numerator, denominator

    @classmethod
    def of(cls, numerator: int, denominator: int) -> tuple[float, Ratio]:
        if denominator == 0:
            return 0.0, cls(0, 1)
        return numerator / denominator, cls(numerator, denominator)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ratio):
            return NotImplemented
        return self.numerator * other.denominator == other.numerator * self.denominator

    def __lt__(self, other: Ratio) -> bool:
        return self.numerator * other.denominator < other.numerator * self.denominator

    def __hash__(self) -> int:
        return hash(Fraction(self.numerator, self.denominator))


@dataclass(frozen=True)
class BranchLine:
    branch_id: int
    code: str
    name: str
    kind: BranchKind
    total: Decimal
    members: int
    participants: int

    @property
    def per_member_exact(self) -> Fraction:
        if self.members == 0:
            return Fraction(0)
        return Fraction(to_tenths(self.total), 10 * self.members)

    @property
    def per_member(self) -> Decimal:
        value = self.per_member_exact
        return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
            CENT, rounding=ROUND_HALF_UP
        )

    @property
    def participation_exact(self) -> Fraction:
        if self.members == 0:
            return Fraction(0)
        return Fraction(self.participants, self.members)

    @property
    def per_member_order(self) -> tuple[float, Ratio]:
        """Sorts and ties as ``per_member_exact``, cheaply (see ``Ratio``)."""
        return Ratio.of(to_tenths(self.total), 10 * self.members)

    @property
    def participation_order(self) -> tuple[float, Ratio]:
        return Ratio.of(self.participants, self.members)

    @property
    def participation(self) -> Decimal:
        """Share of members with at least one approved entry, in percent."""
        if self.members == 0:
            return ZERO
        return (Decimal(100 * self.participants) / Decimal(self.members)).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )


@dataclass(frozen=True)
class BranchBoard:
    period: str
    by_total: list[Ranked[BranchLine]]
    by_per_member: list[Ranked[BranchLine]]

    @property
    def by_participation(self) -> list[Ranked[BranchLine]]:
        """Ranked by the share of members with an approved entry (exact fractions, so
        2 of 3 and 4 of 6 tie); inside a tie by branch code. Derived from the lines, so
        a stored (published) board ranks the same way as a live one."""
        return by_participation(item.item for item in self.by_total)

    def ranked_by(self, metric: str) -> list[Ranked[BranchLine]]:
        if metric == BranchMetric.PER_MEMBER:
            return self.by_per_member
        if metric == BranchMetric.PARTICIPATION:
            return self.by_participation
        return self.by_total


class BranchMetric(StrEnum):
    TOTAL = "total"
    PER_MEMBER = "per_member"
    PARTICIPATION = "participation"


def by_participation(lines: Iterable[BranchLine]) -> list[Ranked[BranchLine]]:
    """Branches ranked by participation; equal shares share a rank, listed by code."""
    return competition_rank(
        lines, score=lambda b: b.participation_order, tie_order=lambda b: b.code
    )


class SpanKind(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


QUARTER_PATTERN = re.compile(r"([0-9]{4})-Q([1-4])")
YEAR_PATTERN = re.compile(r"[0-9]{4}")


@dataclass(frozen=True)
class BoardPeriod:
    """What a board covers: a month ``2026-07``, a quarter ``2026-Q3`` or a year
    ``2026``. Quarter and year boards add the points of their months."""

    key: str
    kind: SpanKind
    year: int
    months: tuple[str, ...]

    @property
    def first(self) -> str:
        return self.months[0]

    @property
    def last(self) -> str:
        return self.months[-1]

    @property
    def quarter(self) -> str:
        return f"{self.year:04d}-Q{(int(self.first[5:7]) - 1) // 3 + 1}"

    def shift(self, steps: int) -> BoardPeriod:
        """The span ``steps`` spans later (earlier when negative), of the same kind."""
        if self.kind is SpanKind.YEAR:
            return year_span(self.year + steps)
        size = 3 if self.kind is SpanKind.QUARTER else 1
        return board_period(shift_period(self.first, steps * size), self.kind)

    def contains(self, period: str) -> bool:
        return period in self.months


def year_span(year: int) -> BoardPeriod:
    months = tuple(f"{year:04d}-{month:02d}" for month in range(1, 13))
    return BoardPeriod(f"{year:04d}", SpanKind.YEAR, year, months)


def board_period(first_month: str, kind: SpanKind) -> BoardPeriod:
    """The span of ``kind`` that holds ``first_month``."""
    year, month = int(first_month[:4]), int(first_month[5:7])
    if kind is SpanKind.YEAR:
        return year_span(year)
    if kind is SpanKind.QUARTER:
        quarter = (month - 1) // 3 + 1
        start = (quarter - 1) * 3 + 1
        months = tuple(f"{year:04d}-{m:02d}" for m in range(start, start + 3))
        return BoardPeriod(f"{year:04d}-Q{quarter}", SpanKind.QUARTER, year, months)
    key = f"{year:04d}-{month:02d}"
    return BoardPeriod(key, SpanKind.MONTH, year, (key,))


def parse_board_period(text: str) -> BoardPeriod:
    """``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``; anything else is InvalidInput."""
    if PERIOD_PATTERN.fullmatch(text):
        return board_period(text, SpanKind.MONTH)
    quarter = QUARTER_PATTERN.fullmatch(text)
    if quarter:
        year, number = int(quarter.group(1)), int(quarter.group(2))
        return board_period(f"{year:04d}-{(number - 1) * 3 + 1:02d}", SpanKind.QUARTER)
    if YEAR_PATTERN.fullmatch(text) and int(text) > 0:
        return year_span(int(text))
    raise InvalidInput(
        {"period": Message(N_("A board is for a month (2026-03), a quarter (2026-Q1) or a year."))}
    )


def _months(period: str) -> tuple[str, ...]:
    return parse_board_period(period).months


RosterRow = tuple[int, str, str, int, str, MemberStatus, bool]


def _member_lines(
    session: Session, period: str, branch_id: int | None
) -> tuple[dict[int, Decimal], list[RosterRow]]:
    if branch_id is None:
        # The town board: each member's points in the span, summed once (board totals).
        points_query = select(PointsTotal.member_id, PointsTotal.points).where(
            PointsTotal.period == parse_board_period(period).key
        )
    else:
        points_query = (
            select(PointsSummary.member_id, func.sum(PointsSummary.points))
            .where(PointsSummary.period.in_(_months(period)), PointsSummary.branch_id == branch_id)
            .group_by(PointsSummary.member_id)
        )
    points: dict[int, Decimal] = {row[0]: row[1] for row in session.execute(points_query)}

    roster_query = select(
        Member.id,
        Member.code,
        Member.name,
        Member.branch_id,
        Branch.name,
        Member.status,
        Member.active,
    ).join(Branch, Branch.id == Member.branch_id)
    if branch_id is not None:
        # The branch's roster, plus anyone who earned points here and has since moved.
        roster_query = roster_query.where(
            (Member.branch_id == branch_id) | Member.id.in_(list(points))
        )
    return points, [tuple(row) for row in session.execute(roster_query)]  # type: ignore[misc]


def member_board(session: Session, period: str, *, branch_id: int | None = None) -> MemberBoard:
    """Members ranked by points in ``period`` (a month, a quarter or a year: the sum of
    its months): town-wide, or within one branch.

    The branch board counts only points earned while in that branch. Members with no
    points are not ranked; they are listed apart in ``unscored``.
    """
    points, roster = _member_lines(session, period, branch_id)
    ranked_lines: list[MemberLine] = []
    exempt: list[MemberLine] = []
    unscored: list[MemberLine] = []
    for member_id, code, name, member_branch, branch_name, status, active in roster:
        line = MemberLine(
            member_id=member_id,
            member_code=code,
            name=name,
            branch_id=member_branch,
            branch_name=branch_name,
            points=points.get(member_id, ZERO),
            exempt=status is MemberStatus.EXEMPT,
        )
        if line.exempt:
            if line.points or branch_id is not None:
                exempt.append(line)
        elif line.points == ZERO:
            if active:
                unscored.append(line)
        else:
            ranked_lines.append(line)
    ranked = competition_rank(
        ranked_lines, score=lambda line: line.points, tie_order=lambda line: line.member_code
    )
    exempt.sort(key=lambda line: line.member_code)
    unscored.sort(key=lambda line: line.member_code)
    return MemberBoard(period=period, ranked=ranked, exempt=exempt, unscored=unscored)


def branch_board(session: Session, period: str) -> BranchBoard:
    """Branches ranked by total points and by points per member (and, through the
    board, by participation) in a month, a quarter or a year."""
    lines = [
        _branch_line(row)
        for row in session.execute(text(BRANCH_LINES), {"period": parse_board_period(period).key})
    ]
    return BranchBoard(
        period=period,
        by_total=competition_rank(lines, score=lambda b: b.total, tie_order=lambda b: b.code),
        by_per_member=competition_rank(
            lines, score=lambda b: b.per_member_order, tie_order=lambda b: b.code
        ),
    )


# Every branch with its span's totals (service.boards.totals): points of its non-exempt members,
# how many of its active non-exempt members took part, and how many there are.
BRANCH_LINES = """
    SELECT b.id AS branch_id, b.code AS code, b.name AS name, b.kind AS kind,
           COALESCE(t.points, 0) AS points, COALESCE(t.participants, 0) AS participants,
           COALESCE(r.members, 0) AS members
    FROM branch b
    LEFT JOIN branch_total t ON t.period = :period AND t.branch_id = b.id
    LEFT JOIN branch_roster r ON r.branch_id = b.id
"""


def _branch_line(row: Any) -> BranchLine:
    points = row.points  # tenths from plain SQL, Decimal through the column type
    return BranchLine(
        branch_id=row.branch_id,
        code=row.code,
        name=row.name,
        kind=BranchKind(row.kind),
        total=points if isinstance(points, Decimal) else from_tenths(points),
        members=row.members,
        participants=row.participants,
    )


def _pairs(result: Iterable[Row[K, V]]) -> dict[K, V]:
    return {row[0]: row[1] for row in result}


def get_branch(session: Session, branch_id: int) -> Branch:
    branch = session.get(Branch, branch_id)
    if branch is None:
        raise NotFound(Message(N_("No such branch.")))
    return branch


def within_branch(board: MemberBoard, branch_id: int) -> MemberBoard:
    """A town board narrowed to one branch's members and ranked among themselves: how a
    stored (published) town board gives a branch's page without recomputing points."""
    lines = [r.item for r in board.ranked if r.item.branch_id == branch_id]
    ranked = competition_rank(
        lines, score=lambda line: line.points, tie_order=lambda line: line.member_code
    )
    return MemberBoard(
        period=board.period,
        ranked=ranked,
        exempt=[line for line in board.exempt if line.branch_id == branch_id],
        unscored=[line for line in board.unscored if line.branch_id == branch_id],
    )


def branch_trend(session: Session, branch_id: int, months: Sequence[str]) -> list[Decimal]:
    """The branch's total points in each of ``months`` (the same sum as its line on the
    branch board: exempt members' points count for themselves only)."""
    found = _pairs(
        session.execute(
            select(PointsSummary.period, func.sum(PointsSummary.points))
            .join(Member, Member.id == PointsSummary.member_id)
            .where(
                PointsSummary.branch_id == branch_id,
                PointsSummary.period.in_(list(months)),
                Member.status != MemberStatus.EXEMPT,
            )
            .group_by(PointsSummary.period)
        )
    )
    return [found.get(month) or ZERO for month in months]


class PointsGroup(StrEnum):
    """Rule groups as the town report counts them, plus manual adjustments."""

    BASIC = RuleGroup.BASIC.value
    REWARD = RuleGroup.REWARD.value
    DEDUCTION = RuleGroup.DEDUCTION.value
    ADJUSTMENT = "adjustment"


def _group_of(rulebook: Rulebook, rule_id: str, period: str) -> PointsGroup:
    if rule_id == MANUAL_RULE_ID:
        return PointsGroup.ADJUSTMENT
    first_day = date(int(period[:4]), int(period[5:7]), 1)
    in_force = rulebook.in_force(first_day)
    candidates = ([in_force] if in_force else []) + list(reversed(rulebook.rulesets))
    for ruleset in candidates:
        rule = ruleset.rule(rule_id)
        if rule is not None:
            return PointsGroup(rule.group.value)
    return PointsGroup.ADJUSTMENT


def points_by_group(
    session: Session, rulebook: Rulebook, period: str
) -> dict[PointsGroup, Decimal]:
    """The town's points in ``period`` by rule group (basic, reward, deduction, manual
    adjustment), over the same members as the branch totals (exempt members apart).
    Deductions come out negative; every group is present, zero when empty.

    Read from the group totals (``service.boards.totals.GroupTotal``: per month, rule and
    bucket), a few hundred rows for a year, not the span's summary rows;
    ``points_by_group_from_summary`` is the same sum from the summary."""
    rows = session.execute(
        select(GroupTotal.period, GroupTotal.rule_id, func.sum(GroupTotal.points))
        .where(GroupTotal.period.in_(_months(period)))
        .group_by(GroupTotal.period, GroupTotal.rule_id)
    )
    return _by_group(rulebook, rows)


def points_by_group_from_summary(
    session: Session, rulebook: Rulebook, period: str
) -> dict[PointsGroup, Decimal]:
    """``points_by_group`` summed from every summary row of the span, as it was before
    the group totals (what the tests compare it with)."""
    rows = session.execute(
        select(PointsSummary.period, PointsSummary.rule_id, func.sum(PointsSummary.points))
        .join(Member, Member.id == PointsSummary.member_id)
        .where(
            PointsSummary.period.in_(_months(period)),
            Member.status != MemberStatus.EXEMPT,
        )
        .group_by(PointsSummary.period, PointsSummary.rule_id)
    )
    return _by_group(rulebook, rows)


def _by_group(
    rulebook: Rulebook, rows: Iterable[tuple[str, str, Decimal | None]]
) -> dict[PointsGroup, Decimal]:
    sums: dict[PointsGroup, Decimal] = dict.fromkeys(PointsGroup, ZERO)
    for month, rule_id, points in rows:
        group = _group_of(rulebook, rule_id, month)
        sums[group] += points or ZERO
    return sums


def public_stars(
    board: MemberBoard | Iterable[Ranked[MemberLine]],
    rulebook: Rulebook,
    year: int,
    *,
    as_of: date,
) -> dict[int, int]:
    """Stars on the yearly score (base plus the year's points, as /me/points shows it)
    for the ranked members of a year board (or of one page of it). Members below the
    first star are left out: being flagged is shown only to the member, their secretary
    and the office."""
    stars: dict[int, int] = {}
    for ranked in board.ranked if isinstance(board, MemberBoard) else board:
        score = year_score(year, ranked.item.points, rulebook, as_of=as_of)
        if score.stars > 0 and not score.flagged:
            stars[ranked.item.member_id] = score.stars
    return stars


def max_stars(rulebook: Rulebook, year: int, *, as_of: date) -> int:
    day = min(date(year, 12, 31), as_of)
    ruleset = rulebook.in_force(day) or rulebook.rulesets[0]
    return len(ruleset.star_thresholds)


# --- pages of the live boards -----------------------------------------------------------
#
# A city has 100,000 members and 20,000 branches: a page of 50 must not rank them all.
# The town board of a span reads the members' totals (service.boards.totals) in points order
# from an index and ranks a member by counting who has more; its counts come from
# board_count. The results are those of member_board and branch_board, a page at a time.

PAGE_SIZE = 50


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


def page_count(items: int, size: int = PAGE_SIZE) -> int:
    return max(1, -(-items // size))


def page_of(board: MemberBoard, page: int, size: int = PAGE_SIZE) -> MemberPage:
    """A page of a board already built whole (a branch's, a stored one)."""
    pages = page_count(len(board.ranked), size)
    page = min(max(page, 1), pages)
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
    pages = page_count(counts.ranked, size)
    page = min(max(page, 1), pages)
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


# --- the exempt members of the town board ------------------------------------------------
#
# Exempt members with points in a span are not ranked: the town board lists them apart,
# by member number, on pages of their own (a city has a thousand, a province 20,000),
# and its own pages only say how many there are.

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
    pages = page_count(len(lines), size)
    page = min(max(page, 1), pages)
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
    pages = page_count(count, size)
    page = min(max(page, 1), pages)
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
        out.append((Ranked(rank=rank, tied=tied, item=_branch_line(found[index])), found[index]))
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
            Ranked(rank=segments.above + 1, tied=segments.zero > 1, item=_branch_line(row)),
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
    pages = page_count(count, size)
    page = min(max(page, 1), pages)
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


def branch_page_of(board: BranchBoard, metric: str, page: int, size: int = PAGE_SIZE) -> BranchPage:
    """A page of a branches board already built whole."""
    ranked = board.ranked_by(metric)
    pages = page_count(len(ranked), size)
    page = min(max(page, 1), pages)
    rows = ranked[(page - 1) * size : page * size]
    shown = {row.item.branch_id for row in rows}
    ranks = {
        m.value: {r.item.branch_id: r.rank for r in board.ranked_by(m) if r.item.branch_id in shown}
        for m in BranchMetric
    }
    return BranchPage(
        period=board.period, metric=BranchMetric(metric).value, rows=rows, ranks=ranks,
        count=len(ranked), page=page, pages=pages,
    )  # fmt: skip
