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


def _ledger_is_append_only(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.dirty:
        if isinstance(obj, LedgerLine) and session.is_modified(obj):
            raise RuntimeError("ledger lines are append-only; record a reversal instead")
    for obj in session.deleted:
        if isinstance(obj, LedgerLine):
            raise RuntimeError("ledger lines are append-only; record a reversal instead")


def _publications_are_frozen(session: Session, _context: Any, _instances: Any) -> None:
    frozen = (Publication, PublishedMemberRow, PublishedBranchRow)
    for obj in session.dirty:
        if isinstance(obj, frozen) and session.is_modified(obj):
            raise RuntimeError("published boards are frozen; publish a correction instead")
    for obj in session.deleted:
        if isinstance(obj, frozen):
            raise RuntimeError("published boards are frozen; publish a correction instead")


def install(sessions: sessionmaker[Session]) -> None:
    event.listen(sessions, "before_flush", _ledger_is_append_only)
    event.listen(sessions, "before_flush", _publications_are_frozen)
