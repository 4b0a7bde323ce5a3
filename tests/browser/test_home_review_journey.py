"""The front page and the review queue in a real browser.

A member opens the home page on a 375 px phone in Chinese: this month's and this
year's points, ranks, stars, what to do next, and a Declare button a thumb can hit.
A secretary, on a desktop in English, goes from the home page's queue link to a queue of
forty entries, pages through it, filters it by item and date, selects a page, confirms,
and approves them at once, while the instructor approves one of them in between: the
notice counts the approvals and names the entry that was skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import func, select

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry, reject_entry
from service.kernel.periods import town_today
from service.ledger.verify import verify_ledger
from service.persistence.db import Database
from service.persistence.models import LedgerKind, LedgerLine
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.browser import a11y
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_journey import assert_no_sideways_scroll, sign_in, zh
from tests.conftest import SmallTown

pytestmark = pytest.mark.browser

RULES = ("volunteer", "study", "good_deed", "suggestion")
QUANTITY = {"volunteer": "2", "study": "1", "good_deed": "1", "suggestion": "1"}
REJECTION = "照片里看不出是你本人，请补充说明。"


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


def declare(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    username: str,
    rule_id: str,
    day: date,
    description: str,
) -> int:
    with database.transaction() as session:
        return submit_entry(
            session,
            town.principal(database, username),
            rulebook,
            EntryInput(rule_id, day, Decimal(QUANTITY[rule_id]), description),
            today=today(),
            now=utcnow(),
        )


def accessibility_problems(page: Page) -> list[str]:
    return [
        *a11y.axe_violations(page),
        *a11y.sideways_overflow(page),
        *a11y.small_targets(page),
        *a11y.error_wiring(page),
    ]


def test_member_home_on_a_phone_in_chinese(
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    approved = declare(database, town, rulebook, "member", "volunteer", today(), "巡河两小时")
    with database.transaction() as session:
        approve_entry(
            session, town.principal(database, "secretary"), rulebook, approved, now=utcnow()
        )
    declare(database, town, rulebook, "member", "study", today(), "参加党课学习")
    rejected = declare(database, town, rulebook, "member", "good_deed", today(), "扶老人过马路")
    with database.transaction() as session:
        reject_entry(
            session, town.principal(database, "secretary"), rejected, REJECTION, now=utcnow()
        )

    phone = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    sign_in(phone, "member")
    phone.goto("/")
    expect(phone.locator("html")).to_have_attribute("lang", "zh-CN")
    member = phone.locator("#home-member")
    expect(member.locator("#month-points")).to_have_text("6.0")
    expect(member.locator("#year-points")).to_have_text("6.0")
    expect(member.locator("#town-rank")).to_contain_text("1")
    expect(member.locator("#branch-rank")).to_contain_text("1")
    expect(member.locator(".stars")).to_contain_text("1")
    expect(member.locator("#star-progress")).to_be_visible()
    steps = member.locator("#next-steps")
    expect(steps.locator(".next-rejected")).to_contain_text(REJECTION)
    expect(steps.locator(".next-pending")).to_be_visible()
    expect(member.locator(".home-recent li.entry")).to_have_count(3)
    expect(member.locator(".home-recent li.status-rejected .badge")).to_have_text(zh("rejected"))

    # The Declare button: the first thing on the page, full width, big enough for a thumb.
    cta = member.locator("a.cta")
    expect(cta).to_have_text(zh("Declare my service"))
    box = cta.bounding_box()
    assert box is not None
    assert box["height"] >= 44 and box["width"] >= PHONE["width"] * 0.8, box
    assert_no_sideways_scroll(phone, "the member's home page")
    problems = accessibility_problems(phone)
    assert not problems, "\n".join(problems)
    screenshot(phone, "home-01-member-home-phone-zh")

    cta.click()
    expect(phone).to_have_url(re.compile(r"/entries/new$"))

    # Nothing this month yet: the next step says to declare (the other member).
    other = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    sign_in(other, "member2")
    other.goto("/")
    expect(other.locator("#next-steps .next-declare")).to_contain_text(
        zh("Nothing declared this month yet.")
    )
    expect(other.locator("#town-rank")).to_have_text(zh("not ranked yet: no points this month"))
    assert_no_sideways_scroll(other, "an empty home page")
    screenshot(other, "home-02-member-home-empty-phone-zh")


def test_secretary_filters_forty_entries_and_approves_them_at_once(
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    start = today()
    entries: list[tuple[int, str, date]] = []
    for index in range(40):
        username = "member" if index % 2 == 0 else "member2"
        rule_id = RULES[index % 4]
        day = start - timedelta(days=index % 10)
        entry_id = declare(
            database, town, rulebook, username, rule_id, day, f"第{index + 1}条：社区服务"
        )
        entries.append((entry_id, rule_id, day))
    since = start - timedelta(days=6)
    wanted = [i for i, rule, day in entries if rule == "volunteer" and day >= since]

    desk = new_context(viewport=DESKTOP, locale="en-US").new_page()
    sign_in(desk, "secretary")
    desk.goto("/")
    expect(desk.locator("html")).to_have_attribute("lang", "en")
    branch = desk.locator(f"#branch-{town.jinwan}")
    expect(branch.locator(".home-queue a")).to_have_text("40 entries wait for your review")
    expect(desk.locator("#home-member")).to_be_visible()  # a secretary is a member too
    screenshot(desk, "home-03-secretary-home-en")
    branch.locator(".home-queue a").click()

    # The queue: 25 a page, a second page of 15.
    expect(desk).to_have_url(re.compile(rf"/review\?branch={town.jinwan}$"))
    expect(desk.get_by_role("heading", level=1)).to_have_text("Review queue")
    expect(desk.locator("ol.queue > li.entry")).to_have_count(25)
    expect(desk.locator("#queue-count")).to_have_text("Entries 1–25 of 40 matching the filters.")
    problems = accessibility_problems(desk)
    assert not problems, "\n".join(problems)
    screenshot(desk, "review-01-queue-page-1-en")
    desk.get_by_role("link", name="Next page").click()
    expect(desk.locator("ol.queue > li.entry")).to_have_count(15)
    expect(desk).to_have_url(re.compile(r"page=2"))

    # Filter: volunteer service in the last seven days; the filter form is a plain GET.
    desk.select_option("#filter-rule", "volunteer")
    desk.fill("#filter-from", since.isoformat())
    desk.get_by_role("button", name="Filter").click()
    expect(desk).to_have_url(re.compile(r"rule=volunteer"))
    expect(desk.locator("ol.queue > li.entry")).to_have_count(len(wanted))
    expect(desk.locator("#filter-rule")).to_have_value("volunteer")
    screenshot(desk, "review-02-queue-filtered-en")

    # Select the page, confirm.
    desk.get_by_role("link", name="Select all on this page").click()
    checked = desk.locator("ol.queue input[type=checkbox]:checked")
    expect(checked).to_have_count(len(wanted))
    desk.locator("#bulk-form button[type=submit]").click()
    expect(desk).to_have_url(re.compile(r"/review/bulk\?"))
    count = len(wanted)
    expect(desk.get_by_role("heading", level=1)).to_have_text(f"Approve {count} entries?")
    expect(desk.locator("#confirm-list > li.entry")).to_have_count(count)
    expect(desk.locator("#confirm-list")).to_contain_text("+6.0 points")
    problems = accessibility_problems(desk)
    assert not problems, "\n".join(problems)
    screenshot(desk, "review-03-bulk-confirmation-en")

    # Meanwhile the instructor approves one of them.
    taken = wanted[1]
    with database.transaction() as session:
        approve_entry(
            session, town.principal(database, "instructor"), rulebook, taken, now=utcnow()
        )

    desk.get_by_role("button", name=f"Approve {count} entries").click()
    expect(desk).to_have_url(re.compile(r"/review\?.*done=bulk"))
    result = desk.locator("#bulk-result")
    expect(result).to_contain_text(f"Approved {count - 1} entries.")
    expect(result).to_contain_text("1 entry was already decided and was left as it was:")
    expect(result.locator(f"#skipped-{taken}")).to_contain_text("now approved by 党建指导员")
    # The filter is kept: its entries are all decided now.
    expect(desk.locator("#filter-rule")).to_have_value("volunteer")
    expect(desk.locator("ol.queue > li.entry")).to_have_count(0)
    expect(desk.locator(".empty")).to_contain_text("No pending entry matches these filters.")
    screenshot(desk, "review-04-bulk-approved-en")

    with database.transaction(write=False) as session:
        awards = dict(
            session.execute(
                select(LedgerLine.entry_id, func.count())
                .where(LedgerLine.entry_id.in_(wanted), LedgerLine.kind == LedgerKind.AWARD)
                .group_by(LedgerLine.entry_id)
            ).all()
        )
        assert awards == dict.fromkeys(wanted, 1)
        assert verify_ledger(session, rulebook).ok
