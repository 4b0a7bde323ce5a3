"""Guards on every session: the ledger is append-only, published boards are frozen, and
points change only under the month lock.

The ``Database`` installs them on each session factory it makes (never at import), so no
code path can change a ledger line or a stored board, whatever opened the session.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from service.persistence.assessment import PublishedResultRow
from service.persistence.models import (
    AdoptedRuleset,
    Entry,
    EntryStatus,
    LedgerLine,
    Publication,
    PublishedBranchRow,
    PublishedMemberRow,
)


def refuse_changes(session: Session, kinds: tuple[type[Any], ...], message: str) -> None:
    """Raise ``RuntimeError(message)`` if the session is about to change or delete a row
    of one of ``kinds`` (a ``before_flush`` check)."""
    for obj in session.dirty:
        if isinstance(obj, kinds) and session.is_modified(obj):
            raise RuntimeError(message)
    for obj in session.deleted:
        if isinstance(obj, kinds):
            raise RuntimeError(message)


def _ledger_is_append_only(session: Session, _context: Any, _instances: Any) -> None:
    refuse_changes(
        session, (LedgerLine,), "ledger lines are append-only; record a reversal instead"
    )


def _publications_are_frozen(session: Session, _context: Any, _instances: Any) -> None:
    refuse_changes(
        session,
        (Publication, PublishedMemberRow, PublishedBranchRow, PublishedResultRow),
        "published boards are frozen; publish a correction instead",
    )


def _adopted_rulesets_are_immutable(session: Session, _context: Any, _instances: Any) -> None:
    refuse_changes(
        session,
        (AdoptedRuleset,),
        "adopted rulesets are immutable; adopt a later version instead",
    )


# ``session.info`` key: the transaction holds the month lock (service/publication/state.py,
# ``hold_months`` and ``lock_months``); forgotten when the transaction ends.
MONTH_HOLD = "jifen.month_hold"


class MonthHold(StrEnum):
    SHARED = "shared"  # a write of points: writers share it
    EXCLUSIVE = "exclusive"  # publishing or correcting a month: alone


# An entry's points follow these columns: its standing (approved or not) and the days of
# its suggestion steps.
_POINTS_COLUMNS = ("status", "adopted_on", "implemented_on")


def _moves_points(entry: Entry) -> bool:
    state = inspect(entry)
    for name in _POINTS_COLUMNS:
        history = state.attrs[name].history
        if not history.has_changes():
            continue
        if name != "status":
            return True
        if EntryStatus.APPROVED in (*history.added, *history.deleted):
            return True
    return False


def _points_change_under_the_month_lock(session: Session, _context: Any, _instances: Any) -> None:
    """Every ledger line, and every entry coming into or leaving "approved" or getting a
    suggestion step, is written by a transaction holding the month lock: otherwise it
    could check "the month is open" and land in a month published meanwhile."""
    if session.info.get(MONTH_HOLD):
        return
    message = (
        "points change only under the month lock: call hold_months "
        "(service/publication/state.py) before checking that the month is open"
    )
    if any(isinstance(obj, LedgerLine) for obj in session.new):
        raise RuntimeError(message)
    for obj in session.dirty:
        if isinstance(obj, Entry) and _moves_points(obj):
            raise RuntimeError(message)


def _forget_the_hold(session: Session, transaction: SessionTransaction) -> None:
    # The database releases a transaction's advisory locks when it ends; so does this.
    if transaction.parent is None:
        session.info.pop(MONTH_HOLD, None)


def install(sessions: sessionmaker[Session]) -> None:
    event.listen(sessions, "before_flush", _ledger_is_append_only)
    event.listen(sessions, "before_flush", _publications_are_frozen)
    event.listen(sessions, "before_flush", _points_change_under_the_month_lock)
    event.listen(sessions, "before_flush", _adopted_rulesets_are_immutable)
    event.listen(sessions, "after_transaction_end", _forget_the_hold)
