"""Issue 18's warning journey, on 390 px phones in Chinese: last quarter is banded
through the services with a yellow line at 3 points (nobody in the small town has
points then, so 张伟 is on the yellow list and has a warning case); the secretary of
金湾 finds the case in the list, records a talk (a date in the future is refused beside
its field, nothing typed lost) and closes the case as improved; 张伟 reads it on his
phone: the agreed actions and the outcome, never the notes kept for the file."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from service.assessment.bands import run_banding, verify_bands
from service.boards.board import SpanKind, board_period
from service.kernel.periods import period_of, town_today
from service.persistence.assessment import WarningCase
from service.persistence.db import Database
from service.persistence.types import utcnow
from service.publication.chain import verify_chain
from service.scoring.rules import Rulebook
from tests.browser.test_checkin_journey import page_problems, signed_in
from tests.browser.test_journey import zh
from tests.conftest import SmallTown
from tests.functional.warning_world import world_rulebook

pytestmark = pytest.mark.browser

NOTES = "家中老人住院，近期请假较多；本人态度诚恳。"
ACTIONS = "每月参加一次志愿服务，按时参加主题党日。"
OUTCOME = "已按约定参加两次志愿服务和主题党日。"


def banded_case(database: Database, town: SmallTown, rulebook: Rulebook) -> tuple[str, int]:
    """Band the quarter before this one; the period and 张伟's case id."""
    today = town_today(utcnow(), "Asia/Shanghai")
    quarter = board_period(period_of(today), SpanKind.QUARTER).shift(-1)
    with database.transaction() as session:
        run_banding(session, town.principal(database, "admin"), rulebook, quarter.key, utcnow())
    with database.transaction(write=False) as session:
        case_id = session.scalar(
            select(WarningCase.id).where(WarningCase.member_id == town.member_ids["member"])
        )
    assert case_id is not None
    return quarter.key, int(case_id)


def assert_fits(page: Page, what: str) -> None:
    problems = page_problems(page)
    assert problems == [], f"{what}: {problems}"


def test_the_secretary_talks_and_closes_a_case_and_the_member_reads_it(
    database: Database,
    rulebook: Rulebook,
    town: SmallTown,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    rules = world_rulebook(rulebook)
    period, case_id = banded_case(database, town, rules)
    case = f"/warnings/{case_id}"

    # 1. The secretary finds 张伟's open case in the list.
    secretary = signed_in(new_context, "secretary")
    secretary.goto("/warnings")
    expect(secretary.locator("h1")).to_have_text(zh("Warning cases"))
    row = secretary.locator(f"tr#case-{case_id}")
    expect(row).to_contain_text(period)
    expect(row).to_contain_text(zh("Open"))
    expect(secretary.locator("table.cases")).not_to_contain_text("刘洋")  # 宝元's member
    screenshot(secretary, "warnings-01-list")
    assert_fits(secretary, "the warning cases")
    row.get_by_role("link", name="张伟").click()
    expect(secretary).to_have_url(re.compile(rf"{case}$"))
    expect(secretary.locator("h1")).to_have_text(zh("Warning case: %(name)s") % {"name": "张伟"})
    expect(secretary.locator("#talks")).to_contain_text(zh("No talk is recorded yet."))
    assert_fits(secretary, "the open case")

    # 2. A talk dated tomorrow is refused beside the date, the rest kept as typed.
    today = town_today(utcnow(), "Asia/Shanghai")
    secretary.fill("#talk-talked_on", (today + timedelta(days=1)).isoformat())
    secretary.fill("#talk-notes", NOTES)
    secretary.fill("#talk-actions", ACTIONS)
    secretary.get_by_role("button", name=zh("Record the talk")).click()
    expect(secretary.locator("#talk-talked_on-error")).to_have_text(
        zh("A talk cannot be dated in the future.")
    )
    expect(secretary.locator("#talk-notes")).to_have_value(NOTES)
    expect(secretary.locator("#talk-actions")).to_have_value(ACTIONS)
    assert_fits(secretary, "the refused talk")

    # ...dated today, it is recorded.
    secretary.fill("#talk-talked_on", today.isoformat())
    expect(secretary.locator("#talk-talked_by")).to_have_value("王书记")
    secretary.get_by_role("button", name=zh("Record the talk")).click()
    expect(secretary).to_have_url(re.compile(rf"{case}\?done=talk$"))
    expect(secretary.locator(".notice").first).to_have_text(
        zh("The talk is recorded; the member sees the agreed actions.")
    )
    talk = secretary.locator("#talks article.talk")
    expect(talk).to_have_count(1)
    expect(talk).to_contain_text(ACTIONS)
    expect(talk).to_contain_text(NOTES)  # the secretary keeps the notes for the file
    screenshot(secretary, "warnings-02-talk-recorded")
    assert_fits(secretary, "the case with a talk")

    # 3. She closes the case: improved, with the outcome.
    secretary.locator("#close-case").get_by_label(zh("Improved"), exact=True).check()
    secretary.fill("#close-outcome_note", OUTCOME)
    secretary.locator("#close-case").get_by_role("button", name=zh("Close the case")).click()
    expect(secretary).to_have_url(re.compile(rf"{case}\?done=closed$"))
    expect(secretary.locator(".notice").first).to_have_text(zh("The case is closed."))
    expect(secretary.locator("#case-status")).to_have_text(zh("Closed: improved"))
    expect(secretary.locator("#record-talk")).to_have_count(0)
    expect(secretary.locator("#close-case")).to_have_count(0)
    screenshot(secretary, "warnings-03-closed")
    assert_fits(secretary, "the closed case")

    # 4. 张伟 reads it on his phone: the actions and the state, not the file's notes.
    member = signed_in(new_context, "member")
    member.goto("/warnings")
    expect(member.locator("main")).to_contain_text(zh("No warning case here."))  # none open
    member.locator("nav.tabs").get_by_role("link", name=zh("Closed"), exact=True).click()
    member.locator(f"tr#case-{case_id}").get_by_role("link", name="张伟").click()
    expect(member).to_have_url(re.compile(rf"{case}$"))
    expect(member.locator("#case-status")).to_have_text(zh("Closed: improved"))
    expect(member.locator("#talks")).to_contain_text(ACTIONS)
    expect(member.locator("main")).not_to_contain_text(NOTES)
    expect(member.locator("#case")).to_contain_text(
        zh(
            "This case is private: only you, your branch's secretary and instructor and "
            "the organisation office see it."
        )
    )
    screenshot(member, "warnings-04-member-reads")
    assert_fits(member, "the member's own case")
    # Another member of 金湾 does not see it.
    other = signed_in(new_context, "member2")
    response = other.goto(case)
    assert response is not None and response.status == 404
    expect(other.locator("main")).not_to_contain_text(ACTIONS)

    with database.transaction(write=False) as session:
        assert verify_bands(session, rules) == []
        report = verify_chain(session)
        assert report.ok, report
