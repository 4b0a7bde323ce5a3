"""A month's state: ``open`` → ``published`` (the notice window runs) → ``final`` (the
window has closed), or ``correcting`` while the office corrects it.

A published month is frozen everywhere else: nothing dated in it can be submitted,
approved, revoked, adjusted or stepped (``is_frozen``), and reconciling the ledger takes
its activities as givens (see ``service.scoring.engine``). Publishing refuses while
entries of the month are pending, and says which branches hold them, and while
meetings held in the month are neither closed nor cancelled (their attendance would be
frozen without points).

One rule keeps a month's state and its points in step: the month lock. Whatever changes
a month's state (publishing, opening or publishing a correction) takes it exclusively
(``lock_months``); every write that changes points or an entry's standing (submitting,
approving, revoking, adjusting, a suggestion step, a rescore, a transfer) takes its
shared side first (``hold_months``) and only then asks whether a month is frozen. So a
publication waits for the writes in flight and the writes that come after it see it:
a write never checks "open" and then lands in a month published meanwhile, and a
publication never stores a board that a write in flight is about to change. On
PostgreSQL it is one advisory lock (writers share it: they do not wait for each other);
on SQLite every write transaction begins with ``BEGIN IMMEDIATE`` and already runs alone
(service/persistence/db.py). The session records that it holds the lock (``MONTH_HOLD``)
and the ledger refuses to write a line, or an entry to move in or out of "approved",
without it (service/persistence/guards.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from service.kernel.errors import Conflict
from service.kernel.i18n import N_, Message
from service.kernel.periods import period_of
from service.persistence.guards import MONTH_HOLD, MonthHold
from service.persistence.meetings import Meeting, MeetingStatus
from service.persistence.models import (
    Adjustment,
    Branch,
    Correction,
    Entry,
    EntryStatus,
    Publication,
    PublicationKind,
)
from service.scoring.rules import Rulebook

DEFAULT_NOTICE_DAYS = 7

DEFAULT_TIMEZONE = "Asia/Shanghai"


class MonthState(StrEnum):
    OPEN = "open"  # never published: entries may still come and go
    PUBLISHED = "published"  # on public notice: objections are taken until the window ends
    CORRECTING = "correcting"  # a correction was opened: the month may change again
    FINAL = "final"  # the notice window has closed: the board stands for good


MONTH_STATE_LABELS = {
    MonthState.OPEN: N_("open"),
    MonthState.PUBLISHED: N_("published, on notice"),
    MonthState.CORRECTING: N_("correction in progress"),
    MonthState.FINAL: N_("final"),
}


# The PostgreSQL advisory lock behind ``lock_months`` and ``hold_months``; the same
# key serialises the digest chain (service/publication/chain.py), which publishing
# extends under it.
MONTH_LOCK_KEY = 4_242_001


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def hold_months(session: Session) -> None:
    """Hold the month lock's shared side until the transaction ends (see the module
    notes). Call it before the first row lock of the transaction and before asking
    whether a month is frozen: the answer then stands until the transaction ends, and
    writers holding it do not wait for each other. Taking it twice costs nothing."""
    if session.info.get(MONTH_HOLD):
        return
    if _postgresql(session):
        session.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": MONTH_LOCK_KEY})
    session.info[MONTH_HOLD] = MonthHold.SHARED


def lock_months(session: Session) -> None:
    """Hold the month lock alone until the transaction ends: waits for every write in
    flight, and every write after it waits for this transaction (publishing, corrections).
    Call it before reading the state the transaction changes."""
    if session.info.get(MONTH_HOLD) is MonthHold.EXCLUSIVE:
        return
    if _postgresql(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MONTH_LOCK_KEY})
    session.info[MONTH_HOLD] = MonthHold.EXCLUSIVE


def holds_months(session: Session) -> bool:
    """Whether this transaction holds the month lock (either side)."""
    return bool(session.info.get(MONTH_HOLD))


def hold_month(session: Session, period: str) -> bool:
    """``hold_months``, then whether ``period`` is frozen, read under the hold: the one
    way a write asks whether it may change points dated in ``period``."""
    hold_months(session)
    return is_frozen(session, period)


def latest_publication(session: Session, period: str) -> Publication | None:
    return session.scalar(
        select(Publication)
        .where(Publication.kind == PublicationKind.MONTH, Publication.period == period)
        .order_by(Publication.revision.desc())
        .limit(1)
    )


def correction_in_progress(session: Session, period: str) -> Correction | None:
    return session.scalar(
        select(Correction).where(Correction.period == period, Correction.publication_id.is_(None))
    )


def published_periods(session: Session) -> frozenset[str]:
    """Every month with a publication, corrections in progress included."""
    return frozenset(
        session.scalars(
            select(Publication.period).where(Publication.kind == PublicationKind.MONTH).distinct()
        )
    )


def frozen_months(session: Session) -> frozenset[str]:
    """Published months that nothing may change: every published month except those
    with a correction in progress."""
    correcting = set(
        session.scalars(select(Correction.period).where(Correction.publication_id.is_(None)))
    )
    return frozenset(published_periods(session) - correcting)


def is_frozen(session: Session, period: str) -> bool:
    published = select(Publication.id).where(
        Publication.kind == PublicationKind.MONTH, Publication.period == period
    )
    if session.scalar(published.limit(1)) is None:
        return False
    return correction_in_progress(session, period) is None


def month_state(session: Session, period: str, now: datetime) -> MonthState:
    latest = latest_publication(session, period)
    if latest is None:
        return MonthState.OPEN
    if correction_in_progress(session, period) is not None:
        return MonthState.CORRECTING
    if now < latest.window_ends_at:
        return MonthState.PUBLISHED
    return MonthState.FINAL


@dataclass(frozen=True)
class PendingBranch:
    branch_id: int
    name: str
    count: int


def pending_by_branch(session: Session, period: str) -> list[PendingBranch]:
    """Branches holding pending entries dated in ``period``, by name."""
    rows = session.execute(
        select(Branch.id, Branch.name, func.count(Entry.id))
        .join(Entry, Entry.branch_id == Branch.id)
        .where(Entry.period == period, Entry.status == EntryStatus.PENDING)
        .group_by(Branch.id, Branch.name)
        .order_by(Branch.name)
    )
    return [PendingBranch(row[0], row[1], row[2]) for row in rows]


def pending_conflict(pending: list[PendingBranch], period: str) -> Conflict:
    listed = ", ".join(f"{item.name} ({item.count})" for item in pending)
    return PendingEntries(
        Message(
            N_(
                "%(period)s cannot be published while entries dated in it are pending. "
                "Branches holding them: %(branches)s."
            ),
            {"period": period, "branches": listed},
        ),
        pending,
    )


class PendingEntries(Conflict):
    """Publishing refused: these branches hold pending entries of the month."""

    def __init__(self, message: Message, branches: list[PendingBranch]) -> None:
        self.branches = branches
        super().__init__(message)


@dataclass(frozen=True)
class UnclosedMeeting:
    """A meeting held in the month that is neither closed nor cancelled."""

    meeting_id: int
    branch_name: str
    title: str
    day: date


def unclosed_meetings(session: Session, period: str) -> list[UnclosedMeeting]:
    """Meetings held in ``period`` (their points are dated on their day) that are still
    scheduled: publishing would freeze their attendance without points. By day, branch."""
    rows = session.execute(
        select(Meeting.id, Branch.name, Meeting.title, Meeting.day)
        .join(Branch, Branch.id == Meeting.branch_id)
        .where(Meeting.period == period, Meeting.status == MeetingStatus.SCHEDULED)
        .order_by(Meeting.day, Branch.name, Meeting.starts_at, Meeting.id)
    )
    return [UnclosedMeeting(row[0], row[1], row[2], row[3]) for row in rows]


class UnclosedMeetings(Conflict):
    """Publishing refused: meetings held in the month are not closed or cancelled."""

    def __init__(self, message: Message, meetings: list[UnclosedMeeting]) -> None:
        self.meetings = meetings
        super().__init__(message)


def unclosed_conflict(meetings: list[UnclosedMeeting], period: str) -> UnclosedMeetings:
    listed = ", ".join(f"{m.branch_name}: {m.title} ({m.day.isoformat()})" for m in meetings)
    return UnclosedMeetings(
        Message(
            N_(
                "%(period)s cannot be published while meetings held in it are not closed: "
                "their attendance would be frozen without points. Close or cancel them "
                "first: %(meetings)s."
            ),
            {"period": period, "meetings": listed},
        ),
        meetings,
    )


def first_day(period: str) -> date:
    return date(int(period[:4]), int(period[5:7]), 1)


def first_publishable(rulebook: Rulebook) -> str | None:
    """The first month a board can be published for: the month the earliest ruleset
    takes effect in (None: the rulebook is empty). Before it no rule scored anything,
    and a published board of zeros would stand for good."""
    if not rulebook.rulesets:
        return None
    return period_of(rulebook.rulesets[0].effective_from)


def before_rules_conflict(rulebook: Rulebook, period: str) -> Conflict | None:
    """Why ``period`` cannot be published because no ruleset covers it, or None."""
    first = first_publishable(rulebook)
    if first is not None and period >= first:
        return None
    return Conflict(
        Message(
            N_(
                "%(period)s is before the first points rules (in force from %(first)s): "
                "nothing in it can have scored, and a published board stands for good."
            ),
            {"period": period, "first": first or "-"},
        )
    )


def month_activity(session: Session, period: str) -> int:
    """How many things count in ``period``: approved entries dated in it, suggestion
    steps dated in it, deductions and adjustments dated in it, closed meetings held in
    it. A month with none has nothing but zeros to publish."""
    first = first_day(period)
    last = _last_day(period)
    approved = Entry.status == EntryStatus.APPROVED
    entries = session.scalar(
        select(func.count())
        .select_from(Entry)
        .where(
            approved,
            or_(
                Entry.period == period,
                Entry.adopted_on.between(first, last),
                Entry.implemented_on.between(first, last),
            ),
        )
    )
    adjustments = session.scalar(
        select(func.count()).select_from(Adjustment).where(Adjustment.period == period)
    )
    meetings = session.scalar(
        select(func.count())
        .select_from(Meeting)
        .where(Meeting.period == period, Meeting.status == MeetingStatus.CLOSED)
    )
    return (entries or 0) + (adjustments or 0) + (meetings or 0)


class EmptyMonth(Conflict):
    """Publishing refused until confirmed: nothing counts in the month, so its board
    would be all zeros, frozen for good."""


def empty_month_conflict(period: str) -> EmptyMonth:
    return EmptyMonth(
        Message(
            N_(
                "Nothing counts in %(period)s: no approved entry, suggestion step or "
                "adjustment is dated in it, so every member would be published with 0 "
                "points, for good. Confirm to publish it anyway."
            ),
            {"period": period},
        )
    )


def _last_day(period: str) -> date:
    year, month = int(period[:4]), int(period[5:7])
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return date.fromordinal(following.toordinal() - 1)
