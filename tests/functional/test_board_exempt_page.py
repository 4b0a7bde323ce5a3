"""The exempt members with points are listed on pages of their own
(/boards/PERIOD/exempt?page=N, 100 a page), live and published; the members board only
says how many there are and links there."""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from service.accounts.principal import Principal
from service.boards.pages import EXEMPT_PAGE_SIZE
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.periods import period_of, shift_period, town_today
from service.persistence.db import Database
from service.persistence.models import Member, MemberStatus
from service.persistence.types import utcnow
from service.publication.publish import publish_month
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown

HOST = "testserver.local"
TODAY = town_today(utcnow(), "Asia/Shanghai")
THIS_MONTH = period_of(TODAY)
LAST_MONTH = shift_period(THIS_MONTH, -1)
EXEMPT = EXEMPT_PAGE_SIZE + 3  # two pages: 100 and 3
NASTY = "<i>豁免</i>&老"  # a name that must come out escaped
LIST = re.compile(r'<ul class="exempt-list">(.*?)</ul>', re.DOTALL)
ITEM = re.compile(r"<li>(.*?)</li>", re.DOTALL)
OBJECT_LINK = re.compile(r'href="/objections/new\?period=([0-9-]+)&amp;member=(\d+)"')


def name_of(number: int) -> str:
    return NASTY if number == 0 else f"豁免成员{number:03d}"


def listed(page: str) -> list[str]:
    """The names on an exempt page, in order (the text before the first " · ")."""
    found = LIST.search(page)
    if found is None:
        return []
    return [
        html.unescape(re.sub(r"<[^>]+>", "", item).split(" · ")[0])
        for item in ITEM.findall(found.group(1))
    ]


def approve_all(
    database: Database, rulebook: Rulebook, admin: Principal, members: list[tuple[int, int]]
) -> None:
    """One approved study entry (2 points) last month and one today for each (member, branch),
    in one transaction."""
    last_month_day = date(int(LAST_MONTH[:4]), int(LAST_MONTH[5:7]), 3)
    with database.transaction() as session:
        for member_id, branch_id in members:
            account = Principal(
                account_id=admin.account_id,
                username=admin.username,
                display_name=admin.display_name,
                member_id=member_id,
                member_branch_id=branch_id,
                member_branch_name=None,
                grants=frozenset(),
            )
            for day in (last_month_day, TODAY):
                entry_id = submit_entry(
                    session,
                    account,
                    rulebook,
                    EntryInput("study", day, Decimal(1), "学习教育"),
                    today=TODAY,
                    now=utcnow(),
                )
                approve_entry(session, admin, rulebook, entry_id, now=utcnow())


@pytest.fixture
def exempt_town(database: Database, town: SmallTown, rulebook: Rulebook) -> dict[str, int]:
    """103 exempt members in 金湾 (E000 to E102), each with points last month and this
    month; 张伟 ranked with points in both; the elder (exempt, no points) not listed.
    Last month is published (its notice window open)."""
    with database.transaction() as session:
        exempt = [
            Member(
                code=f"E{number:03d}",
                name=name_of(number),
                branch_id=town.jinwan,
                status=MemberStatus.EXEMPT,
                joined_party_on=date(1970, 7, 1),
                active=True,
            )
            for number in range(EXEMPT)
        ]
        session.add_all(exempt)
        session.flush()
        ids = {member.code: member.id for member in exempt}
    admin = town.principal(database, "admin")
    approve_all(
        database,
        rulebook,
        admin,
        [(member_id, town.jinwan) for member_id in [*ids.values(), town.member_ids["member"]]],
    )
    with database.transaction() as session:
        publish_month(session, admin, rulebook, LAST_MONTH, now=utcnow())
    return ids


@pytest.fixture
def member(exempt_town: dict[str, int], client: TestClient[Litestar], browser: Browser) -> Browser:
    client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login("member2")
    return browser


