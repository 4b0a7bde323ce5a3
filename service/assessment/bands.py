"""Banding runs (红黄榜): the office bands a period once it has ended; each yellow line
whose streak reaches ``warn_after`` opens a private warning case (预警); the red list may
be published through the publication chain.

Who is banded: the active members who are not exempt, each in the branch they belonged
to on the period's last day (``Membership``, else their current branch). A
member's score is their points dated in the period while in that branch, as the summary
table holds them: the same numbers as the branch's board for the span. The policy is
the ``[bands]`` of the ruleset in force on the period's last day.

Private: the lines and the cases reach only the office and the branch's reviewers
(``service.assessment.access``); only a red list, once published, is public, with the
public fields of ``service.publication.results``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.assessment.access import overseen_branch_ids, require_office
from service.assessment.notices import warning_opened
from service.boards.board import BoardPeriod, SpanKind, parse_board_period
from service.kernel.errors import Conflict, InvalidInput, NotFound
from service.kernel.i18n import N_, Message
from service.kernel.periods import town_today
from service.persistence.assessment import Band, BandLine, BandRun, CaseStatus, WarningCase
from service.persistence.models import (
    Branch,
    Member,
    Membership,
    MemberStatus,
    PointsSummary,
    Publication,
    PublicationKind,
)
from service.publication.results import ResultLine, publish_results
from service.publication.state import month_activity, published_periods
from service.scoring.bands import BandKind, band_members, opens_case, streak
from service.scoring.policies import BandPeriod, BandPolicy
from service.scoring.rules import Rulebook, Ruleset

RED_LABEL = "red"


@dataclass(frozen=True)
class BandSpan:
    """A period to band, with its policy."""

    period: BoardPeriod
    ruleset: Ruleset
    policy: BandPolicy

    @property
    def key(self) -> str:
        return self.period.key

    @property
    def last_day(self) -> date:
        return last_day_of(self.period)


def last_day_of(span: BoardPeriod) -> date:
    year, month = int(span.last[:4]), int(span.last[5:7])
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def band_span(rulebook: Rulebook, period: str) -> BandSpan:
    """The period ("2026-Q3" or "2026-09") and the policy that bands it; InvalidInput
    when the text is no such period or the ruleset bands the other kind of period."""
    span = parse_board_period(period.strip())
    if span.kind is SpanKind.YEAR:
        raise InvalidInput(
            {"period": Message(N_("Bands are drawn for a quarter (2026-Q3) or a month."))}
        )
    ruleset = rulebook.in_force(last_day_of(span))
    if ruleset is None or ruleset.bands is None:
        raise InvalidInput(
            {"period": Message(N_("The rules in force then draw no red and yellow lists."))}
        )
    wanted = SpanKind.QUARTER if ruleset.bands.period is BandPeriod.QUARTER else SpanKind.MONTH
    if span.kind is not wanted:
        message = (
            N_("The rules in force then band quarters: write it like 2026-Q3.")
            if wanted is SpanKind.QUARTER
            else N_("The rules in force then band months: write it like 2026-09.")
        )
        raise InvalidInput({"period": Message(message)})
    return BandSpan(span, ruleset, ruleset.bands)


def has_ended(span: BandSpan, now: datetime) -> bool:
    return town_today(now, span.ruleset.timezone) > span.last_day


@dataclass(frozen=True)
class ComputedLine:
    member_id: int
    branch_id: int
    score: Decimal
    band: Band
    reason: str
    streak: int


def _population(session: Session, span: BandSpan) -> dict[int, int]:
    """member id → branch id: the active, non-exempt members and the branch they belonged
    to on the period's last day (the stay covering it, else their current branch: the
    rule of ``service.people.transfers.branch_on``)."""
    last = span.last_day
    current = {
        row[0]: row[1]
        for row in session.execute(
            select(Member.id, Member.branch_id).where(
                Member.active.is_(True), Member.status != MemberStatus.EXEMPT
            )
        )
    }
    covering: dict[int, tuple[date, int]] = {}
    stays = session.execute(
        select(Membership.member_id, Membership.branch_id, Membership.from_date).where(
            or_(Membership.from_date.is_(None), Membership.from_date <= last),
            or_(Membership.to_date.is_(None), Membership.to_date > last),
        )
    )
    for member_id, stay_branch, from_date in stays:
        start = from_date or date.min
        if member_id in current and (member_id not in covering or start > covering[member_id][0]):
            covering[member_id] = (start, stay_branch)
    return {
        member_id: covering[member_id][1] if member_id in covering else branch_id
        for member_id, branch_id in current.items()
    }


def compute_lines(session: Session, span: BandSpan) -> tuple[int, list[ComputedLine]]:
    """(members considered, banded lines) for ``span``, from the summary table and the
    stored lines of the period before (streaks)."""
    population = _population(session, span)
    points: dict[tuple[int, int], Decimal] = {
        (row[0], row[1]): row[2]
        for row in session.execute(
            select(PointsSummary.member_id, PointsSummary.branch_id, func.sum(PointsSummary.points))
            .where(PointsSummary.period.in_(span.period.months))
            .group_by(PointsSummary.member_id, PointsSummary.branch_id)
        )
    }
    by_branch: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    for member_id, branch_id in population.items():
        score = points.get((member_id, branch_id), Decimal("0.0"))
        by_branch[branch_id].append((member_id, Decimal(score)))
    previous = _previous_lines(session, span)
    lines: list[ComputedLine] = []
    for branch_id in sorted(by_branch):
        for banded in band_members(by_branch[branch_id], span.policy):
            before = previous.get(banded.member_id)
            run_streak = streak(
                BandKind(before[0]) if before else None, before[1] if before else 0, banded.band
            )
            lines.append(
                ComputedLine(
                    member_id=banded.member_id,
                    branch_id=branch_id,
                    score=banded.score,
                    band=Band(banded.band.value),
                    reason=banded.reason.value,
                    streak=run_streak,
                )
            )
    return len(population), lines


def _previous_lines(session: Session, span: BandSpan) -> dict[int, tuple[str, int]]:
    before = span.period.shift(-1).key
    return {
        row.member_id: (row.band.value, row.streak)
        for row in session.execute(
            select(BandLine.member_id, BandLine.band, BandLine.streak)
            .join(BandRun, BandRun.id == BandLine.run_id)
            .where(BandRun.period == before)
        )
    }


def already_banded(period: str) -> Conflict:
    return Conflict(
        Message(N_("%(period)s is already banded; a banding is run once."), {"period": period})
    )


def run_banding(
    session: Session, actor: Principal, rulebook: Rulebook, period: str, now: datetime
) -> BandRun:
    """Band ``period`` (office only, once, after it has ended); open the warning cases;
    publish the red list when the ruleset says so and its months are published."""
    require_office(actor)
    span = band_span(rulebook, period)
    if not has_ended(span, now):
        raise Conflict(
            Message(
                N_("%(period)s has not ended yet: it can be banded from %(day)s."),
                {"period": span.key, "day": (span.last_day + timedelta(days=1)).isoformat()},
            )
        )
    if session.scalar(select(BandRun.id).where(BandRun.period == span.key)) is not None:
        raise already_banded(span.key)
    considered, computed = compute_lines(session, span)
    run = BandRun(
        period=span.key,
        ruleset_version=span.ruleset.version,
        run_at=now,
        run_by_id=actor.account_id,
        members_banded=considered,
    )
    try:
        with session.begin_nested():
            session.add(run)
    except IntegrityError as exc:
        raise already_banded(span.key) from exc
    today = town_today(now, span.ruleset.timezone)
    with_open_case = set(
        session.scalars(
            select(WarningCase.member_id).where(WarningCase.status == CaseStatus.OPEN).distinct()
        )
    )
    for item in computed:
        line = BandLine(
            run_id=run.id,
            member_id=item.member_id,
            branch_id=item.branch_id,
            score=item.score,
            band=item.band,
            reason=item.reason,
            streak=item.streak,
        )
        session.add(line)
        if (
            opens_case(BandKind(item.band.value), item.streak, span.policy)
            and item.member_id not in with_open_case
        ):
            session.flush()
            case = WarningCase(
                member_id=item.member_id,
                branch_id=item.branch_id,
                band_line_id=line.id,
                opened_at=now,
                deadline=today + timedelta(days=span.policy.deadline_days),
            )
            session.add(case)
            session.flush()
            warning_opened(session, case, span.key, now=now)
            with_open_case.add(item.member_id)
    session.flush()
    has_red = any(item.band is Band.RED for item in computed)
    if span.policy.publish_red and has_red and not unpublished_months(session, span):
        _publish_red(session, actor, span, run, now)
    return run


def unpublished_months(session: Session, span: BandSpan) -> list[str]:
    """The months of the period with activity that are not published yet (a month with
    no activity cannot be published: nothing to wait for)."""
    published = published_periods(session)
    return [
        month
        for month in span.period.months
        if month not in published and month_activity(session, month) > 0
    ]


def red_list_state(session: Session, rulebook: Rulebook, run: BandRun) -> str:
    """One of "published", "off" (the ruleset publishes no red list), "empty" (nobody
    is on it), "waiting" (months to publish first) or "ready"."""
    if run.publication_id is not None:
        return "published"
    span = band_span(rulebook, run.period)
    if not span.policy.publish_red:
        return "off"
    if not _has_red(session, run):
        return "empty"
    return "waiting" if unpublished_months(session, span) else "ready"


def publish_red_list(
    session: Session, actor: Principal, rulebook: Rulebook, period: str, now: datetime
) -> Publication:
    """Publish a banded period's red list once its months are published (office only)."""
    require_office(actor)
    span = band_span(rulebook, period)
    run = session.scalar(select(BandRun).where(BandRun.period == span.key))
    if run is None:
        raise NotFound(Message(N_("%(period)s is not banded yet."), {"period": span.key}))
    if run.publication_id is not None:
        raise Conflict(
            Message(N_("The red list of %(period)s is already published."), {"period": span.key})
        )
    if not span.policy.publish_red:
        raise Conflict(Message(N_("The rules in force then publish no red list.")))
    if not _has_red(session, run):
        raise Conflict(
            Message(N_("Nobody is on the red list of %(period)s."), {"period": span.key})
        )
    waiting = unpublished_months(session, span)
    if waiting:
        raise Conflict(
            Message(N_("Publish the boards of %(months)s first."), {"months": ", ".join(waiting)})
        )
    return _publish_red(session, actor, span, run, now)


