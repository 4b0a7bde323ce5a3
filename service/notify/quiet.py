"""Quiet hours: when a message held overnight may go out. Pure: times in, time out."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def parse_span(text: str) -> tuple[time, time]:
    """ "22:00-07:00" → (22:00, 07:00); the settings validate the format."""
    start, end = text.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def release_time(now: datetime, start: time, end: time, zone: ZoneInfo) -> datetime:
    """``now`` if it is outside the quiet hours [start, end) read in ``zone``, else the
    moment they end (the next ``end`` on the local clock), as an aware datetime in UTC's
    terms of ``now``. Equal ends mean no quiet hours. A span may cross midnight
    (22:00-07:00) or not (12:00-14:00)."""
    if start == end:
        return now
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    crosses = start > end
    quiet = (clock >= start or clock < end) if crosses else (start <= clock < end)
    if not quiet:
        return now
    day = local.date()
    if crosses and clock >= start:
        day = day + timedelta(days=1)
    ends = datetime.combine(day, end, tzinfo=zone)
    return ends.astimezone(now.tzinfo)
