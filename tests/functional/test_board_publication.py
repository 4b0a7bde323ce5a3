"""The public boards of a published month: members object to a line from the board
while the notice window is open; a corrected month shows which revision is shown, the
one it replaces, why and what changed, and keeps the earlier revision readable (marked
as replaced); every revision shows its digest and whether it still holds."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.periods import period_of, shift_period, town_today
from service.persistence.db import Database
from service.persistence.models import Publication
from service.persistence.types import utcnow
from service.publication.corrections import open_correction, publish_correction
from service.publication.publish import publish_month
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown, raw_connection

HOST = "testserver.local"
THIS_MONTH = period_of(town_today(utcnow(), "Asia/Shanghai"))
LAST_MONTH = shift_period(THIS_MONTH, -1)
TWO_AGO = shift_period(THIS_MONTH, -2)
OBJECT_LINK = re.compile(r'href="/objections/new\?period=([0-9-]+)&amp;(member|branch)=(\d+)"')
TABLE_ROW = re.compile(r"<tr>(.*?)</tr>", re.DOTALL)
CELL = re.compile(r"<t[dh][^>]*>(.*?)</t[dh]>", re.DOTALL)


def first_day(period: str) -> date:
    return date(int(period[:4]), int(period[5:7]), 1)


def plain(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def rows(page: str) -> list[list[str]]:
    """The body rows of the page's tables, as cell texts."""
    found = []
    for row in TABLE_ROW.findall(page):
        if "<td" in row:
            found.append([plain(cell) for cell in CELL.findall(row)])
    return found


def object_links(page: str) -> set[tuple[str, str, int]]:
    return {(period, kind, int(id_)) for period, kind, id_ in OBJECT_LINK.findall(page)}


def signed_in(make_browser: Any, username: str) -> Browser:
    other: Browser = make_browser()
    other.client.cookies.set("jifen_lang", "en", domain=HOST)
    other.login(username)
    return other


def approved(
    database: Database, town: SmallTown, rulebook: Rulebook, username: str, period: str, rule: str
) -> None:
    """One approved entry of ``username`` dated on the 3rd of ``period``."""
    admin = town.principal(database, "admin")
    day = first_day(period) + timedelta(days=2)
    with database.transaction() as session:
        entry_id = submit_entry(
            session,
            town.principal(database, username),
            rulebook,
            EntryInput(rule, day, Decimal(1), "学习教育"),
            # Declared on the day: two months ago is further back than a member may go.
            today=day,
            now=utcnow(),
        )
        approve_entry(session, admin, rulebook, entry_id, now=utcnow())


def publish(
    database: Database, town: SmallTown, rulebook: Rulebook, period: str, now: datetime
) -> None:
    with database.transaction() as session:
        publish_month(session, town.principal(database, "admin"), rulebook, period, now=now)


@pytest.fixture
def open_month(database: Database, town: SmallTown, rulebook: Rulebook) -> str:
    """Last month, 张伟 with one study session, published now: its notice window is open."""
    approved(database, town, rulebook, "member", LAST_MONTH, "study")
    publish(database, town, rulebook, LAST_MONTH, utcnow())
    return LAST_MONTH


@pytest.fixture
def closed_month(database: Database, town: SmallTown, rulebook: Rulebook) -> str:
    """The month before, published on the 2nd of last month: its seven days are over."""
    approved(database, town, rulebook, "member", TWO_AGO, "study")
    moment = datetime.combine(first_day(LAST_MONTH) + timedelta(days=1), time(4), tzinfo=UTC)
    publish(database, town, rulebook, TWO_AGO, moment)
    return TWO_AGO


@pytest.fixture
def corrected_month(
    open_month: str, database: Database, town: SmallTown, rulebook: Rulebook
) -> str:
    """The open month corrected once: 李娜's study was missing (revision 2)."""
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        open_correction(session, admin, open_month, "李娜的学习漏报", now=utcnow())
    approved(database, town, rulebook, "member2", open_month, "study")
    with database.transaction() as session:
        publish_correction(session, admin, rulebook, open_month, now=utcnow())
    return open_month


# --- objecting from the board ----------------------------------------------------------


