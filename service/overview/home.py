"""What the front page shows each person: a member's month and year, a reviewer's
branches at a glance, the office's months.

Nothing is computed here that another page computes too: the points and stars are
``explain_member``'s (/me/points), the ranks the boards' (``member_standing``,
``member_board``, ``branch_board``), the recent entries ``member_entries``'s (/entries)
and the office's months ``months_overview``'s (/admin/publication). This module only
picks what a person needs to see first and what they should do next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.assessment.warnings import CaseRow, overdue_by_branch, overdue_cases, own_open_case
from service.boards.board import BranchLine, BranchMetric, MemberLine, parse_board_period
from service.boards.live import branch_board, member_board
from service.boards.pages import board_counts, member_standing
from service.entries.entry import EntryView, entry_views_query, member_entries, to_views
from service.kernel.periods import period_of, town_today
from service.ledger.explain import Explanation, explain_member
from service.persistence.models import Branch, Entry, EntryStatus, Member, MemberStatus
from service.publication.overview import MonthOverview, months_overview
from service.scoring.ranking import Ranked
from service.scoring.rules import Rulebook

ZERO = Decimal("0.0")
RECENT_ENTRIES = 5
# A rejection stays on the front page this long: long enough to be seen and acted on.
REJECTION_DAYS = 30
# Names listed in a branch block; the rest are counted and found through the roster.
IDLE_LISTED = 30
OFFICE_MONTHS = 3


@dataclass(frozen=True)
class Standing:
    """A rank on one board: ``rank`` of ``of`` ranked members, shared or not."""

    rank: int
    tied: bool
    of: int


@dataclass(frozen=True)
class MemberHome:
    period: str  # this month
    explanation: Explanation  # the year as /me/points explains it: score, stars
    month_points: Decimal
    exempt: bool  # 免评: listed apart, never ranked
    town: Standing | None  # None: not ranked this month (no points, or exempt)
    branch: Standing | None
    recent: list[EntryView]
    pending: int
    declared_this_month: int  # entries dated this month, withdrawn ones aside
    rejections: list[EntryView]  # rejected in the last REJECTION_DAYS, newest first
    warning_case: int | None = None  # the member's own open warning case (预警), private

    @property
    def year_points(self) -> Decimal:
        return self.explanation.score.points


def member_home(
    session: Session, actor: Principal, rulebook: Rulebook, *, today: date, now: datetime
) -> MemberHome | None:
    """The signed-in member's front page; None for an account without a member record."""
    if actor.member_id is None:
        return None
    member_id = actor.member_id
    period = period_of(today)
    explanation = explain_member(session, rulebook, member_id, today.year, as_of=today)
    month_points = next((m.total for m in explanation.months if m.period == period), ZERO)
    status = session.scalar(select(Member.status).where(Member.id == member_id))

    town = member_standing(session, period, member_id)
    town_of = board_counts(session, parse_board_period(period).key).ranked
    branch_board_ = member_board(session, period, branch_id=explanation.branch_id)
    branch = branch_board_.standing(member_id)

    pending = (
        session.scalar(
            select(func.count())
            .select_from(Entry)
            .where(Entry.member_id == member_id, Entry.status == EntryStatus.PENDING)
        )
        or 0
    )
    declared = (
        session.scalar(
            select(func.count())
            .select_from(Entry)
            .where(
                Entry.member_id == member_id,
                Entry.period == period,
                Entry.status != EntryStatus.WITHDRAWN,
            )
        )
        or 0
    )
    rejections = to_views(
        session.execute(
            entry_views_query()
            .where(
                Entry.member_id == member_id,
                Entry.status == EntryStatus.REJECTED,
                Entry.decided_at >= now - timedelta(days=REJECTION_DAYS),
            )
            .order_by(Entry.decided_at.desc(), Entry.id.desc())
            .limit(3)
        )
    )
    return MemberHome(
        period=period,
        explanation=explanation,
        month_points=month_points,
        exempt=status is MemberStatus.EXEMPT,
        town=_standing(town, town_of),
        branch=_standing(branch, len(branch_board_.ranked)),
        recent=member_entries(session, actor, limit=RECENT_ENTRIES),
        pending=pending,
        declared_this_month=declared,
        rejections=rejections,
        warning_case=own_open_case(session, actor),
    )


def _standing(ranked: Ranked[MemberLine] | None, of: int) -> Standing | None:
    if ranked is None:
        return None
    return Standing(rank=ranked.rank, tied=ranked.tied, of=of)


@dataclass(frozen=True)
class IdleMember:
    member_id: int
    code: str
    name: str


