"""Live rankings for a month, a quarter or a year, read from the summary table."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import TypeVar

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from service.errors import InvalidInput, NotFound
from service.i18n import N_, Message
from service.models import (
    Branch,
    BranchKind,
    Entry,
    EntryStatus,
    Member,
    MemberStatus,
    PointsSummary,
)
from service.periods import PERIOD_PATTERN, shift_period
from service.scoring.engine import MANUAL_RULE_ID, year_score
from service.scoring.ranking import Ranked, competition_rank
from service.scoring.rules import Rulebook, RuleGroup
from service.types import to_tenths

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
        lines, score=lambda b: b.participation_exact, tie_order=lambda b: b.code
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
    points_query = (
        select(PointsSummary.member_id, func.sum(PointsSummary.points))
        .where(PointsSummary.period.in_(_months(period)))
        .group_by(PointsSummary.member_id)
    )
    if branch_id is not None:
        points_query = points_query.where(PointsSummary.branch_id == branch_id)
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
    months = _months(period)
    totals = _pairs(
        session.execute(
            select(PointsSummary.branch_id, func.sum(PointsSummary.points))
            .join(Member, Member.id == PointsSummary.member_id)
            # Exempt members are not evaluated: their points count for themselves, not
            # for the branch, so total and per-member speak of the same people.
            .where(PointsSummary.period.in_(months), Member.status != MemberStatus.EXEMPT)
            .group_by(PointsSummary.branch_id)
        )
    )
    members = _pairs(
        session.execute(
            select(Member.branch_id, func.count())
            .where(Member.active, Member.status != MemberStatus.EXEMPT)
            .group_by(Member.branch_id)
        )
    )
    participants = _pairs(
        session.execute(
            select(Entry.branch_id, func.count(func.distinct(Entry.member_id)))
            .join(Member, Member.id == Entry.member_id)
            # The same members as the denominator: active and not exempt.
            .where(
                Entry.period.in_(months),
                Entry.status == EntryStatus.APPROVED,
                Member.active,
                Member.status != MemberStatus.EXEMPT,
            )
            .group_by(Entry.branch_id)
        )
    )
    lines = [
        BranchLine(
            branch_id=branch.id,
            code=branch.code,
            name=branch.name,
            kind=branch.kind,
            total=totals.get(branch.id) or ZERO,
            members=members.get(branch.id, 0),
            participants=participants.get(branch.id, 0),
        )
        for branch in session.scalars(select(Branch))
    ]
    return BranchBoard(
        period=period,
        by_total=competition_rank(lines, score=lambda b: b.total, tie_order=lambda b: b.code),
        by_per_member=competition_rank(
            lines, score=lambda b: b.per_member_exact, tie_order=lambda b: b.code
        ),
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
    Deductions come out negative; every group is present, zero when empty."""
    sums: dict[PointsGroup, Decimal] = dict.fromkeys(PointsGroup, ZERO)
    rows = session.execute(
        select(PointsSummary.period, PointsSummary.rule_id, func.sum(PointsSummary.points))
        .join(Member, Member.id == PointsSummary.member_id)
        .where(
            PointsSummary.period.in_(_months(period)),
            Member.status != MemberStatus.EXEMPT,
        )
        .group_by(PointsSummary.period, PointsSummary.rule_id)
    )
    for month, rule_id, points in rows:
        group = _group_of(rulebook, rule_id, month)
        sums[group] += points or ZERO
    return sums


def public_stars(
    board: MemberBoard, rulebook: Rulebook, year: int, *, as_of: date
) -> dict[int, int]:
    """Stars on the yearly score (base plus the year's points, as /me/points shows it)
    for the ranked members of a year board. Members below the first star are left out:
    being flagged is shown only to the member, their secretary and the office."""
    stars: dict[int, int] = {}
    for ranked in board.ranked:
        score = year_score(year, ranked.item.points, rulebook, as_of=as_of)
        if score.stars > 0 and not score.flagged:
            stars[ranked.item.member_id] = score.stars
    return stars


def max_stars(rulebook: Rulebook, year: int, *, as_of: date) -> int:
    day = min(date(year, 12, 31), as_of)
    ruleset = rulebook.in_force(day) or rulebook.rulesets[0]
    return len(ruleset.star_thresholds)