@pytest.mark.parametrize("period", [THIS_MONTH, LAST_MONTH], ids=["live", "published"])
def test_the_exempt_members_are_on_pages_of_their_own(member: Browser, period: str) -> None:
    # The board page: the count and a link, none of the exempt members' lines.
    board = member.client.get(f"/boards/{period}")
    assert board.status_code == 200
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", board.text)).split())
    assert f"{EXEMPT} exempt members with points are not ranked and are listed separately." in (
        text
    )
    assert f'href="/boards/{period}/exempt"' in board.text
    assert "张伟" in board.text  # the ranked member
    assert "豁免" not in board.text and "E001" not in board.text

    # Their pages: exactly the exempt members with points, by member number, 100 a page.
    first = member.client.get(f"/boards/{period}/exempt")
    second = member.client.get(f"/boards/{period}/exempt", params={"page": 2})
    assert first.status_code == second.status_code == 200
    one, two = listed(first.text), listed(second.text)
    names = [name_of(number) for number in range(EXEMPT)]  # E000 first
    assert one == names[:EXEMPT_PAGE_SIZE]
    assert two == names[EXEMPT_PAGE_SIZE:]
    assert "豁免成员102" in two and "豁免成员102" not in first.text  # page 2 only
    for page in (first.text, second.text):
        assert "张伟" not in page  # ranked, not exempt
        assert "赵老" not in page  # exempt, but no points
    assert "Page 1 of 2" in first.text and "Page 2 of 2" in second.text
    assert 'href="?page=2" rel="next"' in first.text
    assert 'href="?page=1" rel="prev"' in second.text
    assert 'rel="next"' not in second.text.split('class="pages"')[1]
    # Each line: name · branch · points.
    assert "豁免成员001 · 金湾工业园区联合党支部 · 2.0" in html.unescape(first.text)
    # A page past the end shows the last one.
    assert listed(member.client.get(f"/boards/{period}/exempt?page=9").text) == two


def test_exempt_pages_escape_link_objections_keep_revisions_and_spans(
    member: Browser, exempt_town: dict[str, int]
) -> None:
    live = member.client.get(f"/boards/{THIS_MONTH}/exempt").text
    assert "&lt;i&gt;豁免&lt;/i&gt;&amp;老" in live
    assert "<i>豁免</i>" not in live
    # Live figures take no objections; a published month's lines do during its window.
    assert OBJECT_LINK.findall(live) == []
    published = member.client.get(f"/boards/{LAST_MONTH}/exempt").text
    links = OBJECT_LINK.findall(published)
    expected = [exempt_town[f"E{number:03d}"] for number in range(EXEMPT_PAGE_SIZE)]
    assert [int(member_id) for _period, member_id in links] == expected
    assert {period for period, _member_id in links} == {LAST_MONTH}
    assert 'aria-label="Object to the line of &lt;i&gt;豁免&lt;/i&gt;&amp;老"' in published

    # A stored revision by number, and one that does not exist.
    page = member.client.get(f"/boards/{LAST_MONTH}/exempt", params={"revision": 1, "page": 2})
    assert page.status_code == 200
    assert listed(page.text) == [name_of(n) for n in range(EXEMPT_PAGE_SIZE, EXEMPT)]
    missing = member.client.get(f"/boards/{LAST_MONTH}/exempt", params={"revision": 7})
    assert missing.status_code == 404

    # A year board (the months' points added) has its exempt pages too.
    year = member.client.get(f"/boards/{THIS_MONTH[:4]}/exempt", params={"page": 2})
    assert year.status_code == 200
    assert listed(year.text) == [name_of(n) for n in range(EXEMPT_PAGE_SIZE, EXEMPT)]


def test_the_exempt_pages_need_a_sign_in(
    exempt_town: dict[str, int], client: TestClient[Litestar]
) -> None:
    response = client.get(f"/boards/{THIS_MONTH}/exempt", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_a_board_without_exempt_points_says_nothing_of_them(
    database: Database, town: SmallTown, client: TestClient[Litestar], browser: Browser
) -> None:
    client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login("member")
    board = browser.client.get(f"/boards/{THIS_MONTH}").text
    assert "/exempt" not in board and "exempt members" not in board
    empty = browser.client.get(f"/boards/{THIS_MONTH}/exempt")
    assert empty.status_code == 200
    assert "No exempt member has points in this period." in empty.text
    assert browser.client.get("/boards/2026-13/exempt").status_code == 404
