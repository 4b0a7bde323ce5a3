"""/me/points explains meeting attendance like any other line: the type, the day, the
meeting's title, attended or absent, and the points (in Chinese by default)."""

from __future__ import annotations

import html as html_lib
import re
from datetime import UTC, date, datetime, time
from typing import Any

from service.meetings.closing import close_meeting
from service.meetings.schedule import MeetingInput, schedule_meeting
from service.persistence.db import Database
from service.persistence.meetings import CheckinMethod, MeetingAttendance
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

BEFORE = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
AFTER = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)


def _line(page: str, key: str) -> str:
    match = re.search(rf'<li class="line[^"]*" id="line-{key}">(.*?)</li>', page, re.S)
    assert match, key
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", match.group(1))))


def test_attendance_and_absence_lines_on_my_points(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    secretary = town.principal(database, "secretary")
    with database.transaction() as session:
        meeting = schedule_meeting(
            session,
            secretary,
            rulebook,
            MeetingInput(
                branch_id=town.jinwan,
                kind="theme_day",
                title="重温入党誓词",
                day=date(2026, 12, 5),
                start=time(9, 0),
                end=time(11, 0),
            ),
            now=BEFORE,
        )
        row = MeetingAttendance(
            meeting_id=meeting.id,
            member_id=town.member_ids["member"],
            branch_id=town.jinwan,
            checked_in_at=AFTER,
            method=CheckinMethod.CODE,
        )
        session.add(row)
        session.flush()
        close_meeting(session, secretary, rulebook, meeting.id, "纪要", now=AFTER)
        attended_id, meeting_id = row.id, meeting.id
    member = make_browser()
    member.login("member")
    page = member.client.get("/me/points?year=2026").text
    line = _line(page, f"attendance-{attended_id}")
    # e.g. "出席 2026年12月5日 参加主题党日 细则 2026.2 主题党日 · 重温入党誓词 应得 2.0 · 计入 2.0"
    for words in ("出席", "2026年12月5日", "主题党日 · 重温入党誓词", "计入 2.0"):
        assert words in line, (words, line)
    assert f'href="/meetings/{meeting_id}"' in page
    other = make_browser()
    other.login("secretary")
    page = other.client.get("/me/points?year=2026").text
    keys = re.findall(r'id="line-(absence-\d+)"', page)
    assert len(keys) == 1
    line = _line(page, keys[0])
    for words in ("无故缺席", "主题党日 · 重温入党誓词", "计入 -2.0"):
        assert words in line, (words, line)
