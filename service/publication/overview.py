"""The office's overview of the months: each month's state, pending entries and
revisions, and the list of every publication.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.kernel.periods import period_of, town_today
from service.persistence.models import (
    Correction,
    Entry,
    EntryStatus,
    Objection,
    ObjectionStatus,
    Publication,
    PublicationKind,
)
from service.publication.state import (
    DEFAULT_TIMEZONE,
    MonthState,
    PendingBranch,
    UnclosedMeeting,
    first_publishable,
    pending_by_branch,
    published_periods,
    unclosed_meetings,
)
from service.publication.stored import RevisionInfo, revisions
from service.scoring.rules import Rulebook


@dataclass(frozen=True)
class MonthOverview:
    period: str
    state: MonthState
    revision: int | None
    published_at: datetime | None
    window_ends_at: datetime | None
    pending: list[PendingBranch]
    unclosed: list[UnclosedMeeting]  # meetings held in the month, not closed or cancelled
    open_objections: int
    can_publish: bool  # the month has ended, is not published and some ruleset covers it
    before_rules: bool  # the month ended before the first ruleset took effect

    @property
    def pending_total(self) -> int:
        return sum(item.count for item in self.pending)


def months_overview(
    session: Session, rulebook: Rulebook, *, now: datetime, count: int = 12
) -> list[MonthOverview]:
    """The last ``count`` months up to the current one, newest first, plus any older
    month that is published or holds pending entries."""
    ruleset = rulebook.in_force(town_today(now, DEFAULT_TIMEZONE))
    timezone = ruleset.timezone if ruleset else DEFAULT_TIMEZONE
    current = period_of(town_today(now, timezone))
    months = set()
    year, month = int(current[:4]), int(current[5:7])
    for _ in range(count):
        months.add(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    months |= set(published_periods(session))
    months |= set(
        session.scalars(select(Entry.period).where(Entry.status == EntryStatus.PENDING).distinct())
    )
    latest: dict[str, Publication] = {}
    for publication in session.scalars(
        select(Publication)
        .where(Publication.kind == PublicationKind.MONTH)
        .order_by(Publication.revision)
    ):
        latest[publication.period] = publication
    correcting = set(
        session.scalars(select(Correction.period).where(Correction.publication_id.is_(None)))
    )
    open_counts = {
        row[0]: row[1]
        for row in session.execute(
            select(Publication.period, func.count(Objection.id))
            .join(Objection, Objection.publication_id == Publication.id)
            .where(Objection.status == ObjectionStatus.OPEN)
            .group_by(Publication.period)
        )
    }
    first = first_publishable(rulebook)
    overview = []
    for period in sorted((m for m in months if m <= current), reverse=True):
        found = latest.get(period)
        before = first is None or period < first
        if found is None:
            state = MonthState.OPEN
        elif period in correcting:
            state = MonthState.CORRECTING
        elif now < found.window_ends_at:
            state = MonthState.PUBLISHED
        else:
            state = MonthState.FINAL
        overview.append(
            MonthOverview(
                period=period,
                state=state,
                revision=found.revision if found else None,
                published_at=found.published_at if found else None,
                window_ends_at=found.window_ends_at if found else None,
                pending=pending_by_branch(session, period),
                unclosed=unclosed_meetings(session, period),
                open_objections=open_counts.get(period, 0),
                can_publish=found is None and period < current and not before,
                before_rules=before,
            )
        )
    return overview


def publication_list(session: Session) -> list[RevisionInfo]:
    """Every publication, oldest first (for the command line)."""
    out: list[RevisionInfo] = []
    for period in sorted(published_periods(session)):
        out.extend(revisions(session, period))
    return sorted(out, key=lambda r: r.publication_id)
