"""Issue 19's inbox, on a 390 px phone in Chinese: 张伟 has three unread messages (an
entry rejected with its reason, one approved, a meeting of his branch); the header says
消息 (3) without any script; he opens the inbox, opens the rejection (it becomes read,
he lands on the page where one acts, and the count drops to 2), then marks all read and
the header shows no number."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from service.outbox.emit import emit
from service.persistence.db import Database
from tests.browser.test_checkin_journey import page_problems, signed_in
from tests.browser.test_journey import zh
from tests.conftest import SmallTown

pytestmark = pytest.mark.browser


def seed(database: Database, town: SmallTown) -> int:
    """Three messages for 张伟; the id of the rejection."""
    member = town.account_ids["member"]
    with database.transaction() as session:
        rejected = emit(
            session, "entry_rejected",
            params={"rule": "志愿服务", "date": "2026-12-01", "reason": "缺少活动照片"},
            link="/entries", accounts=[member],
        )[0]  # fmt: skip
        emit(
            session, "entry_approved",
            params={"rule": "主题党日", "date": "2026-12-02", "points": "2"},
            link="/me/points", accounts=[member],
        )  # fmt: skip
        emit(
            session, "meeting_scheduled",
            params={"branch": "金湾工业园区联合党支部", "meeting": "十二月主题党日",
                    "date": "2026-12-10", "time": "09:00", "place": "园区党群服务中心"},
            link="/meetings", branch_id=town.jinwan, broadcast="branch",
        )  # fmt: skip
        return rejected.id


def assert_fits(page: Page, what: str) -> None:
    problems = page_problems(page)
    assert problems == [], f"{what}: {problems}"


def test_a_member_reads_the_inbox_on_a_phone(
    database: Database,
    town: SmallTown,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    rejected = seed(database, town)
    page = signed_in(new_context, "member")
    page.goto("/")
    link = page.locator("#inbox-link")
    expect(link).to_be_visible()
    expect(link).to_contain_text(zh("Inbox"))
    expect(link.locator(".count")).to_have_text("(3)")
    screenshot(page, "inbox-01-header-count")
    assert_fits(page, "the start page with the count")

    link.click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.locator("h1")).to_have_text(zh("Inbox"))
    messages = page.locator("ul.inbox li.message")
    expect(messages).to_have_count(3)
    expect(page.locator("li.message.unread")).to_have_count(3)
    item = page.locator(f"#message-{rejected}")
    expect(item).to_contain_text("缺少活动照片")
    expect(page.locator("main")).to_contain_text("十二月主题党日")
    screenshot(page, "inbox-02-list")
    assert_fits(page, "the inbox")

    item.get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"/entries$"))
    expect(page.locator("#inbox-link .count")).to_have_text("(2)")
    page.goto("/inbox")
    expect(page.locator(f"#message-{rejected}")).not_to_have_class(re.compile(r"\bunread\b"))
    expect(page.locator("li.message.unread")).to_have_count(2)

    page.get_by_role("button", name=zh("Mark all read")).click()
    expect(page).to_have_url(re.compile(r"/inbox\?done=all_read$"))
    expect(page.locator(".notice").first).to_have_text(zh("Every message is marked read."))
    expect(page.locator("#inbox-link")).to_have_text(zh("Inbox"))
    expect(page.locator("#inbox-link .count")).to_have_count(0)
    expect(page.locator("li.message.unread")).to_have_count(0)
    screenshot(page, "inbox-03-all-read")
    assert_fits(page, "the inbox, all read")

    page.goto("/me/notifications")
    expect(page.locator("h1")).to_have_text(zh("Notification settings"))
    screenshot(page, "inbox-04-settings")
    assert_fits(page, "the notification settings")
