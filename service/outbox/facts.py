"""The small facts the producers put in a notification's parameters, formatted once
the same way everywhere: town-local dates and times, points, and a recipient's
language (for a value that is not a gettext string, such as a rule's name).

Parameters are stored, not re-read: what they say is what the event knew.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.persistence.notify import NotifySettings

# The town's zone when the caller has no ruleset or settings at hand (the default of
# both).
DEFAULT_ZONE = "Asia/Shanghai"
DEFAULT_LOCALE = "zh_CN"


def local_day(moment: datetime, zone: str = DEFAULT_ZONE) -> str:
    """``moment``'s town-local date, ISO (2026-12-08)."""
    return moment.astimezone(ZoneInfo(zone)).date().isoformat()


def local_time(moment: datetime, zone: str = DEFAULT_ZONE) -> str:
    """``moment``'s town-local time of day (19:00)."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def local_minute(moment: datetime, zone: str = DEFAULT_ZONE) -> str:
    """``moment`` town-local to the minute (2026-12-15 10:00)."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def points_text(value: Decimal) -> str:
    """Points as pages show them: one decimal place, grouped."""
    return f"{value:,.1f}"


def account_locale(session: Session, account_id: int) -> str:
    """The language the account reads its notifications in (its settings', else the
    default): for a parameter that has one text per language, such as a rule's name."""
    found = session.scalar(
        select(NotifySettings.locale).where(NotifySettings.account_id == account_id)
    )
    return found or DEFAULT_LOCALE
