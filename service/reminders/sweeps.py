"""The reminder sweeps (helper "producers" fills this in)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.kernel.config import Settings


def sweep_all(session: Session, settings: Settings, now: datetime) -> int:
    """Emit every reminder that is due at ``now`` (idempotent: dedupe keys); return how
    many notifications were written. (Stub: none.)"""
    return 0
