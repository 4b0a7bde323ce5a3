from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from service.notify.quiet import parse_span, release_time

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(hour: int, minute: int = 0, day: int = 8) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def test_messages_in_the_night_wait_for_seven() -> None:
    start, end = parse_span("22:00-07:00")
    assert release_time(_at(23, 30), start, end, SHANGHAI) == _at(7, 0, day=9)
    assert release_time(_at(3, 0), start, end, SHANGHAI) == _at(7, 0)
    assert release_time(_at(22, 0), start, end, SHANGHAI) == _at(7, 0, day=9)


def test_daytime_messages_go_at_once() -> None:
    start, end = parse_span("22:00-07:00")
    for moment in (_at(7, 0), _at(12, 0), _at(21, 59)):
        assert release_time(moment, start, end, SHANGHAI) == moment


def test_a_span_within_a_day_and_no_span() -> None:
    assert release_time(_at(13, 0), time(12), time(14), SHANGHAI) == _at(14, 0)
    assert release_time(_at(15, 0), time(12), time(14), SHANGHAI) == _at(15, 0)
    assert release_time(_at(23, 0), time(0), time(0), SHANGHAI) == _at(23, 0)
