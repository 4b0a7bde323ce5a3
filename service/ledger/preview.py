"""A new ruleset, before and after adoption.

``preview_ruleset`` answers "what would change" (DESIGN.md, scoring principle 3): it
scores every member's activities of the open months under the current rulebook and
under the rulebook with the candidate added, ranks both town-wide the way the live
board does, and lists the members whose points or rank move. It reads only.

``rescore_ledger`` is the adoption step an operator runs after putting the new file in
the rules directory: it reconciles every member's ledger with the new rulebook.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.kernel.periods import parse_period, period_of, shift_period
from service.ledger.reconcile import reconcile_member, score_member_year
from service.ledger.verify import member_years
from service.persistence.models import Branch, LedgerKind, Member, MemberStatus
from service.publication.state import frozen_months, hold_months, published_periods
from service.scoring.engine import Scored, score_activities
from service.scoring.ranking import competition_rank
from service.scoring.rules import Rulebook, Ruleset

ZERO = Decimal("0.0")
RESCORE_NOTE = "rules changed"


def published_months(session: Session) -> frozenset[str]:
    """Months already published (公示), corrections in progress included: a new ruleset
    never rewrites them, so a preview leaves them out."""
    return published_periods(session)


@dataclass(frozen=True)
class PreviewLine:
    """One member in one month whose points or town rank would change."""

    period: str
    member_id: int
    member_code: str
    name: str
    branch_name: str
    exempt: bool  # exempt members are never ranked (as on the live board)
    points_before: Decimal
    points_after: Decimal
    rank_before: int | None  # None: not ranked (no points, or exempt)
    rank_after: int | None

    @property
    def change(self) -> Decimal:
        return self.points_after - self.points_before


@dataclass(frozen=True)
class MonthTotal:
    period: str
    points_before: Decimal
    points_after: Decimal
    members_affected: int


@dataclass(frozen=True)
class Preview:
    version: str
    effective_from: date
    months: tuple[str, ...]  # the months compared
    excluded: tuple[str, ...]  # asked for or in range, but published: left alone
    lines: tuple[PreviewLine, ...]  # by month, then new rank, then member code
    month_totals: tuple[MonthTotal, ...]

    @property
    def members_affected(self) -> int:
        return len({line.member_id for line in self.lines})

    @property
    def points_before(self) -> Decimal:
        return sum((m.points_before for m in self.month_totals), ZERO)

    @property
    def points_after(self) -> Decimal:
        return sum((m.points_after for m in self.month_totals), ZERO)

    @property
    def changed(self) -> bool:
        return bool(self.lines)


@dataclass(frozen=True)
class _Person:
    code: str
    name: str
    branch_name: str
    exempt: bool


def preview_ruleset(
    session: Session,
    rulebook: Rulebook,
    candidate: Ruleset,
    *,
    months: list[str] | None,
    today: date,
    published: Collection[str] | None = None,
) -> Preview:
    """What adopting ``candidate`` would do to each open month's points and town ranks.

    ``months`` limits the preview to those months; by default it covers every month with
    activity from the first month the candidate can affect up to ``today``'s month.
    Published months (``published``, default: ``published_months``) are never previewed.
    Raises RulesError when the candidate cannot join the rulebook (e.g. its effective
    date is another version's).
    """
    after_book = rulebook.with_candidate(candidate)
    closed = frozenset(published_months(session) if published is None else published)
    if months is not None:
        asked = sorted({parse_period(month) for month in months})
    else:
        asked = _month_range(_first_affected(rulebook, candidate), period_of(today))
    targets = [month for month in asked if month not in closed]
    excluded = tuple(month for month in asked if month in closed)

    before: dict[str, dict[int, Decimal]] = defaultdict(dict)
    after: dict[str, dict[int, Decimal]] = defaultdict(dict)
    wanted = set(targets)
    frozen = frozen_months(session)
    for member_id, year in member_years(session, {int(month[:4]) for month in targets}):
        # Scored as reconciliation scores them: published months' activities are givens
        # that take their cap room first, under either rulebook.
        scored, _held, given = score_member_year(session, rulebook, member_id, year, frozen=frozen)
        activities = [item.activity for item in scored]
        _add_monthly(before, member_id, scored, wanted)
        _add_monthly(
            after, member_id, score_activities(activities, after_book, frozen=given), wanted
        )
    if months is None:
        # Without an explicit list, a month nobody scored in has nothing to show.
        targets = [month for month in targets if before.get(month) or after.get(month)]

    people = _people(session, {m for points in (*before.values(), *after.values()) for m in points})
    lines: list[PreviewLine] = []
    totals: list[MonthTotal] = []
    for month in targets:
        month_lines = _compare_month(month, before[month], after[month], people)
        lines.extend(month_lines)
        totals.append(
            MonthTotal(
                period=month,
                points_before=sum(before[month].values(), ZERO),
                points_after=sum(after[month].values(), ZERO),
                members_affected=len(month_lines),
            )
        )
    return Preview(
        version=candidate.version,
        effective_from=candidate.effective_from,
        months=tuple(targets),
        excluded=excluded,
        lines=tuple(lines),
        month_totals=tuple(totals),
    )


def _first_affected(rulebook: Rulebook, candidate: Ruleset) -> str:
    """The first month whose scoring the candidate can change. A candidate that replaces
    a version of the same name also undoes that version from its old effective date, so
    an earlier old date moves the start back."""
    start = candidate.effective_from
    replaced = rulebook.version(candidate.version)
    if replaced is not None:
        start = min(start, replaced.effective_from)
    return period_of(start)


def _month_range(first: str, last: str) -> list[str]:
    months: list[str] = []
    month = first
    while month <= last:
        months.append(month)
        month = shift_period(month, 1)
    return months


def _add_monthly(
    totals: dict[str, dict[int, Decimal]], member_id: int, scored: list[Scored], wanted: set[str]
) -> None:
    for item in scored:
        month = period_of(item.activity.day)
        if month in wanted:
            totals[month][member_id] = totals[month].get(member_id, ZERO) + item.counted


def _people(session: Session, member_ids: set[int]) -> dict[int, _Person]:
    if not member_ids:
        return {}
    rows = session.execute(
        select(Member.id, Member.code, Member.name, Branch.name, Member.status)
        .join(Branch, Branch.id == Member.branch_id)
        .where(Member.id.in_(sorted(member_ids)))
    )
    return {row[0]: _Person(row[1], row[2], row[3], row[4] is MemberStatus.EXEMPT) for row in rows}


def _town_ranks(points: dict[int, Decimal], people: dict[int, _Person]) -> dict[int, int]:
    """Ranks as on the live town board (service.boards.pages.member_board): exempt members and
    members without points are not ranked; ties share a rank, listed by member code."""
    ranked = competition_rank(
        [m for m, value in points.items() if value != ZERO and not people[m].exempt],
        score=lambda m: points[m],
        tie_order=lambda m: people[m].code,
    )
    return {item.item: item.rank for item in ranked}


def _compare_month(
    month: str,
    before: dict[int, Decimal],
    after: dict[int, Decimal],
    people: dict[int, _Person],
) -> list[PreviewLine]:
    ranks_before = _town_ranks(before, people)
    ranks_after = _town_ranks(after, people)
    lines: list[PreviewLine] = []
    for member_id in before.keys() | after.keys():
        old, new = before.get(member_id, ZERO), after.get(member_id, ZERO)
        rank_old, rank_new = ranks_before.get(member_id), ranks_after.get(member_id)
        if old == new and rank_old == rank_new:
            continue
        person = people[member_id]
        lines.append(
            PreviewLine(
                period=month,
                member_id=member_id,
                member_code=person.code,
                name=person.name,
                branch_name=person.branch_name,
                exempt=person.exempt,
                points_before=old,
                points_after=new,
                rank_before=rank_old,
                rank_after=rank_new,
            )
        )
    # Unranked members after the ranked ones, as on the board.
    lines.sort(key=lambda line: (line.rank_after is None, line.rank_after or 0, line.member_code))
    return lines


@dataclass(frozen=True)
class RescoreResult:
    member_years: int
    lines: int
    points: Decimal  # net change of all points


def rescore_ledger(
    session: Session,
    rulebook: Rulebook,
    *,
    years: Iterable[int] | None,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> RescoreResult:
    """Reconcile every member's ledger with ``rulebook`` for ``years`` (default: every
    year with activity or ledger lines); the lines it appends are marked RESCORE.

    Reconciliation is idempotent, so running this twice appends nothing the second time.
    Published months are left alone (reconciliation never writes a line dated in one),
    except a month whose correction is in progress.
    """
    # Writers of points share the month lock; a publication waits for the rescore.
    hold_months(session)
    pairs = member_years(session, years)
    appended = 0
    points = ZERO
    for done, (member_id, year) in enumerate(pairs, start=1):
        lines = reconcile_member(
            session,
            rulebook,
            member_id,
            year,
            now=now,
            actor_id=None,
            default_kind=LedgerKind.RESCORE,
            note=RESCORE_NOTE,
        )
        appended += len(lines)
        points += sum((line.points for line in lines), ZERO)
        if progress is not None:
            progress(done, len(pairs))
    return RescoreResult(member_years=len(pairs), lines=appended, points=points)