def _has_red(session: Session, run: BandRun) -> bool:
    return (
        session.scalar(
            select(BandLine.id).where(BandLine.run_id == run.id, BandLine.band == Band.RED).limit(1)
        )
        is not None
    )


def _publish_red(
    session: Session, actor: Principal, span: BandSpan, run: BandRun, now: datetime
) -> Publication:
    rows = session.execute(
        select(BandLine, Member.code, Member.name, Branch.name)
        .join(Member, Member.id == BandLine.member_id)
        .join(Branch, Branch.id == BandLine.branch_id)
        .where(BandLine.run_id == run.id, BandLine.band == Band.RED)
    ).all()
    recognised = span.policy.red_streak
    lines = [
        ResultLine(
            subject_id=line.member_id,
            code=code,
            name=name,
            branch_id=line.branch_id,
            branch_name=branch_name,
            value=str(line.score),
            # "red-2": two red periods in a row, when the ruleset recognises streaks.
            label=(
                f"{RED_LABEL}-{line.streak}"
                if recognised and line.streak >= recognised
                else RED_LABEL
            ),
        )
        for line, code, name, branch_name in rows
    ]
    publication = publish_results(
        session,
        actor,
        kind=PublicationKind.RED_LIST,
        period=span.key,
        lines=lines,
        ruleset_version=span.ruleset.version,
        notice_days=span.ruleset.notice_days,
        now=now,
    )
    run.publication_id = publication.id
    session.flush()
    return publication


