"""A member's calendar link (/account/calendar) and the feed a phone subscribes to
(/calendar/{token}.ics): no sign-in, the member's meetings only, a new link retires
the old one, a cancelled meeting says so."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from icalendar import Calendar
from litestar import Litestar
from litestar.testing import TestClient

from service.kernel.config import Settings
from service.persistence.db import Database
from service.persistence.meetings import Audience, Meeting, MeetingInvitee, MeetingStatus
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown

HOST = "testserver.local"
FEED_URL = re.compile(r'id="feed-url" type="url" value="([^"]+)"')


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login(username)
    return browser


def add_meeting(
    database: Database,
    town: SmallTown,
    *,
    branch_id: int,
    invitees: list[int],
    title: str,
    status: MeetingStatus = MeetingStatus.SCHEDULED,
) -> int:
    now = utcnow().replace(microsecond=0)
    starts = now + timedelta(days=5)
    with database.transaction() as session:
        meeting = Meeting(
            branch_id=branch_id,
            kind="theme_day",
            title=title,
            starts_at=starts,
            ends_at=starts + timedelta(hours=2),
            day=starts.date(),
            period=starts.strftime("%Y-%m"),
            place="党群服务中心",
            agenda="学习二十届三中全会精神",
            audience=Audience.LIST,
            status=status,
            checkin_secret="0" * 64,
            created_at=now,
            created_by_id=town.account_ids["secretary"],
        )
        if status is MeetingStatus.CANCELLED:
            meeting.cancelled_at = now
            meeting.cancel_reason = "书记出差"
        session.add(meeting)
        session.flush()
        for member_id in invitees:
            session.add(MeetingInvitee(meeting_id=meeting.id, member_id=member_id))
        return meeting.id


def make_link(browser: Browser) -> str:
    response = browser.submit("/account/calendar", "/account/calendar/new-link", {})
    assert response.status_code == 303
    page = browser.client.get(response.headers["location"])
    match = FEED_URL.search(page.text)
    assert match, page.text
    return match.group(1)


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def phone(make_browser: Any) -> TestClient[Litestar]:
    """A phone's calendar: its own client, no cookies, never signed in. (Made through
    ``make_browser`` so that the clients close in the order the app needs.)"""
    browser: Browser = make_browser()
    return browser.client


def test_a_member_makes_a_link_and_their_phone_reads_the_meetings(
    town: SmallTown, database: Database, make_browser: Any
) -> None:
    mine = add_meeting(
        database,
        town,
        branch_id=town.jinwan,
        invitees=[town.member_ids["member"], town.member_ids["member2"]],
        title="十二月主题党日",
    )
    cancelled = add_meeting(
        database,
        town,
        branch_id=town.jinwan,
        invitees=[town.member_ids["member"]],
        title="取消的党课",
        status=MeetingStatus.CANCELLED,
    )
    strangers = add_meeting(
        database,
        town,
        branch_id=town.baoyuan,
        invitees=[town.member_ids["member3"]],
        title="宝元的会",
    )
    member = signed_in(make_browser, "member")
    account = member.client.get("/account/password")
    assert 'href="/account/calendar"' in account.text
    page = member.client.get("/account/calendar")
    assert page.status_code == 200
    assert "You have no calendar link yet" in page.text
    url = make_link(member)
    assert url.startswith("http://testserver.local/calendar/") and url.endswith(".ics")
    page = member.client.get("/account/calendar")
    assert url in page.text
    assert "webcal://testserver.local/calendar/" in page.text
    # The phone: no cookies, no sign-in.
    client = phone(make_browser)
    response = client.get(path_of(url))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert "no-store" in response.headers["cache-control"]
    assert "private" in response.headers["cache-control"]
    calendar = Calendar.from_ical(response.content)
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {f"meeting-{mine}@jifen", f"meeting-{cancelled}@jifen"}
    assert f"meeting-{strangers}@jifen" not in events
    assert "十二月主题党日" in str(events[f"meeting-{mine}@jifen"]["summary"])
    assert str(events[f"meeting-{mine}@jifen"]["status"]) == "CONFIRMED"
    assert str(events[f"meeting-{cancelled}@jifen"]["status"]) == "CANCELLED"
    assert f"http://testserver.local/meetings/{mine}" in str(
        events[f"meeting-{mine}@jifen"]["description"]
    )
    assert "书记出差" not in response.text
    assert "李娜" not in response.text  # no other member
    assert b"\r\nDTSTART:" in response.content and b"Z\r\n" in response.content


def test_a_new_link_retires_the_old_one(
    town: SmallTown, database: Database, make_browser: Any
) -> None:
    member = signed_in(make_browser, "member")
    client = phone(make_browser)
    old = make_link(member)
    assert client.get(path_of(old)).status_code == 200
    response = member.submit("/account/calendar", "/account/calendar/new-link", {})
    assert response.headers["location"] == "/account/calendar?done=rotated"
    page = member.client.get(response.headers["location"])
    assert "The old link no longer works" in page.text
    new = FEED_URL.search(page.text)
    assert new and new.group(1) != old
    assert client.get(path_of(old)).status_code == 404
    assert client.get(path_of(new.group(1))).status_code == 200


def test_unknown_tokens_are_not_found(town: SmallTown, client: TestClient[Litestar]) -> None:
    for path in (
        "/calendar/not-a-token.ics",
        "/calendar/.ics",
        "/calendar/" + "a" * 43 + ".ics",
        "/calendar/" + "a" * 300 + ".ics",
        "/calendar/abc",
    ):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 404, path


def test_the_link_page_needs_sign_in_and_a_csrf_token(town: SmallTown, make_browser: Any) -> None:
    response = phone(make_browser).get("/account/calendar", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    member = signed_in(make_browser, "member")
    refused = member.client.post("/account/calendar/new-link", data={}, follow_redirects=False)
    assert refused.status_code == 403


def test_the_office_without_a_member_record_gets_an_empty_calendar(
    town: SmallTown, make_browser: Any
) -> None:
    admin = signed_in(make_browser, "admin")
    client = phone(make_browser)
    page = admin.client.get("/account/calendar")
    assert "has no member record" in page.text
    url = make_link(admin)
    calendar = Calendar.from_ical(client.get(path_of(url)).content)
    assert calendar.walk("VEVENT") == []


def test_the_link_is_https_when_the_town_is(
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
    database_url: str,
    tmp_path: Path,
) -> None:
    from web.app import create_app

    settings = Settings(
        env="test",
        database_url=database_url,
        upload_dir=tmp_path / "uploads",
        roster_upload_dir=tmp_path / "roster-uploads",
        public_url="https://jifen.example.cn",
    )
    app = create_app(settings, database=database, rulebook=rulebook)
    with TestClient(app=app, base_url="https://testserver.local") as test_client:
        browser = Browser(test_client)
        browser.client.cookies.set("jifen_lang", "en", domain=HOST)
        browser.login("member")
        url = make_link(browser)
    assert url.startswith("https://jifen.example.cn/calendar/")


def test_the_instructions_are_in_chinese(town: SmallTown, make_browser: Any) -> None:
    browser: Browser = make_browser()
    browser.login("member")
    response = browser.submit("/account/calendar", "/account/calendar/new-link", {})
    page = browser.client.get(response.headers["location"])
    assert "日历链接已生成" in page.text
    for words in ("苹果手机", "添加已订阅的日历", "安卓手机", "长按上面的链接", "生成新链接"):
        assert words in page.text, words
    assert "webcal://" in page.text
