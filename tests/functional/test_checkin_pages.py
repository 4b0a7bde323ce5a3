"""Check-in pages over HTTP: the organiser's code screen (QR as SVG, the code, a
Refresh header), the member's one-tap page the QR code opens, refusals shown as
messages, the attendance list with its ticks; strangers get 404, a post without the
CSRF token changes nothing."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from service.meetings.checkin import current_code
from service.persistence.db import Database
from service.persistence.meetings import CheckinMethod, MeetingAttendance
from service.persistence.types import utcnow
from tests.conftest import Browser, SmallTown
from tests.integration.test_checkin import load, make_meeting

HOST = "testserver.local"


def signed_in(make_browser: Any, username: str, locale: str = "en") -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", locale, domain=HOST)
    browser.login(username)
    return browser


def plain(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def open_meeting(database: Database, town: SmallTown, **kwargs: Any) -> int:
    """A meeting starting in ten minutes: check-in is open."""
    return make_meeting(database, town, starts_at=utcnow() + timedelta(minutes=10), **kwargs)


def codes_around(database: Database, meeting_id: int, before: datetime) -> set[str]:
    """The codes from ``before`` to now (a request may cross a 30-second step)."""
    meeting = load(database, meeting_id)
    return {current_code(meeting, before), current_code(meeting, utcnow())}


def attendance(database: Database, meeting_id: int) -> list[MeetingAttendance]:
    with database.transaction(write=False) as session:
        found = list(
            session.scalars(
                select(MeetingAttendance).where(MeetingAttendance.meeting_id == meeting_id)
            )
        )
        session.expunge_all()
        return found


def post_checkin(browser: Browser, meeting_id: int, code: str) -> Any:
    page = f"/meetings/{meeting_id}/checkin?code={code}"
    return browser.submit(page, f"/meetings/{meeting_id}/checkin", {"code": code})


# --- the screen ---------------------------------------------------------------------------


def test_the_screen_shows_the_qr_code_the_digits_and_refreshes_itself(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    meeting_id = open_meeting(database, town)
    secretary = signed_in(make_browser, "secretary")
    before = utcnow()
    response = secretary.client.get(f"/meetings/{meeting_id}/checkin/screen")
    assert response.status_code == 200
    assert "<svg" in response.text and "</svg>" in response.text
    text = plain(response.text)
    shown = [
        code
        for code in codes_around(database, meeting_id, before)
        if f"{code[:3]} {code[3:]}" in text
    ]
    assert shown, text
    assert 1 <= int(response.headers["refresh"]) <= 30
    assert response.headers["cache-control"] == "no-store"
    assert "Checked in: 0 of 2" in text
    # Without a camera: the address of the check-in page, on this host.
    assert f"http://{HOST}/meetings/{meeting_id}/checkin " in text


def test_the_screen_before_the_window_says_when_it_opens(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    meeting_id = make_meeting(database, town, starts_at=utcnow() + timedelta(hours=3))
    secretary = signed_in(make_browser, "secretary")
    response = secretary.client.get(f"/meetings/{meeting_id}/checkin/screen")
    assert response.status_code == 200
    assert "<svg" not in response.text
    assert "Check-in opens at" in plain(response.text)
    assert response.headers["refresh"] == "60"


def test_the_screen_after_the_window_says_it_closed_and_stops_refreshing(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    meeting_id = make_meeting(database, town, starts_at=utcnow() - timedelta(hours=1))
    secretary = signed_in(make_browser, "secretary")
    response = secretary.client.get(f"/meetings/{meeting_id}/checkin/screen")
    assert "<svg" not in response.text
    assert "Check-in closed at" in plain(response.text)
    assert "refresh" not in response.headers


@pytest.mark.parametrize(
    ("username", "status"),
    [("member", 403), ("instructor", 403), ("secretary2", 404), ("member3", 404), ("admin", 200)],
)
def test_only_organisers_see_the_screen(
    database: Database, town: SmallTown, make_browser: Any, username: str, status: int
) -> None:
    meeting_id = open_meeting(database, town)
    browser = signed_in(make_browser, username)
    response = browser.client.get(f"/meetings/{meeting_id}/checkin/screen")
    assert response.status_code == status
    if status != 200:
        assert "<svg" not in response.text


# --- the member's page ----------------------------------------------------------------------


def test_a_member_scans_taps_and_is_checked_in(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    meeting_id = open_meeting(database, town)
    member = signed_in(make_browser, "member", "zh_CN")
    code = current_code(load(database, meeting_id), utcnow())
    page = member.client.get(f"/meetings/{meeting_id}/checkin?code={code}")
    assert page.status_code == 200
    assert f'name="code" value="{code}"' in page.text
    assert "签到" in plain(page.text)
    response = post_checkin(member, meeting_id, code)
    if response.status_code == 409:  # the code changed between the two lines above
        code = current_code(load(database, meeting_id), utcnow())
        response = post_checkin(member, meeting_id, code)
    assert response.status_code == 303
    assert response.headers["location"] == f"/meetings/{meeting_id}/checkin"
    done = member.client.get(response.headers["location"])
    assert re.search(r"签到成功 \d\d:\d\d", plain(done.text)), plain(done.text)
    (row,) = attendance(database, meeting_id)
    assert row.member_id == town.member_ids["member"]
    assert row.method is CheckinMethod.CODE


def test_a_visitor_signs_in_and_comes_back_to_the_check_in_page(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    meeting_id = open_meeting(database, town)
    visitor: Browser = make_browser()
    target = f"/meetings/{meeting_id}/checkin?code=123456"
    response = visitor.client.get(target, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={quote(target, safe='')}"
    token = visitor.csrf_token(response.headers["location"])
    signed = visitor.client.post(
        "/login",
        data={
            "username": "member2",
            "password": "correct horse battery staple",
            "next": target,
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert signed.headers["location"] == target


def test_without_a_code_the_member_types_it(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    meeting_id = open_meeting(database, town)
    member = signed_in(make_browser, "member")
    page = member.client.get(f"/meetings/{meeting_id}/checkin")
    assert 'id="code" name="code"' in page.text


def test_refusals_are_shown_as_messages(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    meeting_id = open_meeting(database, town)
    elsewhere = open_meeting(database, town, title="党小组会")
    member = signed_in(make_browser, "member")
    meeting = load(database, meeting_id)
    stale = current_code(meeting, utcnow() - timedelta(minutes=3))
    response = post_checkin(member, meeting_id, stale)
    assert response.status_code == 409
    assert "error-banner" in response.text
    assert "This code has expired" in plain(response.text)
    other = current_code(load(database, elsewhere), utcnow())
    response = post_checkin(member, meeting_id, other)
    assert response.status_code == 409
    assert "not this meeting's" in plain(response.text)
    assert attendance(database, meeting_id) == []
    # Checked in once; a second tap says when.
    code = current_code(meeting, utcnow())
    if post_checkin(member, meeting_id, code).status_code != 303:
        assert post_checkin(member, meeting_id, current_code(meeting, utcnow())).status_code == 303
    again = post_checkin(member, meeting_id, current_code(meeting, utcnow()))
    assert again.status_code == 409
    assert re.search(r"You already checked in at \d\d:\d\d", plain(again.text))
    assert len(attendance(database, meeting_id)) == 1


def test_outside_the_window_the_page_says_so_and_offers_no_button(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    later = make_meeting(database, town, starts_at=utcnow() + timedelta(hours=3))
    member = signed_in(make_browser, "member")
    page = member.client.get(f"/meetings/{later}/checkin?code=123456")
    assert "Check-in opens at" in plain(page.text)
    assert 'class="primary checkin-button"' not in page.text
    response = post_checkin(member, later, "123456")
    assert response.status_code == 409
    assert "has not opened yet" in plain(response.text)


@pytest.mark.parametrize("username", ["member3", "secretary2", "instructor", "admin"])
def test_strangers_get_404(
    database: Database, town: SmallTown, make_browser: Any, username: str
) -> None:
    meeting_id = open_meeting(database, town)
    browser = signed_in(make_browser, username)
    code = current_code(load(database, meeting_id), utcnow())
    assert browser.client.get(f"/meetings/{meeting_id}/checkin?code={code}").status_code == 404
    token = browser.csrf_token("/boards")
    response = browser.client.post(
        f"/meetings/{meeting_id}/checkin",
        data={"code": code, "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 404
    assert attendance(database, meeting_id) == []


def test_a_post_without_the_csrf_token_is_refused(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    meeting_id = open_meeting(database, town)
    member = signed_in(make_browser, "member")
    code = current_code(load(database, meeting_id), utcnow())
    response = member.client.post(
        f"/meetings/{meeting_id}/checkin", data={"code": code}, follow_redirects=False
    )
    assert response.status_code == 403
    secretary = signed_in(make_browser, "secretary")
    response = secretary.client.post(
        f"/meetings/{meeting_id}/attendance/{town.member_ids['member2']}",
        data={"present": "1"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert attendance(database, meeting_id) == []


# --- the attendance list --------------------------------------------------------------------


def test_the_secretary_ticks_on_the_attendance_list(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    meeting_id = open_meeting(database, town, invitees=("member", "member2", "secretary"))
    secretary = signed_in(make_browser, "secretary")
    page = f"/meetings/{meeting_id}/attendance"
    listing = secretary.client.get(page)
    assert listing.status_code == 200
    assert "张伟" in listing.text and "李娜" in listing.text
    assert "Tick present" in listing.text
    member2 = town.member_ids["member2"]
    response = secretary.submit(
        page, f"/meetings/{meeting_id}/attendance/{member2}", {"present": "1", "back": "attendance"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{page}?done=ticked"
    after = plain(secretary.client.get(response.headers["location"]).text)
    assert "Marked present" in after
    assert re.search(r"Ticked by 王书记 at \d\d:\d\d", after)
    assert "Checked in: 1 of 3" in after
    (row,) = attendance(database, meeting_id)
    assert row.method is CheckinMethod.SECRETARY
    # Taking it back returns to the meeting's page when the form says nothing else.
    response = secretary.submit(
        page, f"/meetings/{meeting_id}/attendance/{member2}", {"present": "0"}
    )
    assert response.headers["location"] == f"/meetings/{meeting_id}"
    assert attendance(database, meeting_id) == []


@pytest.mark.parametrize(
    ("username", "status"), [("member", 403), ("instructor", 403), ("secretary2", 404)]
)
def test_only_organisers_tick(
    database: Database, town: SmallTown, make_browser: Any, username: str, status: int
) -> None:
    meeting_id = open_meeting(database, town)
    browser = signed_in(make_browser, username)
    assert browser.client.get(f"/meetings/{meeting_id}/attendance").status_code == status
    token = browser.csrf_token("/boards")
    response = browser.client.post(
        f"/meetings/{meeting_id}/attendance/{town.member_ids['member2']}",
        data={"present": "1", "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == status
    assert attendance(database, meeting_id) == []


def test_a_tick_refused_says_why(database: Database, town: SmallTown, make_browser: Any) -> None:
    meeting_id = open_meeting(database, town)
    secretary = signed_in(make_browser, "secretary")
    response = secretary.submit(
        f"/meetings/{meeting_id}/attendance",
        f"/meetings/{meeting_id}/attendance/{town.member_ids['member3']}",
        {"present": "1"},
    )
    assert response.status_code == 409
    assert "not on the meeting's list" in plain(response.text)


def test_an_organiser_not_on_the_list_is_told_so(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    meeting_id = open_meeting(database, town)
    secretary = signed_in(make_browser, "secretary")
    page = secretary.client.get(f"/meetings/{meeting_id}/checkin?code=123456")
    assert page.status_code == 409
    assert "not on this meeting's list" in plain(page.text)
    response = post_checkin(secretary, meeting_id, "123456")
    assert response.status_code == 409
    assert attendance(database, meeting_id) == []


def test_wrong_codes_are_counted_and_stop_at_ten(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    meeting_id = open_meeting(database, town)
    member = signed_in(make_browser, "member")
    meeting = load(database, meeting_id)
    token = member.csrf_token(f"/meetings/{meeting_id}/checkin")
    for _attempt in range(10):
        wrong = f"{(int(current_code(meeting, utcnow())) + 7) % 1_000_000:06d}"
        response = member.client.post(
            f"/meetings/{meeting_id}/checkin",
            data={"code": wrong, "_csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 409
    response = post_checkin(member, meeting_id, current_code(meeting, utcnow()))
    assert response.status_code == 409
    assert "Too many wrong codes" in plain(response.text)
    assert attendance(database, meeting_id) == []