# --- what the pages read -------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    period: str
    run_at: datetime
    ruleset_version: str
    considered: int
    red: int
    yellow: int
    cases: int
    published: bool


def band_runs(session: Session, actor: Principal) -> list[RunSummary]:
    """Every run, newest period first, with its counts (office only)."""
    require_office(actor)
    counts: dict[tuple[int, Band], int] = {
        (row[0], row[1]): row[2]
        for row in session.execute(
            select(BandLine.run_id, BandLine.band, func.count()).group_by(
                BandLine.run_id, BandLine.band
            )
        )
    }
    cases: dict[int, int] = {
        row[0]: row[1]
        for row in session.execute(
            select(BandLine.run_id, func.count())
            .join(WarningCase, WarningCase.band_line_id == BandLine.id)
            .group_by(BandLine.run_id)
        )
    }
    runs = session.scalars(select(BandRun).order_by(BandRun.period.desc()))
    return [
        RunSummary(
            period=run.period,
            run_at=run.run_at,
            ruleset_version=run.ruleset_version,
            considered=run.members_banded,
            red=counts.get((run.id, Band.RED), 0),
            yellow=counts.get((run.id, Band.YELLOW), 0),
            cases=cases.get(run.id, 0),
            published=run.publication_id is not None,
        )
        for run in runs
    ]


