"""Live rankings for a month, read from the summary table."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import TypeVar

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from service.errors import NotFound
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
from service.scoring.ranking import Ranked, competition_rank
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


RosterRow = tuple[int, str, str, int, str, MemberStatus, bool]


def _member_lines(
    session: Session, period: str, branch_id: int | None
) -> tuple[dict[int, Decimal], list[RosterRow]]:
    points_query = (
        select(PointsSummary.member_id, func.sum(PointsSummary.points))
        .where(PointsSummary.period == period)
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
    """Members ranked by points in ``period``: town-wide, or within one branch.

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
    """Branches ranked by total points and by points per member."""
    totals = _pairs(
        session.execute(
            select(PointsSummary.branch_id, func.sum(PointsSummary.points))
            .join(Member, Member.id == PointsSummary.member_id)
            # Exempt members are not evaluated: their points count for themselves, not
            # for the branch, so total and per-member speak of the same people.
            .where(PointsSummary.period == period, Member.status != MemberStatus.EXEMPT)
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
                Entry.period == period,
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