def test_a_member_sees_a_link_to_object_on_each_line_during_the_window(
    open_month: str, town: SmallTown, make_browser: Any
) -> None:
    member2 = signed_in(make_browser, "member2")
    zhang, jinwan, baoyuan = town.member_ids["member"], town.jinwan, town.baoyuan

    board = member2.client.get(f"/boards/{open_month}")
    assert board.status_code == 200
    assert object_links(board.text) == {(open_month, "member", zhang)}
    assert 'aria-label="Object to the line of 张伟"' in board.text
    # The link sits in a narrow column before the points; the figures stay where they were.
    assert [(c[0], c[1], c[-2], c[-1]) for c in rows(board.text)] == [
        ("1", "张伟", "Object", "2.0")
    ]

    branches = member2.client.get(f"/boards/{open_month}/branches").text
    assert object_links(branches) == {
        (open_month, "branch", jinwan),
        (open_month, "branch", baoyuan),
    }

    # Within a branch: the branch's own line, its ranked members and those without points.
    branch = member2.client.get(f"/boards/{open_month}/branches/{jinwan}").text
    assert object_links(branch) == {
        (open_month, "branch", jinwan),
        (open_month, "member", zhang),
        (open_month, "member", town.member_ids["member2"]),
        (open_month, "member", town.member_ids["secretary"]),
    }

    # The link opens the objection form on that line.
    form = member2.client.get(f"/objections/new?period={open_month}&member={zhang}")
    assert form.status_code == 200
    assert "张伟 (M001)" in plain(form.text)

    # Not on the sheet for the notice board.
    assert object_links(member2.client.get(f"/boards/{open_month}/print").text) == set()


