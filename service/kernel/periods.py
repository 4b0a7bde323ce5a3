"""Periods are calendar months in the town's timezone, keyed by the activity date."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_, Message

# [0-9], not \d: \d also matches full-width and other Unicode digits.
PERIOD_PATTERN = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def town_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def parse_period(text: str) -> str:
    """Validate a ``YYYY-MM`` period key."""
    if not PERIOD_PATTERN.fullmatch(text):
        raise InvalidInput({"period": Message(N_("A month is written YYYY-MM, e.g. 2026-03."))})
    return text


def shift_period(period: str, months: int) -> str:
    year, month = int(period[:4]), int(period[5:7])
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
