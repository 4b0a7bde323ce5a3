"""Periods are calendar months in the town's timezone, keyed by the activity date."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_, Message

# [0-9], not \d: \d also matches full-width and other Unicode digits.
PERIOD_PATTERN = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
YEAR_PATTERN = re.compile(r"[0-9]{4}")

# The years a period, quarter or year in an address may name. Four digits allow the year
# 0, which no date() holds (a 500 on /boards/0000-01); pages step a span back and forth,
# so the ends stay far from date()'s; and the bounds are the ones a regular expression
# says plainly, for the JSON API's documentation (PERIOD_REGEX).
YEAR_MIN = 1900
YEAR_MAX = 2999
PERIOD_REGEX = r"^(19[0-9]{2}|2[0-9]{3})-(0[1-9]|1[0-2])$"


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def town_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def is_year(year: int) -> bool:
    """Whether ``year`` is one a period may name (YEAR_MIN to YEAR_MAX)."""
    return YEAR_MIN <= year <= YEAR_MAX


def parse_period(text: str) -> str:
    """Validate a ``YYYY-MM`` period key: every period the app is sent passes here (or
    ``parse_year``), so none reaches date() with a year it cannot hold."""
    match = PERIOD_PATTERN.fullmatch(text)
    if match is None or not is_year(int(match.group(1))):
        raise InvalidInput({"period": Message(N_("A month is written YYYY-MM, e.g. 2026-03."))})
    return text


def parse_year(text: str) -> int:
    """Validate a ``YYYY`` year."""
    if not YEAR_PATTERN.fullmatch(text) or not is_year(int(text)):
        raise InvalidInput({"year": Message(N_("A year is written YYYY, e.g. 2026."))})
    return int(text)


def shift_period(period: str, months: int) -> str:
    year, month = int(period[:4]), int(period[5:7])
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