@dataclass(frozen=True)
class BranchHome:
    """One branch a reviewer looks after, this month."""

    branch_id: int
    name: str
    pending: int  # entries the reviewer may decide (their own go to someone else)
    line: BranchLine  # total, members, participants, per member, participation
    ranks: dict[str, Ranked[BranchLine]]  # metric -> the branch's place on the board
    branches: int  # branches on the board
    headline: str  # the metric the rules rank branches by first
    idle: list[IdleMember]  # active, non-exempt members with no entry this month
    idle_count: int
    overdue: int = 0  # open warning cases past their deadline (private to reviewers)
    overdue_cases: tuple[CaseRow, ...] = ()

    @property
    def headline_rank(self) -> Ranked[BranchLine]:
        return self.ranks[self.headline]

    @property
    def idle_unlisted(self) -> int:
        return self.idle_count - len(self.idle)


def reviewer_home(
    session: Session, actor: Principal, rulebook: Rulebook, *, today: date
) -> list[BranchHome]:
    """A block per branch the actor is secretary or instructor of. The office
    reviews every branch; its front page is ``office_home``, not a block per branch."""
    branch_ids = sorted(actor.reviewer_branch_ids)
    if not branch_ids:
        return []
    period = period_of(today)
    board = branch_board(session, period)
    ruleset = rulebook.in_force(today) or rulebook.latest
    headline = ruleset.headline_metric.value
    ranked = {
        metric.value: {r.item.branch_id: r for r in board.ranked_by(metric)}
        for metric in BranchMetric
    }
    pending_query = (
        select(Entry.branch_id, func.count())
        .where(Entry.branch_id.in_(branch_ids), Entry.status == EntryStatus.PENDING)
        .group_by(Entry.branch_id)
    )
    if actor.member_id is not None:
        pending_query = pending_query.where(Entry.member_id != actor.member_id)
    pending = {row[0]: row[1] for row in session.execute(pending_query)}

    declared = (
        select(Entry.id)
        .where(
            Entry.member_id == Member.id,
            Entry.period == period,
            Entry.status != EntryStatus.WITHDRAWN,
        )
        .exists()
    )
    idle_rows = session.execute(
        select(Member.branch_id, Member.id, Member.code, Member.name)
        .where(
            Member.branch_id.in_(branch_ids),
            Member.active,
            Member.status != MemberStatus.EXEMPT,
            ~declared,
        )
        .order_by(Member.branch_id, Member.code)
    )
    idle: dict[int, list[IdleMember]] = {branch_id: [] for branch_id in branch_ids}
    for branch_id, member_id, code, name in idle_rows:
        idle[branch_id].append(IdleMember(member_id, code, name))

    # In branch-code order, the order of the office's lists.
    names = {
        row.id: row.name
        for row in session.execute(
            select(Branch.id, Branch.name).where(Branch.id.in_(branch_ids)).order_by(Branch.code)
        )
    }
    overdue = overdue_by_branch(session, branch_ids, today=today)
    blocks = []
    for branch_id in names:
        ranks = {metric: by_branch[branch_id] for metric, by_branch in ranked.items()}
        blocks.append(
            BranchHome(
                branch_id=branch_id,
                name=names[branch_id],
                pending=pending.get(branch_id, 0),
                line=ranks[BranchMetric.TOTAL.value].item,
                ranks=ranks,
                branches=len(board.by_total),
                headline=headline,
                idle=idle[branch_id][:IDLE_LISTED],
                idle_count=len(idle[branch_id]),
                overdue=overdue.get(branch_id, (0, []))[0],
                overdue_cases=tuple(overdue.get(branch_id, (0, []))[1]),
            )
        )
    return blocks


@dataclass(frozen=True)
class OfficeHome:
    months: list[MonthOverview]  # the last few months, newest first
    pending: int  # pending entries town-wide
    pending_branches: int  # branches holding them
    overdue_cases: int = 0  # open warning cases past their deadline, town-wide


def office_home(
    session: Session, actor: Principal, rulebook: Rulebook, *, now: datetime
) -> OfficeHome | None:
    """The office's front page: where the last months stand and what holds them up."""
    if not actor.is_admin:
        return None
    pending, branches = session.execute(
        select(func.count(Entry.id), func.count(func.distinct(Entry.branch_id))).where(
            Entry.status == EntryStatus.PENDING
        )
    ).one()
    return OfficeHome(
        months=months_overview(session, rulebook, now=now, count=OFFICE_MONTHS)[:OFFICE_MONTHS],
        pending=pending or 0,
        pending_branches=branches or 0,
        overdue_cases=overdue_cases(
            session, actor, today=town_today(now, rulebook.latest.timezone)
        )[0],
    )