def bandable_periods(
    session: Session, rulebook: Rulebook, now: datetime, *, back: int = 8
) -> list[str]:
    """Ended periods of the last ``back`` quarters (or months) not banded yet, newest
    first, under the rules then in force."""
    ruleset = rulebook.in_force(town_today(now, "Asia/Shanghai")) or (
        rulebook.latest if rulebook.rulesets else None
    )
    if ruleset is None or ruleset.bands is None:
        return []
    today = town_today(now, ruleset.timezone)
    kind = SpanKind.QUARTER if ruleset.bands.period is BandPeriod.QUARTER else SpanKind.MONTH
    current = parse_board_period(
        f"{today.year:04d}-Q{(today.month - 1) // 3 + 1}"
        if kind is SpanKind.QUARTER
        else f"{today.year:04d}-{today.month:02d}"
    )
    banded = set(session.scalars(select(BandRun.period)))
    found: list[str] = []
    first = rulebook.rulesets[0].effective_from
    for steps in range(1, back + 1):
        span = current.shift(-steps)
        if last_day_of(span) < first:
            break
        if span.key in banded:
            continue
        try:
            band_span(rulebook, span.key)
        except InvalidInput:
            continue
        found.append(span.key)
    return found


@dataclass(frozen=True)
class LineView:
    member_id: int
    code: str
    name: str
    branch_name: str
    score: Decimal
    band: Band
    reason: str
    streak: int
    case_id: int | None


@dataclass(frozen=True)
class RunView:
    run: BandRun
    red: list[LineView]
    yellow: list[LineView]
    red_list: str  # red_list_state, for the office; "" for reviewers


def run_view(session: Session, actor: Principal, rulebook: Rulebook, period: str) -> RunView:
    """A run's lines: the office sees all, a branch's reviewers their branches' only;
    anyone else gets NotFound."""
    if not actor.is_reviewer:
        raise NotFound(Message(N_("No such record.")))
    run = session.scalar(select(BandRun).where(BandRun.period == period))
    if run is None:
        raise NotFound(Message(N_("No such record.")))
    query = (
        select(BandLine, Member.code, Member.name, Branch.name, WarningCase.id)
        .join(Member, Member.id == BandLine.member_id)
        .join(Branch, Branch.id == BandLine.branch_id)
        .outerjoin(WarningCase, WarningCase.band_line_id == BandLine.id)
        .where(BandLine.run_id == run.id)
        .order_by(Branch.code, BandLine.score.desc(), Member.code)
    )
    scope = overseen_branch_ids(actor)
    if scope is not None:
        query = query.where(BandLine.branch_id.in_(sorted(scope)))
    lines = [
        LineView(
            member_id=line.member_id,
            code=code,
            name=name,
            branch_name=branch_name,
            score=line.score,
            band=line.band,
            reason=line.reason,
            streak=line.streak,
            case_id=case_id,
        )
        for line, code, name, branch_name, case_id in session.execute(query)
    ]
    return RunView(
        run=run,
        red=[line for line in lines if line.band is Band.RED],
        yellow=[line for line in lines if line.band is Band.YELLOW],
        red_list=red_list_state(session, rulebook, run) if actor.is_admin else "",
    )


def verify_bands(session: Session, rulebook: Rulebook) -> list[str]:
    """Recompute every run's lines from the summary (and the stored streaks of the
    period before) and name each difference; empty when all agree."""
    problems: list[str] = []
    runs = list(session.scalars(select(BandRun).order_by(BandRun.period)))
    for run in runs:
        try:
            span = band_span(rulebook, run.period)
        except InvalidInput:
            problems.append(f"{run.period}: the rules in force no longer band this period")
            continue
        _, computed = compute_lines(session, span)
        expected = {line.member_id: line for line in computed}
        stored = {
            line.member_id: line
            for line in session.scalars(select(BandLine).where(BandLine.run_id == run.id))
        }
        for member_id in sorted(set(expected) | set(stored)):
            want, have = expected.get(member_id), stored.get(member_id)
            if want is None:
                problems.append(f"{run.period}: member {member_id} is listed but should not be")
            elif have is None:
                problems.append(f"{run.period}: member {member_id} should be {want.band.value}")
            elif (have.band, have.score, have.reason, have.streak, have.branch_id) != (
                want.band,
                want.score,
                want.reason,
                want.streak,
                want.branch_id,
            ):
                problems.append(
                    f"{run.period}: member {member_id} stored {have.band.value} "
                    f"{have.score} ({have.reason}, streak {have.streak}), recomputed "
                    f"{want.band.value} {want.score} ({want.reason}, streak {want.streak})"
                )
    return problems
