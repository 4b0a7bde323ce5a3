"""What a board is: member and branch lines, the ratios and metrics branches are ranked
by, and the spans a board covers (a month, a quarter, a year).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction

from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_, Message
from service.kernel.periods import (
    PERIOD_PATTERN,
    YEAR_PATTERN,
    parse_period,
    parse_year,
    shift_period,
)
from service.persistence.models import (
    BranchKind,
)
from service.scoring.points import to_tenths
from service.scoring.ranking import Ranked, competition_rank

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
    try:
        if PERIOD_PATTERN.fullmatch(text):
            return board_period(parse_period(text), SpanKind.MONTH)
        quarter = QUARTER_PATTERN.fullmatch(text)
        if quarter:
            year, number = parse_year(quarter.group(1)), int(quarter.group(2))
            return board_period(f"{year:04d}-{(number - 1) * 3 + 1:02d}", SpanKind.QUARTER)
        if YEAR_PATTERN.fullmatch(text):
            return year_span(parse_year(text))
    except InvalidInput:
        pass  # the message below says what a board's span looks like
    raise InvalidInput(
        {"period": Message(N_("A board is for a month (2026-03), a quarter (2026-Q1) or a year."))}
    )


def months_of(period: str) -> tuple[str, ...]:
    return parse_board_period(period).months
