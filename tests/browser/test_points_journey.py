"""Issue 3's journeys in a real browser: the secretary marks a suggestion adopted and
records a deduction (a missing reason is refused next to the field, nothing lost); the
member reads on a phone how the year's score is made, line by line, summing to the
total; the office checks that the ledger verifies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.periods import town_today
from service.persistence.db import Database
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_journey import assert_no_sideways_scroll, sign_in, zh
from tests.conftest import SmallTown

pytestmark = pytest.mark.browser

SUGGESTION = "建议园区在夜班通勤路段增设路灯，方便职工下班。"
REASON = "十一月支部党员大会无故缺席，经支委会研究扣分。"


def approved_suggestion(database: Database, town: SmallTown, rulebook: Rulebook) -> None:
    today = town_today(utcnow(), "Asia/Shanghai")
    with database.transaction() as session:
        entry_id = submit_entry(
            session,
            town.principal(database, "member"),
            rulebook,
            EntryInput("suggestion", today, Decimal(1), SUGGESTION),
            today=today,
            now=utcnow(),
        )
        approve_entry(
            session, town.principal(database, "secretary"), rulebook, entry_id, now=utcnow()
        )


def test_secretary_adopts_and_deducts_member_reads_the_explained_score(
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    approved_suggestion(database, town, rulebook)
    ruleset = rulebook.in_force(town_today(utcnow(), "Asia/Shanghai"))
    assert ruleset is not None
    base = ruleset.base_score  # 60 under the 2026 rules
    suggestion = ruleset.rule("suggestion")
    deduction = ruleset.rule("missed_meeting")
    assert suggestion is not None and suggestion.points is not None
    assert suggestion.adopted_points is not None
    assert deduction is not None and deduction.points is not None
    expected = base + suggestion.points + suggestion.adopted_points + deduction.points

    # 1. The secretary, on a desktop in English, opens the branch page.
    desk = new_context(viewport=DESKTOP).new_page()
    sign_in(desk, "secretary")
    desk.locator("header").get_by_role("button", name="English").click()
    expect(desk.locator("html")).to_have_attribute("lang", "en")
    desk.locator("header").get_by_role("link", name="Branches").click()
    desk.get_by_role("link", name=re.compile("金湾工业园区联合党支部")).first.click()
    item = desk.locator("li.suggestion", has_text=SUGGESTION)
    expect(item).to_have_count(1)
    screenshot(desk, "11-secretary-branch-suggestions-en")
    item.get_by_role("button", name="Mark adopted").click()
    item = desk.locator("li.suggestion", has_text=SUGGESTION)
    expect(item.locator(".step-adopted")).to_contain_text(f"{suggestion.adopted_points:.1f}")
    expect(item.get_by_role("button", name="Mark implemented")).to_be_visible()

    # 2. A deduction without a reason is refused next to the field; the choices stay.
    desk.get_by_role("link", name="Record a deduction or adjustment").first.click()
    member_id = str(town.member_ids["member"])
    desk.select_option("#member_id", member_id)
    desk.select_option("#rule_id", "missed_meeting")
    desk.fill("#day", town_today(utcnow(), "Asia/Shanghai").isoformat())
    desk.locator("main form button[type=submit]").click()
    expect(desk.locator("#reason-error")).to_be_visible()
    expect(desk.locator("#member_id")).to_have_value(member_id)
    expect(desk.locator("#rule_id")).to_have_value("missed_meeting")
    screenshot(desk, "12-secretary-deduction-needs-reason-en")
    desk.fill("#reason", REASON)
    desk.locator("main form button[type=submit]").click()
    expect(desk).to_have_url(re.compile(rf"/members/{member_id}/points"))
    expect(desk.locator("li.line.kind-deduction", has_text=REASON)).to_have_count(1)

    # 3. The member, on a phone in Chinese, reads how the score is made.
    phone = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    sign_in(phone, "member")
    phone.locator("header").get_by_role("link", name=zh("My points")).click()
    expect(phone).to_have_url(re.compile(r"/me/points"))
    expect(phone.locator("#total")).to_have_text(f"{expected:.1f}")
    expect(phone.locator("#base")).to_have_text(f"{base:.1f}")
    lines = phone.locator("ol.lines li.line")
    expect(lines).to_have_count(3)  # the suggestion, its adoption, the deduction
    counted = [
        Decimal(re.sub(r"[^0-9.+-]", "", text.split()[-1]))
        for text in phone.locator("ol.lines li.line .counted").all_inner_texts()
    ]
    assert base + sum(counted) == expected, counted
    expect(phone.locator("li.line.kind-deduction")).to_contain_text(REASON)
    # 62.0: one star (60), 8.0 to the second (70); nothing flagged.
    expect(phone.locator("#flagged")).to_have_count(0)
    next_star = ruleset.star_thresholds[1] - expected
    expect(phone.locator(".next-star")).to_contain_text(f"{next_star:.1f}")
    assert_no_sideways_scroll(phone, "the points explanation")
    screenshot(phone, "13-member-points-explained-phone")

    # 4. The office checks the ledger against a fresh scoring.
    office = new_context(viewport=DESKTOP).new_page()
    sign_in(office, "admin")
    office.goto("/admin/ledger")
    office.locator("main form button[type=submit]").click()
    expect(office.locator("main .notice")).to_have_text(
        zh("OK: the ledger and the boards agree with a fresh scoring.")
    )
    screenshot(office, "14-office-ledger-verified")
