"""Issue 18's stars journey, in Chinese: the 2025 round of branch ratings is opened,
self-assessed and audited through the services (both branches); the office publishes
the stars on the round's page; a member of 宝元 on a 390 px phone then sees them in the
board page's block and on the public list ``/results/branch_stars/2025``, and the
publication extends the digest chain."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from service.assessment.rating import open_round, verify_ratings
from service.assessment.rating_sheet import AuditScore, SelfScore, audit, self_assess
from service.persistence.db import Database
from service.publication.chain import verify_chain
from service.scoring.rules import Rulebook
from tests.browser.test_checkin_journey import page_problems, signed_in
from tests.browser.test_journey import zh
from tests.conftest import SmallTown

pytestmark = pytest.mark.browser

DONE = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
VETO_REASON = "三月发生重大安全生产事故"
# Ruleset 2025.1 rates a branch on three assessed indicators (40 / 30 / 30).
SCORES = {
    "jinwan": {"organisation": "92", "rules_kept": "90", "role": "94"},  # 92.0: ★★★★
    "baoyuan": {"organisation": "78", "rules_kept": "75", "role": "80"},  # 77.7: ★★
}
JINWAN = "金湾工业园区联合党支部"
BAOYUAN = "宝元鞋厂党支部"


def rated_round(database: Database, rulebook: Rulebook, town: SmallTown) -> int:
    """The 2025 round with both branches self-assessed and audited by the instructor
    (金湾) and the office (宝元); nothing published yet."""
    with database.transaction() as session:
        round_id = open_round(
            session,
            town.principal(database, "admin"),
            rulebook,
            "2025",
            today=date(2026, 1, 10),
            timezone="Asia/Shanghai",
            now=DONE,
        ).id
    for branch, secretary, auditor in (
        ("jinwan", "secretary", "instructor"),
        ("baoyuan", "secretary2", "admin"),
    ):
        branch_id = getattr(town, branch)
        with database.transaction() as session:
            self_assess(
                session,
                town.principal(database, secretary),
                rulebook,
                round_id,
                branch_id,
                {key: SelfScore(value, "台账齐全") for key, value in SCORES[branch].items()},
                submit=True,
                store=None,
                now=DONE,
            )
        with database.transaction() as session:
            audit(
                session,
                town.principal(database, auditor),
                rulebook,
                round_id,
                branch_id,
                {key: AuditScore("") for key in SCORES[branch]},
                {},
                now=DONE,
            )
    return round_id


def assert_fits(page: Page, what: str) -> None:
    problems = page_problems(page)
    assert problems == [], f"{what}: {problems}"


def test_the_office_publishes_the_branch_stars_and_the_board_shows_them(
    database: Database,
    rulebook: Rulebook,
    town: SmallTown,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    round_id = rated_round(database, rulebook, town)
    member = signed_in(new_context, "member3")
    member.goto("/boards")
    expect(member.locator("#results-stars")).to_have_count(0)  # nothing published yet

    # 1. The office publishes the stars from the round's page.
    office = signed_in(new_context, "admin")
    office.goto("/ratings")
    office.get_by_role("link", name=re.compile("2025")).first.click()
    expect(office).to_have_url(re.compile(rf"/ratings/{round_id}$"))
    expect(office.locator("h1")).to_have_text(zh("Branch ratings %(period)s") % {"period": "2025"})
    expect(office.locator("#publish")).to_contain_text(zh("Publish the stars"))
    screenshot(office, "stars-01-round-audited")
    assert_fits(office, "the audited round")
    office.get_by_role("button", name=zh("Publish the branch stars")).click()
    expect(office).to_have_url(re.compile(rf"/ratings/{round_id}\?done=published$"))
    expect(office.locator(".notice").first).to_have_text(zh("The branch stars are published."))
    expect(office.locator("#publish")).to_have_count(0)
    screenshot(office, "stars-02-published")
    assert_fits(office, "the published round")

    # 2. A member of 宝元 sees the stars in the board page's block, on the phone.
    member.goto("/boards")
    block = member.locator("#results-stars")
    expect(block).to_be_visible()
    expect(block.locator("ol.results-top li").first).to_contain_text(JINWAN)
    expect(block.locator("ol.results-top li").first).to_contain_text("★★★★")
    expect(block).to_contain_text(BAOYUAN)
    screenshot(member, "stars-03-board-block")
    assert_fits(member, "the board page with the stars")

    # 3. ...and follows it to the public list: rank, stars (with words), rating score.
    block.get_by_role("link").click()
    expect(member).to_have_url(re.compile(r"/results/branch_stars/2025$"))
    rows = member.locator("table.results-list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(JINWAN)
    expect(rows.nth(0).locator(".stars-cell [aria-hidden=true]")).to_have_text("★★★★")
    expect(rows.nth(0).locator(".num")).to_have_text("92.0")
    expect(rows.nth(1)).to_contain_text(BAOYUAN)
    expect(rows.nth(1).locator(".stars-cell [aria-hidden=true]")).to_have_text("★★")
    expect(member.locator(".results-publication")).to_contain_text(
        zh("Rules: %(version)s.") % {"version": "2025.1"}
    )
    screenshot(member, "stars-04-public-list")
    assert_fits(member, "the public stars list")

    with database.transaction(write=False) as session:
        assert verify_ratings(session, rulebook) == []
        report = verify_chain(session)
        assert report.ok, report
        assert report.publications >= 1
