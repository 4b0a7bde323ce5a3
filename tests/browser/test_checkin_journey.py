"""Check-in at a meeting, on 390 px phones in Chinese: the secretary's screen shows the
code, two members check in from their own phones with the code read from that screen,
and the secretary ticks a third member who has no phone."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from service.persistence.db import Database
from service.persistence.types import utcnow
from tests.browser import a11y
from tests.conftest import PASSWORD, SmallTown
from tests.integration.test_checkin import make_meeting

PHONE_390 = {"width": 390, "height": 844}


def signed_in(new_context: Callable[..., BrowserContext], username: str) -> Page:
    context = new_context(viewport=PHONE_390, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)
    return page


def page_problems(page: Page) -> list[str]:
    return [
        *a11y.sideways_overflow(page),
        *a11y.small_targets(page),
        *a11y.english_words(page),
        *a11y.axe_violations(page),
    ]


def test_two_members_check_in_from_their_phones_and_the_secretary_ticks_a_third(
    database: Database,
    town: SmallTown,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    meeting_id = make_meeting(
        database,
        town,
        starts_at=utcnow() + timedelta(minutes=10),
        invitees=("member", "member2", "elder", "secretary"),
    )
    secretary = signed_in(new_context, "secretary")
    secretary.goto(f"/meetings/{meeting_id}/checkin/screen")
    expect(secretary.locator(".checkin-qr svg")).to_be_visible()
    expect(secretary.locator(".checkin-count")).to_contain_text("已签到：0 / 4 人")
    screenshot(secretary, "checkin-01-secretary-screen")
    assert page_problems(secretary) == []

    def code_on_screen() -> str:
        secretary.reload()
        text = secretary.locator(".checkin-code").inner_text()
        return re.sub(r"\D", "", text)

    for step, username in enumerate(("member", "member2"), start=2):
        member = signed_in(new_context, username)
        member.goto(f"/meetings/{meeting_id}/checkin?code={code_on_screen()}")
        button = member.get_by_role("button", name="签到")
        expect(button).to_be_visible()
        if step == 2:
            screenshot(member, "checkin-02-member-confirm")
            assert page_problems(member) == []
        button.click()
        expect(member.locator(".checkin-done")).to_contain_text(re.compile(r"签到成功 \d\d:\d\d"))
        if step == 2:
            screenshot(member, "checkin-03-member-done")
            assert page_problems(member) == []

    secretary.goto(f"/meetings/{meeting_id}/attendance")
    elder = secretary.locator("#member-{}".format(town.member_ids["elder"]))
    elder.get_by_role("button", name=re.compile("勾选到会")).click()
    expect(secretary.locator(".notice").first).to_contain_text("已标记为到会")
    expect(elder).to_contain_text("王书记")
    expect(secretary.locator("main")).to_contain_text("已签到：3 / 4 人")
    screenshot(secretary, "checkin-04-attendance")
    assert page_problems(secretary) == []
    secretary.goto(f"/meetings/{meeting_id}/checkin/screen")
    expect(secretary.locator(".checkin-count")).to_contain_text("已签到：3 / 4 人")


def test_a_stale_code_is_refused_in_a_clear_box(
    database: Database,
    town: SmallTown,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    from service.meetings.checkin import current_code
    from tests.integration.test_checkin import load

    meeting_id = make_meeting(database, town, starts_at=utcnow() + timedelta(minutes=10))
    stale = current_code(load(database, meeting_id), utcnow() - timedelta(minutes=2))
    member = signed_in(new_context, "member")
    member.goto(f"/meetings/{meeting_id}/checkin?code={stale}")
    member.get_by_role("button", name="签到").click()
    refusal = member.locator(".checkin-refusal")
    expect(refusal).to_contain_text("签到码已过期")
    screenshot(member, "checkin-05-stale-code")
    problems: list[Any] = page_problems(member)
    assert problems == []
