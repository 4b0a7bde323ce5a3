"""Explaining a member's points, line by line (底数清、数据实).

The explanation is a fresh scoring with the pure engine, the same computation
``reconcile_member`` writes to the ledger, so its month totals equal the summary table
the boards read and its lines add up to the year's points. Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.permissions import (
    can_decide,
    can_view_points,
)
from service.accounts.principal import Principal
from service.kernel.errors import NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.kernel.periods import period_of
from service.ledger.reconcile import ATTENDANCE_SOURCES, ENTRY_SOURCES, score_member_year
from service.persistence.meetings import Meeting, MeetingAttendance
from service.persistence.models import Adjustment, Branch, Entry, EntryStatus, Member
from service.scoring.engine import (
    MANUAL_RULE_ID,
    Scored,
    Source,
    YearScore,
    year_score,
)
from service.scoring.rules import Rulebook, RuleGroup

ZERO = Decimal("0.0")


class LineKind(StrEnum):
    """What a line is, in the words a member uses (the engine's Source, with an
    adjustment split into a deduction under a rule and a manual adjustment)."""

    ENTRY = "entry"
    ADOPTED = "adopted"
    IMPLEMENTED = "implemented"
    DEDUCTION = "deduction"
    ADJUSTMENT = "adjustment"
    ATTENDANCE = "attendance"  # attended a closed meeting
    ABSENCE = "absence"  # absent from a closed meeting without approved leave


@dataclass(frozen=True)
class Line:
    day: date
    kind: LineKind
    source: Source
    source_id: int
    entry_id: int | None  # the entry behind an entry line or a suggestion step
    branch_id: int  # the branch the points count for
    rule_id: str
    ruleset_version: str  # the rules that scored this line
    text: str  # the entry's description, or the adjustment's reason
    quantity: Decimal
    raw: Decimal
    counted: Decimal
    clipped_by: tuple[str, ...]
    missing_rule: bool
    # The caps that clipped this line, each with its limit in the line's ruleset
    # ("cap_per_month", 10.0), so the page can say which limit took what.
    caps: tuple[tuple[str, Decimal], ...] = ()
    # "day" / "month": ``raw`` is this entry's share of the member's rounded total under
    # the rule for that day or month (``rounding_per``), not the entry rounded alone.
    share_of: str | None = None
    # An attendance or absence line: the meeting behind it (its title is ``text``).
    meeting_id: int | None = None
    meeting_kind: str | None = None

    @property
    def clipped(self) -> Decimal:
        return self.raw - self.counted

    @property
    def manual(self) -> bool:
        return self.rule_id == MANUAL_RULE_ID


@dataclass(frozen=True)
class Month:
    period: str
    lines: tuple[Line, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.counted for line in self.lines), ZERO)

    @property
    def clipped(self) -> Decimal:
        return sum((line.clipped for line in self.lines), ZERO)


@dataclass(frozen=True)
class RevokedEntry:
    """An approval taken back this year: no longer in the lines, but the member should
    still see why their points went down."""

    entry_id: int
    day: date
    rule_id: str
    ruleset_version: str
    description: str
    reason: str
    revoked_at: datetime | None


@dataclass(frozen=True)
class Explanation:
    member_id: int
    member_name: str
    branch_id: int
    branch_name: str
    year: int
    months: tuple[Month, ...]
    score: YearScore
    max_stars: int
    first_threshold: Decimal | None  # below it the score is flagged
    next_threshold: Decimal | None  # the next star, if there is one
    revoked: tuple[RevokedEntry, ...]

    @property
    def lines(self) -> tuple[Line, ...]:
        return tuple(line for month in self.months for line in month.lines)

    @property
    def to_next_star(self) -> Decimal | None:
        if self.next_threshold is None:
            return None
        return self.next_threshold - self.score.total


def can_revoke(actor: Principal, member_id: int, line: Line) -> bool:
    """Mirrors the review's ``require_may_decide`` for an entry line, so the page offers
    the form only where the service will accept it."""
    return line.kind is LineKind.ENTRY and can_decide(actor, line.branch_id, member_id)


def _caps(scored: Scored, rulebook: Rulebook) -> tuple[tuple[str, Decimal], ...]:
    if not scored.clipped_by:
        return ()
    ruleset = rulebook.version(scored.ruleset_version)
    rule = ruleset.rule(scored.activity.rule_id) if ruleset else None
    limits = rule.caps if rule else {}
    return tuple((name, limits[name]) for name in scored.clipped_by if name in limits)


def _kind(scored: Scored, rulebook: Rulebook) -> LineKind:
    source = scored.activity.source
    if source is not Source.ADJUSTMENT:
        return LineKind(source.value)
    ruleset = rulebook.version(scored.ruleset_version)
    rule = ruleset.rule(scored.activity.rule_id) if ruleset else None
    if rule is not None and rule.group is RuleGroup.DEDUCTION:
        return LineKind.DEDUCTION
    return LineKind.ADJUSTMENT


def explain_member(
    session: Session, rulebook: Rulebook, member_id: int, year: int, *, as_of: date
) -> Explanation:
    """Every activity of ``year`` for the member, scored afresh and grouped by month."""
    found = session.execute(
        select(Member, Branch.name)
        .join(Branch, Branch.id == Member.branch_id)
        .where(Member.id == member_id)
    ).one_or_none()
    if found is None:
        raise NotFound(Message(N_("No such member.")))
    member, branch_name = found

    # Scored as reconciliation scores it: published months count what was published.
    scored, _held, _given = score_member_year(session, rulebook, member_id, year)
    entry_ids = {s.activity.source_id for s in scored if s.activity.source in ENTRY_SOURCES}
    adjustment_ids = {
        s.activity.source_id for s in scored if s.activity.source is Source.ADJUSTMENT
    }
    # Filtered by member as well as id, so a stray id can never pull in someone
    # else's text.
    descriptions: dict[int, str] = {}
    if entry_ids:
        for row in session.execute(
            select(Entry.id, Entry.description).where(
                Entry.member_id == member_id, Entry.id.in_(entry_ids)
            )
        ):
            descriptions[row.id] = row.description
    reasons: dict[int, str] = {}
    if adjustment_ids:
        for row in session.execute(
            select(Adjustment.id, Adjustment.reason).where(
                Adjustment.member_id == member_id, Adjustment.id.in_(adjustment_ids)
            )
        ):
            reasons[row.id] = row.reason
    meetings = _meetings_of(
        session,
        member_id,
        {s.activity.source_id for s in scored if s.activity.source in ATTENDANCE_SOURCES},
    )

    by_month: dict[str, list[Line]] = defaultdict(list)
    for item in scored:
        activity = item.activity
        is_adjustment = activity.source is Source.ADJUSTMENT
        is_entry = activity.source in ENTRY_SOURCES
        meeting = meetings.get(activity.source_id) if not is_entry and not is_adjustment else None
        if meeting is not None:
            text = meeting[2]
        else:
            text = (reasons if is_adjustment else descriptions).get(activity.source_id, "")
        by_month[period_of(activity.day)].append(
            Line(
                day=activity.day,
                kind=_kind(item, rulebook),
                source=activity.source,
                source_id=activity.source_id,
                entry_id=activity.source_id if is_entry else None,
                branch_id=activity.branch_id,
                rule_id=activity.rule_id,
                ruleset_version=item.ruleset_version,
                text=text,
                quantity=activity.quantity,
                raw=item.raw,
                counted=item.counted,
                clipped_by=item.clipped_by,
                missing_rule=item.missing_rule,
                caps=_caps(item, rulebook),
                share_of=item.share_of,
                meeting_id=meeting[0] if meeting else None,
                meeting_kind=meeting[1] if meeting else None,
            )
        )
    months = tuple(Month(period, tuple(by_month[period])) for period in sorted(by_month))

    points = sum((item.counted for item in scored), ZERO)
    score = year_score(year, points, rulebook, as_of=as_of)
    ruleset = rulebook.version(score.ruleset_version)
    thresholds = ruleset.star_thresholds if ruleset else ()
    return Explanation(
        member_id=member.id,
        member_name=member.name,
        branch_id=member.branch_id,
        branch_name=branch_name,
        year=year,
        months=months,
        score=score,
        max_stars=len(thresholds),
        first_threshold=thresholds[0] if thresholds else None,
        next_threshold=next((t for t in thresholds if t > score.total), None),
        revoked=_revoked(session, member_id, year),
    )


def _meetings_of(
    session: Session, member_id: int, attendance_ids: set[int]
) -> dict[int, tuple[int, str, str]]:
    """attendance row id → (meeting id, kind, title), the member's own rows only."""
    if not attendance_ids:
        return {}
    rows = session.execute(
        select(MeetingAttendance.id, Meeting.id, Meeting.kind, Meeting.title)
        .join(Meeting, Meeting.id == MeetingAttendance.meeting_id)
        .where(
            MeetingAttendance.member_id == member_id,
            MeetingAttendance.id.in_(sorted(attendance_ids)),
        )
    )
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


