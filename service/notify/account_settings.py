"""An account's notification settings row: made on first use, with the token of its
digest unsubscribe link."""

from __future__ import annotations

import secrets
from datetime import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.kernel.config import Settings
from service.notify.quiet import parse_span
from service.persistence.notify import NotifySettings
from service.persistence.types import utcnow


def settings_for(
    session: Session, account_id: int, *, default_locale: str = "zh_CN"
) -> NotifySettings:
    """The account's settings, made (and flushed) if it has none yet."""
    row = session.get(NotifySettings, account_id)
    if row is None:
        row = NotifySettings(
            account_id=account_id,
            locale=default_locale,
            unsubscribe_token=secrets.token_urlsafe(32),
            updated_at=utcnow(),
        )
        session.add(row)
        session.flush()
    return row


def existing_settings(session: Session, account_ids: list[int]) -> dict[int, NotifySettings]:
    """The settings rows these accounts have (accounts without one use the defaults)."""
    if not account_ids:
        return {}
    rows = session.scalars(select(NotifySettings).where(NotifySettings.account_id.in_(account_ids)))
    return {row.account_id: row for row in rows}


def quiet_span(row: NotifySettings | None, settings: Settings) -> tuple[time, time]:
    """The account's quiet hours, else the town's (JIFEN_QUIET_HOURS)."""
    if row is not None and row.quiet_from and row.quiet_to:
        return time.fromisoformat(row.quiet_from), time.fromisoformat(row.quiet_to)
    return parse_span(settings.quiet_hours)
