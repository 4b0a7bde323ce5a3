"""Live rankings for a month, a quarter or a year, read whole from the summary table:
the boards that exports, charts and publishing need in full, and points by group.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Row, func, select, text
from sqlalchemy.orm import Session

from service.boards.board import (
    ZERO,
    BranchBoard,
    BranchLine,
    MemberBoard,
    MemberLine,
    months_of,
    parse_board_period,
)
from service.kernel.errors import NotFound
from service.kernel.i18n import N_, Message
from service.persistence.models import (
    Branch,
    BranchKind,
    GroupTotal,
    Member,
    MemberStatus,
    PointsSummary,
    PointsTotal,
)
from service.scoring.engine import MANUAL_RULE_ID, year_score
from service.scoring.points import from_tenths
from service.scoring.ranking import Ranked, competition_rank
from service.scoring.rules import Rulebook, RuleGroup

K = TypeVar("K")

V = TypeVar("V")

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
            .where(
                PointsSummary.period.in_(months_of(period)), PointsSummary.branch_id == branch_id
            )
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
        branch_line_of(row)
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


def branch_line_of(row: Any) -> BranchLine:
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
        .where(GroupTotal.period.in_(months_of(period)))
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
            PointsSummary.period.in_(months_of(period)),
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
