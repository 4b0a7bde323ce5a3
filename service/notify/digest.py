"""The weekly digest (helper "email" fills this in)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.kernel.config import Settings


def compose_digests(session: Session, settings: Settings, now: datetime) -> int:
    """Turn each account's due digest items into one digest email delivery; return how
    many digest emails were written. (Stub: writes none.)"""
    return 0
