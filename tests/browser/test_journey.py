"""The main journey in a real browser: a member declares volunteer hours on a phone,
the branch secretary approves them on a desktop, and the points show on the board.

The member keeps the default language (Chinese); the secretary switches to English
with the header's language button, so both catalogs are rendered along the way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from service.kernel.i18n import ENTRY_STATUS_LABELS
from service.persistence.db import Database
from tests.browser.conftest import DESKTOP, PHONE
from tests.conftest import PASSWORD, SmallTown
from web.i18n import translations
from web.notices import NOTICES

pytestmark = pytest.mark.browser

TOWN_TIMEZONE = ZoneInfo("Asia/Shanghai")
DESCRIPTION = "周六上午在金湾社区协助老人体检登记，共两小时。"


def zh(message: str) -> str:
    """``message`` as the Chinese pages show it (the catalog's text, or the source)."""
    return translations("zh_CN").gettext(message)


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    # The header's language switch is a submit button too: take the one in the form.
    page.locator("main form button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def assert_no_sideways_scroll(page: Page, what: str) -> None:
    """The page fits the phone's width: nothing to scroll horizontally."""
    scroll_width = int(page.evaluate("document.documentElement.scrollWidth"))
    assert scroll_width <= PHONE["width"], (
        f"{what} scrolls sideways on a {PHONE['width']} px phone: "
        f"scrollWidth {scroll_width} px ({scroll_width - PHONE['width']} px too wide)"
    )


def test_member_declares_secretary_approves_board_shows_points(
    town: SmallTown,
    database: Database,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    member_name = town.principal(database, "member").display_name  # 张伟
    today = datetime.now(TOWN_TIMEZONE).date().isoformat()

    # 1. The member, on a phone, in the default language.
    phone = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    phone.goto("/login")
    expect(phone.locator("html")).to_have_attribute("lang", "zh-CN")
    assert_no_sideways_scroll(phone, "the sign-in page")
    screenshot(phone, "01-member-login-phone")
    sign_in(phone, "member")

    phone.goto("/entries/new")
    expect(phone.locator("#rule_id")).to_be_visible()
    screenshot(phone, "02-member-entry-form-phone")
    assert_no_sideways_scroll(phone, "the entry form")

    phone.select_option("#rule_id", "volunteer")
    phone.fill("#activity_date", today)
    phone.fill("#quantity", "2")
    phone.fill("#description", DESCRIPTION)
    screenshot(phone, "03-member-entry-filled-phone")
    phone.locator("main form button[type=submit]").click()

    expect(phone).to_have_url(re.compile(r"/entries\?done=submitted$"))
    expect(phone.locator(".notice")).to_have_text(zh(NOTICES["submitted"]))
    entry = phone.locator("li.entry", has_text=DESCRIPTION)
    expect(entry).to_have_count(1)
    expect(entry).to_have_class(re.compile(r"\bstatus-pending\b"))
    expect(entry.locator(".badge")).to_have_text(zh(ENTRY_STATUS_LABELS["pending"]))
    assert_no_sideways_scroll(phone, "the list of entries")
    screenshot(phone, "04-member-entries-pending-phone")

    # 2. The secretary, on a desktop, switches to English and approves.
    desk = new_context(viewport=DESKTOP).new_page()
    sign_in(desk, "secretary")
    expect(desk.locator("html")).to_have_attribute("lang", "zh-CN")
    desk.locator("header").get_by_role("button", name="English").click()
    expect(desk.locator("html")).to_have_attribute("lang", "en")
    expect(desk.locator("header").get_by_role("button", name="中文")).to_be_visible()

    desk.goto("/review")
    expect(desk.get_by_role("heading", level=1)).to_have_text("Review queue")
    queued = desk.locator("ol.queue > li.entry", has_text=DESCRIPTION)
    expect(queued).to_have_count(1)
    expect(queued).to_contain_text(member_name)
    expect(queued).to_contain_text("+6.0 points if approved")
    screenshot(desk, "05-secretary-review-queue-en")
    queued.get_by_role("button", name="Approve").click()

    expect(desk).to_have_url(re.compile(r"/review\?done=approved$"))
    expect(desk.locator(".notice")).to_have_text(NOTICES["approved"])
    expect(desk.locator("li.entry", has_text=DESCRIPTION)).to_have_count(0)
    screenshot(desk, "06-secretary-approved-en")

    # 3. The member sees the points on this month's board: 2 hours x 3 points.
    phone.goto("/boards")
    expect(phone.locator("html")).to_have_attribute("lang", "zh-CN")
    row = phone.locator("table.board tbody tr", has_text=member_name)
    expect(row).to_have_count(1)
    expect(row.locator("td.num")).to_have_text("6.0")
    assert_no_sideways_scroll(phone, "the members board")
    screenshot(phone, "07-member-board-phone")

    phone.goto("/entries")
    approved = phone.locator("li.entry", has_text=DESCRIPTION)
    expect(approved).to_have_class(re.compile(r"\bstatus-approved\b"))
    expect(approved.locator(".points")).to_contain_text("6.0")
    screenshot(phone, "08-member-entries-approved-phone")
