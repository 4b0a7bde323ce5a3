"""Meetings (组织生活) through the HTML pages: scheduling with errors beside the fields,
leave asked and answered, closing with minutes writing the points, amending, make-up
sessions, cancelling, and what strangers and other members do not see."""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from service.kernel.periods import town_today
from service.meetings.schedule import MeetingInput, schedule_meeting
from service.persistence.db import Database
from service.persistence.meetings import (
    CheckinMethod,
    Meeting,
    MeetingAttendance,
    MeetingStatus,
)
from service.persistence.models import LedgerLine
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown

ZONE_HOURS = 8  # Asia/Shanghai
LEAVE_REASON = "出差在外地,无法参加"


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


class Meetings:
    """Meetings of 金湾 scheduled straight through the service, and moved in time."""

    def __init__(self, database: Database, town: SmallTown, rulebook: Rulebook) -> None:
        self.database = database
        self.town = town
        self.rulebook = rulebook

    def schedule(
        self,
        *,
        day: date | None = None,
        kind: str = "theme_day",
        title: str = "12月主题党日",
        username: str = "secretary",
    ) -> int:
        principal = self.town.principal(self.database, username)
        branch = self.town.jinwan if username != "secretary2" else self.town.baoyuan
        with self.database.transaction() as session:
            meeting = schedule_meeting(
                session,
                principal,
                self.rulebook,
                MeetingInput(
                    branch_id=branch,
                    kind=kind,
                    title=title,
                    day=day or today() + timedelta(days=7),
                    start=time(9, 0),
                    end=time(11, 0),
                    place="党群服务中心",
                    agenda="集体学习",
                ),
                now=utcnow(),
            )
            return meeting.id

    def move_to_the_past(self, meeting_id: int) -> None:
        """As if it had been held an hour ago (leave asked before, now ended)."""
        ended = utcnow() - timedelta(hours=1)
        with self.database.transaction() as session:
            session.execute(
                update(Meeting)
                .where(Meeting.id == meeting_id)
                .values(starts_at=ended - timedelta(hours=2), ends_at=ended)
            )

    def open_now(self, meeting_id: int) -> None:
        """As if it had begun ten minutes ago (check-in is open)."""
        began = utcnow() - timedelta(minutes=10)
        with self.database.transaction() as session:
            session.execute(
                update(Meeting)
                .where(Meeting.id == meeting_id)
                .values(starts_at=began, ends_at=began + timedelta(hours=1))
            )

    def tick(self, meeting_id: int, username: str) -> None:
        """A member checked in (what the check-in screen or the list records)."""
        with self.database.transaction() as session:
            session.add(
                MeetingAttendance(
                    meeting_id=meeting_id,
                    member_id=self.town.member_ids[username],
                    branch_id=self.town.jinwan,
                    checked_in_at=utcnow() - timedelta(hours=2),
                    method=CheckinMethod.SECRETARY,
                    recorded_by_id=self.town.account_ids["secretary"],
                )
            )

    def status(self, meeting_id: int) -> MeetingStatus:
        with self.database.transaction(write=False) as session:
            meeting = session.get(Meeting, meeting_id)
            assert meeting is not None
            return meeting.status

    def points_of(self, username: str) -> list[str]:
        with self.database.transaction(write=False) as session:
            rows = session.scalars(
                select(LedgerLine.points).where(
                    LedgerLine.member_id == self.town.member_ids[username],
                    LedgerLine.attendance_id.is_not(None),
                )
            ).all()
        return sorted(f"{points:.1f}" for points in rows)


@pytest.fixture
def meetings(database: Database, town: SmallTown, rulebook: Rulebook) -> Meetings:
    return Meetings(database, town, rulebook)


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.login(username)
    return browser


def held_day() -> date:
    """A day this month before today (the meeting was held), or today."""
    return max(today().replace(day=1), today() - timedelta(days=1))


FORM = {
    "kind": "theme_day",
    "title": "12月主题党日:学习全会精神",
    "day": "",
    "start": "09:00",
    "end": "11:00",
    "place": "金湾园区党群服务中心",
    "agenda": "一、集体学习\n二、志愿服务",
    "audience": "branch",
}