def test_no_links_to_object_before_publication_after_the_window_or_without_a_member(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    approved(database, town, rulebook, "member", LAST_MONTH, "study")
    member2 = signed_in(make_browser, "member2")
    before = member2.client.get(f"/boards/{LAST_MONTH}").text
    assert "Not yet published" in before
    assert object_links(before) == set()

    publish(database, town, rulebook, LAST_MONTH, utcnow())
    admin = signed_in(make_browser, "admin")  # the office has no member record
    for path in ["", "/branches", f"/branches/{town.jinwan}"]:
        assert object_links(admin.client.get(f"/boards/{LAST_MONTH}{path}").text) == set()
        assert object_links(member2.client.get(f"/boards/{LAST_MONTH}{path}").text)
    # Quarter and year boards add months: nothing there to object to.
    year = LAST_MONTH[:4]
    assert object_links(member2.client.get(f"/boards/{year}").text) == set()


def test_no_links_to_object_once_the_month_is_final(
    closed_month: str, town: SmallTown, make_browser: Any
) -> None:
    member2 = signed_in(make_browser, "member2")
    for path in ["", "/branches", f"/branches/{town.jinwan}"]:
        page = member2.client.get(f"/boards/{closed_month}{path}").text
        assert "The notice period has closed: this board is final." in plain(page)
        assert object_links(page) == set()


# --- revisions ------------------------------------------------------------------------


def test_a_corrected_month_shows_the_new_revision_its_reason_and_what_changed(
    corrected_month: str, town: SmallTown, make_browser: Any, database: Database
) -> None:
    member = signed_in(make_browser, "member")
    page = member.client.get(f"/boards/{corrected_month}")
    assert page.status_code == 200
    text_of_page = plain(page.text)
    assert "Published on" in text_of_page and "revision 2." in text_of_page
    assert "This revision replaces revision 1, published on" in text_of_page
    assert "Reason for the correction: 李娜的学习漏报" in text_of_page
    assert "Revisions of this month: revision 1 (replaced) · revision 2 (in force)" in (
        text_of_page
    )
    assert f'href="/boards/{corrected_month}?revision=1"' in page.text
    assert "What changed from revision 1 to 2" in text_of_page
    # 李娜 had no points (unranked); now 2 points and first place. Her branch went up too.
    assert ["李娜 金湾工业园区联合党支部", "0.0 → 2.0", "– → 1"] in rows(page.text)
    assert ["金湾工业园区联合党支部", "2.0 → 4.0", "1, 1, 1 → 1, 1, 1"] in rows(page.text)
    assert "张伟 金湾工业园区联合党支部" not in [row[0] for row in rows(page.text)]  # unchanged
    # The board itself is the corrected one, still open for objections.
    assert object_links(page.text) >= {(corrected_month, "member", town.member_ids["member2"])}
    assert "Objections are taken until" in text_of_page

    # The branch pages carry the same banner.
    branches = plain(member.client.get(f"/boards/{corrected_month}/branches").text)
    assert "What changed from revision 1 to 2" in branches
    assert "Reason for the correction: 李娜的学习漏报" in branches


def test_the_replaced_revision_stays_readable_and_says_so(
    corrected_month: str, town: SmallTown, make_browser: Any
) -> None:
    member = signed_in(make_browser, "member")
    old = member.client.get(f"/boards/{corrected_month}?revision=1")
    assert old.status_code == 200
    text_of_page = plain(old.text)
    assert "This is revision 1, published on" in text_of_page
    assert "It has been replaced by revision 2 and is no longer in force." in text_of_page
    assert "Reason for the correction: 李娜的学习漏报" in text_of_page
    assert f'<a href="/boards/{corrected_month}">See the newest revision (revision 2)</a>' in (
        old.text
    )
    assert 'class="publication replaced"' in old.text
    # The old figures: 张伟 alone, first with 1 point; nobody can object to a replaced board.
    assert [(c[0], c[1], c[-1]) for c in rows(old.text)] == [("1", "张伟", "2.0")]
    assert object_links(old.text) == set()
    assert "What changed" not in text_of_page  # revision 1 replaced nothing

    # Its links keep to revision 1: the tabs, the branch pages and the downloads.
    assert f'href="/boards/{corrected_month}/branches?revision=1"' in old.text
    assert f'href="/boards/{corrected_month}/branches/{town.jinwan}?revision=1"' in old.text
    assert f'href="/boards/{corrected_month}/members.csv?revision=1"' in old.text
    old_branches = member.client.get(f"/boards/{corrected_month}/branches?revision=1").text
    assert [(c[0], c[1].split(" ")[0], c[2]) for c in rows(old_branches)] == [
        ("1", "金湾工业园区联合党支部", "2.0"),
        ("2", "宝元鞋厂党支部", "0.0"),
    ]
    assert "sort=per_member&amp;revision=1" in old_branches
    old_branch = member.client.get(
        f"/boards/{corrected_month}/branches/{town.jinwan}?revision=1"
    ).text
    assert "It has been replaced by revision 2" in plain(old_branch)
    assert [(c[0], c[1]) for c in rows(old_branch)] == [("1", "张伟")]
    csv_text = member.client.get(f"/boards/{corrected_month}/members.csv?revision=1").text
    assert "李娜" not in csv_text and "张伟" in csv_text
    assert "李娜" in member.client.get(f"/boards/{corrected_month}/members.csv").text

    # The newest revision is the default; asking for it by number shows it the same way.
    newest = plain(member.client.get(f"/boards/{corrected_month}?revision=2").text)
    assert "This revision replaces revision 1" in newest
    assert "no longer in force" not in newest


def test_an_unknown_revision_is_not_found(open_month: str, make_browser: Any) -> None:
    member = signed_in(make_browser, "member")
    assert member.client.get(f"/boards/{open_month}?revision=2").status_code == 404
    assert member.client.get(f"/boards/{TWO_AGO}?revision=1").status_code == 404
    assert member.client.get(f"/boards/{open_month}/branches?revision=0").status_code == 404


# --- the digest -----------------------------------------------------------------------


def test_the_board_shows_its_digest_and_that_it_holds(
    open_month: str, make_browser: Any, database: Database
) -> None:
    member = signed_in(make_browser, "member")
    with database.transaction(write=False) as session:
        digest = session.scalar(select(Publication.digest))
    assert digest is not None and len(digest) == 64
    page = member.client.get(f"/boards/{open_month}").text
    assert f'<code title="{digest}">{digest[:12]}…</code>' in page
    assert f'<code class="digest-full">{digest}</code>' in page
    assert "SHA-256 digest" in page
    assert "holds" in plain(page) and "does not hold" not in plain(page)
    assert "does not match its digest" not in page


def test_a_tampered_board_says_its_digest_does_not_hold(
    open_month: str, make_browser: Any, database: Database
) -> None:
    with raw_connection(database) as connection:
        connection.execute(text("UPDATE published_member_row SET points = points + 50"))
    member = signed_in(make_browser, "member")
    for path in ["", "/branches"]:
        page = member.client.get(f"/boards/{open_month}{path}").text
        assert "does not hold" in plain(page)
        assert 'class="error-banner" role="alert"' in page
        assert "This stored board does not match its digest" in plain(page)
    # The page shows what is stored (never recomputed: points are kept in tenths, so
    # the edit made 2.0 into 7.0), and says it cannot be trusted.
    board = member.client.get(f"/boards/{open_month}").text
    assert [(c[1], c[-1]) for c in rows(board)] == [("张伟", "7.0")]
