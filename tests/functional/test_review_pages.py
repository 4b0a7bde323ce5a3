"""The secretary's review queue through the HTML pages."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select

from service.entries.entry import EntryInput, submit_entry
from service.kernel.periods import period_of, town_today
from service.persistence.db import Database
from service.persistence.models import LedgerLine
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown

HOST = "testserver.local"
QUEUE_ITEM = re.compile(r'<li class="entry" id="entry-(\d+)">')


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


class Declarations:
    def __init__(self, database: Database, town: SmallTown, rulebook: Rulebook) -> None:
        self.database = database
        self.town = town
        self.rulebook = rulebook

    def submit(
        self,
        username: str,
        rule_id: str = "volunteer",
        quantity: str = "2",
        description: str = "在西山桥路口指挥交通",
        submitted_at: datetime | None = None,
    ) -> int:
        principal = self.town.principal(self.database, username)
        with self.database.transaction() as session:
            return submit_entry(
                session,
                principal,
                self.rulebook,
                EntryInput(rule_id, today(), Decimal(quantity), description),
                today=today(),
                now=submitted_at or utcnow(),
            )

    def ledger_lines(self, entry_id: int | None = None) -> int:
        query = select(func.count()).select_from(LedgerLine)
        if entry_id is not None:
            query = query.where(LedgerLine.entry_id == entry_id)
        with self.database.transaction(write=False) as session:
            return session.scalar(query) or 0


@pytest.fixture
def declarations(database: Database, town: SmallTown, rulebook: Rulebook) -> Declarations:
    return Declarations(database, town, rulebook)


@pytest.fixture
def secretary(town: SmallTown, client: TestClient[Litestar], browser: Browser) -> Browser:
    client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login("secretary")
    return browser


def signed_in(make_browser: Any, username: str) -> Browser:
    other: Browser = make_browser()
    other.client.cookies.set("jifen_lang", "en", domain=HOST)
    other.login(username)
    return other


def queue_ids(html: str) -> list[int]:
    return [int(found) for found in QUEUE_ITEM.findall(html)]


def queue_item(html: str, entry_id: int) -> str:
    match = re.search(rf'<li class="entry" id="entry-{entry_id}">(.*?)</li>', html, re.DOTALL)
    assert match, f"entry {entry_id} is not in the queue"
    return match.group(1)


def test_the_queue_lists_the_branch_oldest_first(
    declarations: Declarations, secretary: Browser
) -> None:
    start = utcnow() - timedelta(hours=2)
    second = declarations.submit("member", description="第二条", submitted_at=start)
    first = declarations.submit(
        "member2", description="第一条", submitted_at=start - timedelta(minutes=20)
    )
    third = declarations.submit(
        "member", "good_deed", "1", description="第三条", submitted_at=start + timedelta(minutes=5)
    )
    declarations.submit("member3", description="宝元鞋厂的申报", submitted_at=start)
    declarations.submit("secretary", "care", "1", description="书记自己的申报")

    page = secretary.client.get("/review")
    assert page.status_code == 200
    assert queue_ids(page.text) == [first, second, third]
    assert page.text.index("第一条") < page.text.index("第二条") < page.text.index("第三条")
    assert "宝元鞋厂的申报" not in page.text
    assert "书记自己的申报" not in page.text
    assert "3 entries wait for your decision, oldest first." in page.text
    summary = re.search(r'<p class="muted">(.*?)</p>', page.text, re.DOTALL)
    assert summary and "Your own pending entry" in summary.group(1)
    assert "instructor" in summary.group(1)
    assert "+6.0 points if approved" in queue_item(page.text, first)
    assert "+2.0 points if approved" in queue_item(page.text, third)


def test_approving_puts_the_points_on_the_boards(
    declarations: Declarations, secretary: Browser, make_browser: Any
) -> None:
    entry_id = declarations.submit("member", "volunteer", "1.5")
    response = secretary.submit("/review", f"/review/{entry_id}/approve", {})
    assert response.status_code == 303
    assert response.headers["location"] == "/review?done=approved"
    queue = secretary.client.get("/review?done=approved")
    assert "Entry approved; the points are on the board." in queue.text
    assert queue_ids(queue.text) == []
    assert declarations.ledger_lines(entry_id) == 1

    board = secretary.client.get(f"/boards/{period_of(today())}")
    assert board.status_code == 200
    # The secretary's board links the name to the member's points explanation.
    row = re.search(
        r"<tr>\s*<td>1</td>\s*<td><a href=\"/members/\d+/points[^\"]*\">张伟</a></td>.*?</tr>",
        board.text,
        re.DOTALL,
    )
    assert row, board.text
    assert '<td class="num">6.0</td>' in row.group(0)

    member = signed_in(make_browser, "member")
    me = member.client.get("/api/me").json()
    assert me["month"]["points"] == "6.0"
    assert me["month"]["rank"] == 1
    entries = member.client.get("/entries").text
    assert 'class="entry status-approved"' in entries
    assert "+6.0 points" in entries


def test_approving_twice_is_refused_and_moves_no_points(
    declarations: Declarations, secretary: Browser
) -> None:
    entry_id = declarations.submit("member", "volunteer", "2")
    other = declarations.submit("member2", "study", "1")
    assert secretary.submit("/review", f"/review/{entry_id}/approve", {}).status_code == 303

    # The same form posted again (a double click, a second tab) with a fresh token.
    again = secretary.submit("/review", f"/review/{entry_id}/approve", {})
    assert again.status_code == 409
    banner = re.search(r'<p class="error-banner" role="alert">([^<]*)</p>', again.text)
    assert banner, "the second approval must say why nothing happened"
    assert "approved" in banner.group(1)
    assert "nothing was changed" in banner.group(1)
    assert declarations.ledger_lines(entry_id) == 1
    assert declarations.ledger_lines() == 1
    # The queue is still there to carry on with.
    assert queue_ids(again.text) == [other]

    me = secretary.client.get("/api/boards/" + period_of(today()) + "/members").json()
    assert [(m["name"], m["points"]) for m in me["members"]] == [("张伟", "6.0")]


def test_rejecting_without_reason_shows_the_error_at_that_entry(
    declarations: Declarations, secretary: Browser
) -> None:
    first = declarations.submit("member", submitted_at=utcnow() - timedelta(minutes=5))
    second = declarations.submit("member2")
    response = secretary.submit("/review", f"/review/{second}/reject", {"reason": "   "})
    assert response.status_code == 422
    item = queue_item(response.text, second)
    assert f'id="reason-{second}-error"' in item
    assert "Give the member a reason for the rejection." in item
    assert 'aria-invalid="true"' in item
    assert f'id="reason-{first}-error"' not in response.text
    assert queue_ids(response.text) == [first, second]  # still pending
    assert queue_ids(secretary.client.get("/review").text) == [first, second]


def test_a_rejection_reason_reaches_the_member(
    declarations: Declarations, secretary: Browser, make_browser: Any
) -> None:
    entry_id = declarations.submit("member", description="值守两小时")
    response = secretary.submit(
        "/review", f"/review/{entry_id}/reject", {"reason": "签到表上没有你的名字"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/review?done=rejected"
    assert declarations.ledger_lines() == 0

    member = signed_in(make_browser, "member")
    page = member.client.get("/entries").text
    assert 'class="entry status-rejected"' in page
    assert "Reason: 签到表上没有你的名字" in page

    approve_after = secretary.submit("/review", f"/review/{entry_id}/approve", {})
    assert approve_after.status_code == 409
    assert declarations.ledger_lines() == 0


def test_another_branchs_secretary_cannot_decide(
    declarations: Declarations, town: SmallTown, client: TestClient[Litestar], browser: Browser
) -> None:
    entry_id = declarations.submit("member")
    browser.login("secretary2")
    assert queue_ids(client.get("/review").text) == []
    approve = browser.submit("/review", f"/review/{entry_id}/approve", {})
    assert approve.status_code == 403
    reject = browser.submit("/review", f"/review/{entry_id}/reject", {"reason": "不是本支部"})
    assert reject.status_code == 403
    assert declarations.ledger_lines() == 0


def test_the_instructor_decides_the_secretarys_own_entry(
    declarations: Declarations, secretary: Browser, make_browser: Any
) -> None:
    entry_id = declarations.submit("secretary", "good_deed", "1", description="联系学校")
    own = secretary.submit("/review", f"/review/{entry_id}/approve", {})
    assert own.status_code == 403
    assert declarations.ledger_lines() == 0

    instructor = signed_in(make_browser, "instructor")
    queue = instructor.client.get("/review").text
    assert queue_ids(queue) == [entry_id]
    assert "联系学校" in queue
    response = instructor.submit("/review", f"/review/{entry_id}/approve", {})
    assert response.status_code == 303
    assert declarations.ledger_lines(entry_id) == 1


def test_an_unknown_entry_is_not_found(secretary: Browser) -> None:
    response = secretary.submit("/review", "/review/999999/approve", {})
    assert response.status_code == 404
