"""Guards on every session: the ledger is append-only and published boards are frozen.

The ``Database`` installs them on each session factory it makes (never at import), so no
code path can change a ledger line or a stored board, whatever opened the session.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from service.persistence.models import (
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
        (Publication, PublishedMemberRow, PublishedBranchRow),
        "published boards are frozen; publish a correction instead",
    )


def install(sessions: sessionmaker[Session]) -> None:
    event.listen(sessions, "before_flush", _ledger_is_append_only)
    event.listen(sessions, "before_flush", _publications_are_frozen)
