"""A month's state: ``open`` → ``published`` (the notice window runs) → ``final`` (the
window has closed), or ``correcting`` while the office corrects it.

A published month is frozen everywhere else: nothing dated in it can be submitted,
approved, revoked, adjusted or stepped (``is_frozen``), and reconciling the ledger takes
its activities as givens (see ``service.scoring.engine``). Publishing refuses while
entries of the month are pending, and says which branches hold them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.kernel.errors import Conflict
from service.kernel.i18n import N_, Message
from service.persistence.models import (
    Branch,
    Correction,
    Entry,
    EntryStatus,
    Publication,
)

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


def latest_publication(session: Session, period: str) -> Publication | None:
    return session.scalar(
        select(Publication)
        .where(Publication.period == period)
        .order_by(Publication.revision.desc())
        .limit(1)
    )


def correction_in_progress(session: Session, period: str) -> Correction | None:
    return session.scalar(
        select(Correction).where(Correction.period == period, Correction.publication_id.is_(None))
    )


def published_periods(session: Session) -> frozenset[str]:
    """Every month with a publication, corrections in progress included."""
    return frozenset(session.scalars(select(Publication.period).distinct()))


def frozen_months(session: Session) -> frozenset[str]:
    """Published months that nothing may change: every published month except those
    with a correction in progress."""
    correcting = set(
        session.scalars(select(Correction.period).where(Correction.publication_id.is_(None)))
    )
    return frozenset(published_periods(session) - correcting)


def is_frozen(session: Session, period: str) -> bool:
    if session.scalar(select(Publication.id).where(Publication.period == period).limit(1)) is None:
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


def first_day(period: str) -> date:
    return date(int(period[:4]), int(period[5:7]), 1)