def test_the_form_shows_each_error_beside_its_field_and_keeps_what_was_typed(
    make_browser: Any, town: SmallTown
) -> None:
    secretary = signed_in(make_browser, "secretary")
    page = secretary.client.get("/meetings/new")
    assert page.status_code == 200
    assert 'name="kind"' in page.text and 'value="theme_day"' in page.text
    fields = {
        **FORM,
        "branch_id": str(town.jinwan),
        "title": "",
        "day": (today() + timedelta(days=3)).isoformat(),
        "start": "11:00",
        "end": "09:00",
    }
    response = secretary.submit("/meetings/new", "/meetings/new", fields)
    assert response.status_code == 422
    assert 'id="title-error"' in response.text
    assert 'id="end-error"' in response.text
    # Nothing typed is lost.
    assert 'value="金湾园区党群服务中心"' in response.text
    assert "一、集体学习" in response.text
    # A date that is none is refused by the form itself.
    response = secretary.submit(
        "/meetings/new", "/meetings/new", {**fields, "title": "x", "day": "12/13", "end": "12:00"}
    )
    assert response.status_code == 422
    assert 'id="day-error"' in response.text


def test_a_scheduled_meeting_is_seen_by_the_members_expected_only(
    make_browser: Any, town: SmallTown
) -> None:
    secretary = signed_in(make_browser, "secretary")
    day = today() + timedelta(days=5)
    response = secretary.submit(
        "/meetings/new",
        "/meetings/new",
        {**FORM, "branch_id": str(town.jinwan), "day": day.isoformat()},
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    match = re.fullmatch(r"/meetings/(\d+)\?done=scheduled", location)
    assert match, location
    meeting_id = int(match.group(1))
    page = secretary.client.get(location)
    assert "12月主题党日:学习全会精神" in page.text
    assert 'role="status"' in page.text

    member = signed_in(make_browser, "member")
    listing = member.client.get("/meetings")
    assert f'id="meeting-{meeting_id}"' in listing.text
    assert "金湾园区党群服务中心" in listing.text
    assert f"/meetings/{meeting_id}" in member.client.get("/").text
    assert member.client.get(f"/meetings/{meeting_id}").status_code == 200

    stranger = signed_in(make_browser, "member3")
    assert f'id="meeting-{meeting_id}"' not in stranger.client.get("/meetings").text
    for path in ("", "/edit", "/close", "/makeup"):
        assert stranger.client.get(f"/meetings/{meeting_id}{path}").status_code == 404
    refused = stranger.submit(
        "/meetings", f"/meetings/{meeting_id}/leave", {"reason": LEAVE_REASON}
    )
    assert refused.status_code == 404
    assert stranger.client.get("/meetings/999999").status_code == 404


def test_only_organisers_schedule(make_browser: Any, town: SmallTown) -> None:
    member = signed_in(make_browser, "member")
    assert member.client.get("/meetings/new").status_code == 403
    response = member.submit(
        "/meetings",
        "/meetings/new",
        {**FORM, "branch_id": str(town.jinwan), "day": today().isoformat()},
    )
    assert response.status_code == 403
    # Another branch's secretary cannot schedule for 金湾.
    other = signed_in(make_browser, "secretary2")
    response = other.submit(
        "/meetings",
        "/meetings/new",
        {**FORM, "branch_id": str(town.jinwan), "day": today().isoformat()},
    )
    assert response.status_code == 403


def test_leave_is_asked_answered_and_its_reason_kept_private(
    make_browser: Any, meetings: Meetings
) -> None:
    meeting_id = meetings.schedule()
    member = signed_in(make_browser, "member")
    page = member.client.get(f"/meetings/{meeting_id}")
    assert f'action="/meetings/{meeting_id}/leave"' in page.text

    refused = member.submit(
        f"/meetings/{meeting_id}", f"/meetings/{meeting_id}/leave", {"reason": ""}
    )
    assert refused.status_code == 422
    assert 'id="leave-reason-error"' in refused.text

    asked = member.submit(
        f"/meetings/{meeting_id}", f"/meetings/{meeting_id}/leave", {"reason": LEAVE_REASON}
    )
    assert asked.status_code == 303
    assert asked.headers["location"] == f"/meetings/{meeting_id}?done=leave_requested"
    assert LEAVE_REASON in member.client.get(f"/meetings/{meeting_id}").text

    # Another member of the branch and the instructor do not read the reason.
    for username in ("member2", "instructor"):
        other = signed_in(make_browser, username)
        page = other.client.get(f"/meetings/{meeting_id}")
        assert page.status_code == 200
        assert LEAVE_REASON not in page.text

    secretary = signed_in(make_browser, "secretary")
    page = secretary.client.get(f"/meetings/{meeting_id}")
    assert LEAVE_REASON in page.text
    decide = re.search(rf'action="/meetings/{meeting_id}/leave/(\d+)/decide"', page.text)
    assert decide, page.text
    action = f"/meetings/{meeting_id}/leave/{decide.group(1)}/decide"
    # Declining needs a reason.
    refused = secretary.submit(f"/meetings/{meeting_id}", action, {"decision": "decline"})
    assert refused.status_code == 422
    granted = secretary.submit(
        f"/meetings/{meeting_id}", action, {"decision": "grant", "reason": "同意"}
    )
    assert granted.status_code == 303
    assert granted.headers["location"].endswith("done=leave_granted")
    assert (
        "Leave granted"
        in member.client.get(f"/meetings/{meeting_id}", headers={"Accept-Language": "en"}).text
        or "准假" in member.client.get(f"/meetings/{meeting_id}").text
    )


def test_withdrawing_a_leave_request(make_browser: Any, meetings: Meetings) -> None:
    meeting_id = meetings.schedule()
    member = signed_in(make_browser, "member")
    member.submit(
        f"/meetings/{meeting_id}", f"/meetings/{meeting_id}/leave", {"reason": LEAVE_REASON}
    )
    page = member.client.get(f"/meetings/{meeting_id}")
    withdraw = re.search(rf'action="(/meetings/{meeting_id}/leave/\d+/withdraw)"', page.text)
    assert withdraw
    done = member.submit(f"/meetings/{meeting_id}", withdraw.group(1), {})
    assert done.status_code == 303
    assert done.headers["location"].endswith("done=leave_withdrawn")
    # Someone else's request cannot be withdrawn.
    member.submit(
        f"/meetings/{meeting_id}", f"/meetings/{meeting_id}/leave", {"reason": LEAVE_REASON}
    )
    other = signed_in(make_browser, "member2")
    refused = other.submit(f"/meetings/{meeting_id}", withdraw.group(1), {})
    assert refused.status_code in {403, 404, 409}


def test_closing_with_minutes_writes_the_points_once(
    make_browser: Any, meetings: Meetings, town: SmallTown
) -> None:
    meeting_id = meetings.schedule(day=held_day())
    meetings.move_to_the_past(meeting_id)
    meetings.tick(meeting_id, "member")
    secretary = signed_in(make_browser, "secretary")
    page = secretary.client.get(f"/meetings/{meeting_id}/close")
    assert page.status_code == 200
    assert 'id="count-attended">1<' in page.text

    refused = secretary.submit(
        f"/meetings/{meeting_id}/close", f"/meetings/{meeting_id}/close", {"minutes": ""}
    )
    assert refused.status_code == 422
    assert 'id="minutes-error"' in refused.text
    assert meetings.status(meeting_id) is MeetingStatus.SCHEDULED

    closed = secretary.submit(
        f"/meetings/{meeting_id}/close",
        f"/meetings/{meeting_id}/close",
        {"minutes": "学习了全会精神,开展了志愿服务。"},
    )
    assert closed.status_code == 303
    assert closed.headers["location"] == f"/meetings/{meeting_id}?done=closed"
    assert meetings.status(meeting_id) is MeetingStatus.CLOSED
    assert meetings.points_of("member") == ["2.0"]
    assert meetings.points_of("member2") == ["-2.0"]

    # Closing again writes nothing more.
    again = secretary.submit(
        f"/meetings/{meeting_id}", f"/meetings/{meeting_id}/close", {"minutes": "再次"}
    )
    assert again.status_code in {303, 409}
    assert meetings.points_of("member") == ["2.0"]

    member = signed_in(make_browser, "member")
    points = member.client.get("/me/points")
    assert points.status_code == 200
    # The line names the meeting and links to it.
    assert f'<a href="/meetings/{meeting_id}">12月主题党日</a>' in points.text
    page = member.client.get(f"/meetings/{meeting_id}")
    assert "学习了全会精神" in page.text


def test_an_amendment_needs_a_reason_and_the_points_follow(
    make_browser: Any, meetings: Meetings
) -> None:
    meeting_id = meetings.schedule(day=held_day())
    meetings.move_to_the_past(meeting_id)
    secretary = signed_in(make_browser, "secretary")
    secretary.submit(
        f"/meetings/{meeting_id}/close", f"/meetings/{meeting_id}/close", {"minutes": "纪要"}
    )
    assert meetings.points_of("member2") == ["-2.0"]
    page = secretary.client.get(f"/meetings/{meeting_id}")
    assert f'action="/meetings/{meeting_id}/amend"' in page.text
    member2_id = str(meetings.town.member_ids["member2"])
    refused = secretary.submit(
        f"/meetings/{meeting_id}",
        f"/meetings/{meeting_id}/amend",
        {"member_id": member2_id, "outcome": "leave", "reason": ""},
    )
    assert refused.status_code == 422
    assert 'id="amend-reason-error"' in refused.text
    amended = secretary.submit(
        f"/meetings/{meeting_id}",
        f"/meetings/{meeting_id}/amend",
        {"member_id": member2_id, "outcome": "leave", "reason": "补交了请假条"},
    )
    assert amended.status_code == 303
    assert sum(float(p) for p in meetings.points_of("member2")) == 0

    member = signed_in(make_browser, "member")
    page = member.client.get(f"/meetings/{meeting_id}")
    assert f'action="/meetings/{meeting_id}/amend"' not in page.text
    refused = member.submit(
        f"/meetings/{meeting_id}",
        f"/meetings/{meeting_id}/amend",
        {"member_id": member2_id, "outcome": "attended", "reason": "x"},
    )
    assert refused.status_code in {403, 404}


def test_a_make_up_session_for_those_absent(make_browser: Any, meetings: Meetings) -> None:
    meeting_id = meetings.schedule(day=held_day())
    meetings.move_to_the_past(meeting_id)
    meetings.tick(meeting_id, "member")
    secretary = signed_in(make_browser, "secretary")
    secretary.submit(
        f"/meetings/{meeting_id}/close", f"/meetings/{meeting_id}/close", {"minutes": "纪要"}
    )
    page = secretary.client.get(f"/meetings/{meeting_id}/makeup")
    assert page.status_code == 200
    member2_id = meetings.town.member_ids["member2"]
    assert f'value="{member2_id}" checked' in page.text
    # Who attended is not offered.
    assert "(M001)" not in page.text
    refused = secretary.submit(
        f"/meetings/{meeting_id}/makeup",
        f"/meetings/{meeting_id}/makeup",
        {
            "title": "补课",
            "day": "",
            "start": "19:00",
            "end": "20:00",
            "member_ids": str(member2_id),
        },
    )
    assert refused.status_code == 422
    made = secretary.submit(
        f"/meetings/{meeting_id}/makeup",
        f"/meetings/{meeting_id}/makeup",
        {
            "title": "主题党日补课",
            "day": (today() + timedelta(days=2)).isoformat(),
            "start": "19:00",
            "end": "20:00",
            "place": "支部活动室",
            "member_ids": str(member2_id),
        },
    )
    assert made.status_code == 303, made.text
    match = re.fullmatch(r"/meetings/(\d+)\?done=makeup", made.headers["location"])
    assert match
    page = secretary.client.get(made.headers["location"])
    assert f'href="/meetings/{meeting_id}"' in page.text
    assert f'id="row-{member2_id}"' in page.text


def test_cancelling_needs_a_reason(make_browser: Any, meetings: Meetings) -> None:
    meeting_id = meetings.schedule()
    secretary = signed_in(make_browser, "secretary")
    refused = secretary.submit(
        f"/meetings/{meeting_id}", f"/meetings/{meeting_id}/cancel", {"reason": ""}
    )
    assert refused.status_code == 422
    assert 'id="cancel-reason-error"' in refused.text
    assert meetings.status(meeting_id) is MeetingStatus.SCHEDULED
    member = signed_in(make_browser, "member")
    assert member.submit(
        f"/meetings/{meeting_id}", f"/meetings/{meeting_id}/cancel", {"reason": "x"}
    ).status_code in {403, 404}
    done = secretary.submit(
        f"/meetings/{meeting_id}", f"/meetings/{meeting_id}/cancel", {"reason": "台风停课"}
    )
    assert done.status_code == 303
    assert meetings.status(meeting_id) is MeetingStatus.CANCELLED


def test_editing_keeps_the_form_and_changes_the_meeting(
    make_browser: Any, meetings: Meetings
) -> None:
    meeting_id = meetings.schedule()
    secretary = signed_in(make_browser, "secretary")
    page = secretary.client.get(f"/meetings/{meeting_id}/edit")
    assert page.status_code == 200
    assert 'value="12月主题党日"' in page.text
    day = (today() + timedelta(days=8)).isoformat()
    fields = {**FORM, "title": "改期的主题党日", "day": day}
    response = secretary.submit(
        f"/meetings/{meeting_id}/edit", f"/meetings/{meeting_id}/edit", {**fields, "title": ""}
    )
    assert response.status_code == 422
    response = secretary.submit(
        f"/meetings/{meeting_id}/edit", f"/meetings/{meeting_id}/edit", fields
    )
    assert response.status_code == 303
    assert "改期的主题党日" in secretary.client.get(f"/meetings/{meeting_id}").text
    member = signed_in(make_browser, "member")
    assert member.client.get(f"/meetings/{meeting_id}/edit").status_code == 403


def test_the_office_filters_by_branch(
    make_browser: Any, meetings: Meetings, town: SmallTown
) -> None:
    jinwan = meetings.schedule()
    baoyuan = meetings.schedule(username="secretary2", title="宝元支部党课", kind="lecture")
    admin = signed_in(make_browser, "admin")
    everything = admin.client.get("/meetings").text
    assert f'id="meeting-{jinwan}"' in everything and f'id="meeting-{baoyuan}"' in everything
    one = admin.client.get(f"/meetings?branch={town.baoyuan}").text
    assert f'id="meeting-{baoyuan}"' in one and f'id="meeting-{jinwan}"' not in one
    past = admin.client.get("/meetings?when=past").text
    assert f'id="meeting-{jinwan}"' not in past


def test_the_nav_has_meetings_for_every_role(make_browser: Any, town: SmallTown) -> None:
    for username in ("member", "secretary", "instructor", "admin"):
        browser = signed_in(make_browser, username)
        assert 'href="/meetings"' in browser.client.get("/boards").text


def test_the_home_page_shows_what_waits(make_browser: Any, meetings: Meetings) -> None:
    upcoming = meetings.schedule()
    ended = meetings.schedule(day=held_day(), title="上周支委会", kind="committee")
    meetings.move_to_the_past(ended)
    member = signed_in(make_browser, "member")
    member.submit(f"/meetings/{upcoming}", f"/meetings/{upcoming}/leave", {"reason": LEAVE_REASON})
    home = member.client.get("/").text
    assert f'id="home-meeting-{upcoming}"' in home
    # A member is not asked to close it, nor to answer leave.
    assert f'href="/meetings/{ended}/close"' not in home
    assert "#attendance" not in home

    secretary = signed_in(make_browser, "secretary")
    home = secretary.client.get("/", headers={"Accept-Language": "en"}).text
    assert f'href="/meetings/{ended}/close"' in home
    assert f'href="/meetings/{upcoming}#attendance"' in home
