"""Issue 4's journey in a real browser: the office tries to publish last month while a
branch still holds a pending entry (refused, the branch named), publishes once it is
decided; the member finds the month frozen, objects to a line of the published board on
a phone; the office opens a correction, publishes revision 2 with its reason and what
changed, and answers the objection.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.periods import period_of, shift_period, town_today
from service.persistence.db import Database
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_journey import assert_no_sideways_scroll, sign_in, zh
from tests.conftest import SmallTown

pytestmark = pytest.mark.browser

TODAY = town_today(utcnow(), "Asia/Shanghai")
LAST_MONTH = shift_period(period_of(TODAY), -1)
DAY = date(int(LAST_MONTH[:4]), int(LAST_MONTH[5:7]), 4)
OBJECTION = "我四日参加了学习教育，榜上积分少算了一次，请核实。"
REASON = "补记宝元鞋厂党支部漏审的一条学习教育申报。"


def submit(database: Database, town: SmallTown, rulebook: Rulebook, username: str) -> int:
    with database.transaction() as session:
        return submit_entry(
            session,
            town.principal(database, username),
            rulebook,
            EntryInput("study", DAY, Decimal(1), f"{username} 学习教育"),
            today=TODAY,
            now=utcnow(),
        )


def approve(
    database: Database, town: SmallTown, rulebook: Rulebook, reviewer: str, entry_id: int
) -> None:
    with database.transaction() as session:
        approve_entry(session, town.principal(database, reviewer), rulebook, entry_id, now=utcnow())


def english(page: Page) -> None:
    page.locator("header").get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_office_publishes_member_objects_office_corrects(
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    approve(database, town, rulebook, "secretary", submit(database, town, rulebook, "member"))
    pending = submit(database, town, rulebook, "member3")

    # 1. Publishing is refused while 宝元鞋厂党支部 holds a pending entry of the month.
    office = new_context(viewport=DESKTOP).new_page()
    sign_in(office, "admin")
    english(office)
    office.goto("/admin/publication")
    row = office.locator(f"#month-{LAST_MONTH}")
    expect(row).to_contain_text("宝元鞋厂党支部: 1 pending")
    row.get_by_role("button", name="Publish").click()
    # The confirmation page names the branch and offers nothing to confirm.
    expect(office.locator(".error-banner")).to_contain_text("宝元鞋厂党支部")
    expect(office.get_by_role("button", name=re.compile("now$"))).to_have_count(0)
    screenshot(office, "30-office-publish-refused-pending")

    # 2. The branch decides it; the month is published, once confirmed.
    approve(database, town, rulebook, "secretary2", pending)
    office.goto("/admin/publication")
    office.locator(f"#month-{LAST_MONTH}").get_by_role("button", name="Publish").click()
    expect(office.locator("#frozen-facts")).to_contain_text("2 branch lines")
    office.get_by_role("button", name=re.compile("now$")).click()
    expect(office).to_have_url(re.compile(rf"/admin/publication/{LAST_MONTH}\?done=published"))
    expect(office.locator("main")).to_contain_text("State: published, on notice")
    expect(office.locator("main")).to_contain_text("holds")
    screenshot(office, "31-office-published")

    # 3. The member, on a phone: the month is frozen, and the board can be objected to.
    phone = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    sign_in(phone, "member")
    phone.goto("/entries/new")
    phone.select_option("#rule_id", "study")
    phone.fill("#activity_date", DAY.isoformat())
    phone.fill("#description", "补报学习教育")
    phone.locator("main form button[type=submit]").click()
    expect(phone.locator("#activity_date-error")).to_be_visible()
    screenshot(phone, "32-member-month-frozen-phone")

    phone.goto(f"/boards/{LAST_MONTH}")
    expect(phone.locator(".publication.published")).to_be_visible()
    assert_no_sideways_scroll(phone, "the published board")
    screenshot(phone, "33-member-published-board-phone")
    member_id = town.member_ids["member"]
    phone.goto(f"/objections/new?period={LAST_MONTH}&member={member_id}")
    phone.locator("main form button[type=submit]").click()
    expect(phone.locator("#text-error")).to_be_visible()  # the text is required
    phone.fill("#text", OBJECTION)
    screenshot(phone, "34a-member-objection-form-phone")
    phone.locator("main form button[type=submit]").click()
    expect(phone).to_have_url(re.compile(r"/objections"))
    expect(phone.locator("main")).to_contain_text(OBJECTION)
    assert_no_sideways_scroll(phone, "the member's objections")
    screenshot(phone, "34-member-objection-sent-phone")

    # 4. The office opens a correction (a reason is required), the branch adds the missed
    # entry, and the correction is published as revision 2 with what changed.
    office.goto(f"/admin/publication/{LAST_MONTH}")
    expect(office.locator("main")).to_contain_text(OBJECTION)
    office.get_by_role("button", name="Open a correction").click()
    expect(office.locator("#reason-error")).to_be_visible()
    office.fill("#reason", REASON)
    office.get_by_role("button", name="Open a correction").click()
    approve(database, town, rulebook, "secretary", submit(database, town, rulebook, "member"))
    office.goto(f"/admin/publication/{LAST_MONTH}")
    office.get_by_role("button", name="Publish the correction").click()
    diff = office.locator("#diff-2").locator("xpath=..")
    expect(office.locator("#diff-2")).to_be_visible()
    expect(diff).to_contain_text("张伟")
    screenshot(office, "35-office-correction-published")

    office.get_by_label("Corrected by a published correction").check()
    office.locator("textarea[name=answer]").first.fill("经核实少算一次学习教育，已更正并重新公示。")
    office.get_by_role("button", name="Answer and resolve").click()
    expect(office.locator("main")).to_contain_text("经核实少算一次学习教育")
    screenshot(office, "36-office-objection-resolved")

    # 5. The member sees revision 2 on the board, and the answer to the objection.
    phone.goto(f"/boards/{LAST_MONTH}")
    expect(phone.locator(".publication.published")).to_contain_text("2")
    row = phone.locator("table.board tbody tr", has_text="张伟")
    expect(row.locator("td.num").first).to_have_text("4.0")  # two study sessions
    screenshot(phone, "37-member-board-revision-2-phone")
    phone.goto(f"/boards/{LAST_MONTH}?revision=1")  # the replaced revision stays readable
    old = phone.locator("table.board tbody tr", has_text="张伟")
    expect(old.locator("td.num").first).to_have_text("2.0")
    assert_no_sideways_scroll(phone, "a replaced revision")
    screenshot(phone, "37a-member-board-revision-1-replaced-phone")
    phone.goto("/objections")
    expect(phone.locator("main")).to_contain_text("经核实少算一次学习教育")
    screenshot(phone, "38-member-objection-answered-phone")
    assert zh("Objections")  # the member nav names it in Chinese