def _revoked(session: Session, member_id: int, year: int) -> tuple[RevokedEntry, ...]:
    rows = session.scalars(
        select(Entry)
        .where(
            Entry.member_id == member_id,
            Entry.status == EntryStatus.REVOKED,
            Entry.activity_date.between(date(year, 1, 1), date(year, 12, 31)),
        )
        .order_by(Entry.activity_date, Entry.id)
    )
    return tuple(
        RevokedEntry(
            entry_id=entry.id,
            day=entry.activity_date,
            rule_id=entry.rule_id,
            ruleset_version=entry.ruleset_version,
            description=entry.description,
            reason=entry.revoke_reason or "",
            revoked_at=entry.revoked_at,
        )
        for entry in rows
    )


def member_branch(session: Session, member_id: int) -> int:
    branch_id = session.scalar(select(Member.branch_id).where(Member.id == member_id))
    if branch_id is None:
        raise NotFound(Message(N_("No such member.")))
    return branch_id


def explain_for(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    member_id: int,
    year: int,
    *,
    as_of: date,
) -> Explanation:
    """``explain_member`` behind the object-level check: a secretary of another branch
    is refused before anything about the member is read."""
    if not can_view_points(actor, member_id, member_branch(session, member_id)):
        raise PermissionDenied(Message(N_("You do not have access to this member's points.")))
    return explain_member(session, rulebook, member_id, year, as_of=as_of)
