"""Long lists come a page at a time, and nothing is dropped: /entries, /branches,
/objections, a branch's suggestions, the office's /admin/branches and its other lists,
a branch's roster and the boards, through real HTTP on a real database. With one item
more than a page holds there are two pages; the second holds the rest; an address
asking for a page past the last, or for no number at all, still answers."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select

from service.entries.entry import ENTRIES_PAGE_SIZE, EntryInput, submit_entry
from service.entries.review import approve_entry
from service.entries.suggestions import SUGGESTIONS_PAGE_SIZE
from service.kernel.periods import period_of, shift_period, town_today
from service.persistence.db import Database
from service.persistence.models import (
    Account,
    Branch,
    BranchKind,
    Entry,
    EntryStatus,
    Member,
    MemberStatus,
    Objection,
    Organisation,
    OrganisationKind,
    Publication,
)
from service.persistence.pagination import PAGE_SIZE
from service.persistence.types import utcnow
from service.publication.objections import OBJECTIONS_PAGE_SIZE
from service.publication.publish import publish_month
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown

HOST = "testserver.local"
BRANCHES_PAGE_SIZE = PAGE_SIZE
ACHIEVEMENT_SUGGESTIONS_PAGE_SIZE = PAGE_SIZE
PAGER = re.compile(r'<nav class="pages" aria-label="([^"]+)">(.*?)</nav>', re.DOTALL)
HREF = re.compile(r'<a href="([^"]+)" rel="(prev|next)"')


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


def plain(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def signed_in(make_browser: Any, username: str) -> Browser:
    other: Browser = make_browser()
    other.client.cookies.set("jifen_lang", "en", domain=HOST)
    other.login(username)
    return other


def pager(page: str) -> tuple[str, str, dict[str, str]]:
    """The page's pager: its label, its text, and its links by rel (prev, next)."""
    found = PAGER.findall(page)
    assert len(found) == 1, "expected one pager on the page"
    label, inner = found[0]
    links = {rel: html.unescape(href) for href, rel in HREF.findall(inner)}
    return html.unescape(label), plain(inner), links


@dataclass(frozen=True)
class PagedList:
    """One paginated list: where it is, who sees it, how its items show."""

    path: str
    username: str
    size: int
    item: re.Pattern[str]  # group 1: the item's id in the page
    label: str


def ids(page: str, pattern: re.Pattern[str]) -> list[str]:
    return pattern.findall(page)


def check_two_pages(
    browser: Browser, paged: PagedList, total: int, first_item: str, later_item: str
) -> None:
    """``total`` items (one more than a page, or more): page 1 is full, page 2 the rest,
    the two share nothing; ``first_item`` leads page 1 and ``later_item`` is on page 2
    only."""
    assert paged.size < total <= 2 * paged.size
    first = browser.client.get(paged.path)
    assert first.status_code == 200, first.text
    on_first = ids(first.text, paged.item)
    assert len(on_first) == paged.size
    assert on_first[0] == first_item
    label, text, links = pager(first.text)
    assert label == paged.label
    assert "Page 1 of 2" in text
    assert "prev" not in links
    assert "Next page" in text

    second = browser.client.get(links["next"])
    assert second.status_code == 200, second.text
    on_second = ids(second.text, paged.item)
    assert len(on_second) == total - paged.size
    assert later_item in on_second
    assert later_item not in on_first
    assert not set(on_first) & set(on_second)
    _, text, links = pager(second.text)
    assert "Page 2 of 2" in text
    assert "next" not in links
    # Back to the first page, which is the list's plain address.
    assert links["prev"] == paged.path

    # Past the last page: the last page. Not a number: the first page. Never an error.
    for asked, expected in [
        ("999", on_second),
        ("2", on_second),
        ("abc", on_first),
        ("", on_first),
        ("-3", on_first),
        ("0", on_first),
        ("1.5", on_first),
        ("99999999999999999999", on_second),
    ]:
        answer = browser.client.get(paged.path, params={"page": asked})
        assert answer.status_code == 200, (asked, answer.status_code)
        assert ids(answer.text, paged.item) == expected, asked


# --- /entries -------------------------------------------------------------------------


def add_entries(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    count: int,
    *,
    rule_id: str = "volunteer",
    username: str = "member",
    status: EntryStatus = EntryStatus.PENDING,
    spread: int = 5,
) -> list[int]:
    """``count`` entries of one member, submitted a minute apart (oldest first), their
    activity dates over the last ``spread`` days."""
    ruleset = rulebook.in_force(today())
    assert ruleset is not None
    start = datetime.now(UTC) - timedelta(days=1)
    ids_made: list[int] = []
    with database.transaction() as session:
        for number in range(count):
            entry = Entry(
                member_id=town.member_ids[username],
                branch_id=town.jinwan,
                rule_id=rule_id,
                ruleset_version=ruleset.version,
                activity_date=today() - timedelta(days=number % spread),
                period=period_of(today() - timedelta(days=number % spread)),
                quantity=Decimal(1),
                description=f"item {number:03d}",
                status=status,
                submitted_at=start + timedelta(minutes=number),
                submitted_by_id=town.account_ids[username],
            )
            session.add(entry)
            session.flush()
            ids_made.append(entry.id)
    return ids_made


ENTRY_ITEM = re.compile(
    r'<li class="entry status-\w+">.*?<p class="description">item (\d+)</p>', re.DOTALL
)


def entries_list() -> PagedList:
    return PagedList("/entries", "member", ENTRIES_PAGE_SIZE, ENTRY_ITEM, "Pages of my entries")


def test_my_entries_come_a_page_at_a_time_and_none_is_dropped(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    total = ENTRIES_PAGE_SIZE + 1
    add_entries(database, town, rulebook, total)
    member = signed_in(make_browser, "member")
    check_two_pages(member, entries_list(), total, first_item=f"{total - 1:03d}", later_item="000")
    first = member.client.get("/entries").text
    assert f"Entries 1–{ENTRIES_PAGE_SIZE} of {total}." in plain(first)


def test_more_than_a_hundred_entries_are_all_reachable(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    """The list used to stop at 100: the 101st and later are on the last pages now."""
    total = 120
    add_entries(database, town, rulebook, total)
    member = signed_in(make_browser, "member")
    seen: list[str] = []
    pages = -(-total // ENTRIES_PAGE_SIZE)
    for number in range(1, pages + 1):
        page = member.client.get("/entries", params={"page": str(number)})
        assert page.status_code == 200
        seen += ids(page.text, ENTRY_ITEM)
        assert f"Page {number} of {pages}" in pager(page.text)[1]
    assert sorted(seen) == [f"{n:03d}" for n in range(total)]


def test_withdrawing_on_the_second_page_comes_back_to_it(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    made = add_entries(database, town, rulebook, ENTRIES_PAGE_SIZE + 2)
    member = signed_in(make_browser, "member")
    oldest = made[0]
    page = member.client.get("/entries?page=2")
    action = f"/entries/{oldest}/withdraw?page=2"
    assert f'action="{action}"' in page.text
    token = member.csrf_token("/entries?page=2")
    answer = member.client.post(action, data={"_csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/entries?done=withdrawn&page=2"
    back = member.client.get(answer.headers["location"])
    assert "Page 2 of 2" in pager(back.text)[1]
    # The notice is for this answer only: the pager's links do not carry it on.
    assert all("done=" not in href for href in pager(back.text)[2].values())


def test_no_entries_says_what_to_do(town: SmallTown, make_browser: Any) -> None:
    member = signed_in(make_browser, "member")
    for address in ("/entries", "/entries?page=7", "/entries?page=x"):
        page = member.client.get(address)
        assert page.status_code == 200
        assert "You have no entries yet. Declare what you did" in plain(page.text)
        assert 'href="/entries/new"' in page.text
        assert 'class="pages"' not in page.text


# --- /branches --------------------------------------------------------------------------


BRANCH_ITEM = re.compile(
    r'<li><a href="/branches/\d+">[^<]*</a> <span class="muted small">(P\d+|B\d+)</span>'
)


def add_branches(database: Database, count: int) -> None:
    with database.transaction() as session:
        session.add_all(
            Branch(code=f"P{number:03d}", name=f"测试支部{number:03d}", kind=BranchKind.SINGLE)
            for number in range(count)
        )


def test_the_office_sees_every_branch_a_page_at_a_time(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    # B001 and B002 of the town, then P000..P049: by code, P049 is the last.
    add_branches(database, BRANCHES_PAGE_SIZE)
    total = BRANCHES_PAGE_SIZE + 2
    admin = signed_in(make_browser, "admin")
    paged = PagedList(
        "/branches", "admin", BRANCHES_PAGE_SIZE, BRANCH_ITEM, "Pages of the branch list"
    )
    check_two_pages(admin, paged, total, first_item="B001", later_item="P049")


def test_pager_links_keep_the_other_parameters(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    add_branches(database, BRANCHES_PAGE_SIZE)
    admin = signed_in(make_browser, "admin")
    page = admin.client.get("/branches?view=all&page=1&done=x")
    _, _, links = pager(page.text)
    assert links["next"] == "/branches?view=all&page=2"
    second = admin.client.get(links["next"])
    assert pager(second.text)[2]["prev"] == "/branches?view=all"
    # Escaped in the page: a parameter cannot close the attribute.
    odd = admin.client.get('/branches?q="><script>alert(1)</script>')
    assert "<script>alert(1)" not in odd.text
    assert (
        pager(odd.text)[2]["next"]
        == "/branches?q=%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E&page=2"
    )


def test_a_reviewer_pages_only_through_their_own_branches(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    add_branches(database, BRANCHES_PAGE_SIZE)
    instructor = signed_in(make_browser, "instructor")
    for address in ("/branches", "/branches?page=2", "/branches?page=abc"):
        page = instructor.client.get(address)
        assert page.status_code == 200
        assert ids(page.text, BRANCH_ITEM) == ["B001"]
        assert 'class="pages"' not in page.text


# --- /objections ------------------------------------------------------------------------


OBJECTION_ITEM = re.compile(
    r'<li class="entry" id="objection-\d+">.*?<p class="description">objection (\d+)</p>', re.DOTALL
)


def publish_last_month(database: Database, town: SmallTown, rulebook: Rulebook) -> int:
    period = shift_period(period_of(today()), -1)
    member = town.principal(database, "member")
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        entry_id = submit_entry(
            session,
            member,
            rulebook,
            EntryInput("study", date(int(period[:4]), int(period[5:]), 3), Decimal(1), "学习教育"),
            today=today(),
            now=utcnow(),
        )
        approve_entry(session, admin, rulebook, entry_id, now=utcnow())
        publish_month(session, admin, rulebook, period, now=utcnow())
        publication_id = session.scalar(select(Publication.id).where(Publication.period == period))
        assert publication_id is not None
        return publication_id


def add_objections(
    database: Database, town: SmallTown, publication_id: int, count: int, username: str = "member"
) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    with database.transaction() as session:
        session.add_all(
            Objection(
                publication_id=publication_id,
                member_id=town.member_ids[username],
                account_id=town.account_ids[username],
                line_member_id=town.member_ids[username],
                text=f"objection {number:03d}",
                created_at=start + timedelta(seconds=number),
            )
            for number in range(count)
        )


def test_my_objections_come_a_page_at_a_time(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    publication_id = publish_last_month(database, town, rulebook)
    total = OBJECTIONS_PAGE_SIZE + 1
    add_objections(database, town, publication_id, total)
    # Someone else's objections are neither shown nor counted.
    add_objections(database, town, publication_id, 30, username="member2")
    member = signed_in(make_browser, "member")
    paged = PagedList(
        "/objections", "member", OBJECTIONS_PAGE_SIZE, OBJECTION_ITEM, "Pages of my objections"
    )
    check_two_pages(member, paged, total, first_item=f"{total - 1:03d}", later_item="000")


def test_no_objections_says_where_to_object(town: SmallTown, make_browser: Any) -> None:
    member = signed_in(make_browser, "member")
    for address in ("/objections", "/objections?page=3", "/objections?page=%E4%B8%80"):
        page = member.client.get(address)
        assert page.status_code == 200
        assert "You have not objected to any board." in plain(page.text)
        assert "use the link beside the line on the board" in plain(page.text)
        assert 'href="/boards"' in page.text


# --- a branch's suggestions -------------------------------------------------------------


SUGGESTION_ITEM = re.compile(
    r'<li class="entry suggestion stage-\w+" id="suggestion-\d+">'
    r'.*?<p class="description">item (\d+)</p>',
    re.DOTALL,
)


def test_a_branchs_suggestions_come_a_page_at_a_time(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    total = SUGGESTIONS_PAGE_SIZE + 1
    # Activity dates repeat every five days, so the order ends on the entry: newest first
    # by date, then by the latest entry. The oldest is item 005..: day -4 holds 004, 009...
    add_entries(database, town, rulebook, total, rule_id="suggestion")
    secretary = signed_in(make_browser, "secretary")
    path = f"/branches/{town.jinwan}"
    by_order = sorted(
        range(total), key=lambda n: (-(today() - timedelta(days=n % 5)).toordinal(), -n)
    )
    paged = PagedList(
        path, "secretary", SUGGESTIONS_PAGE_SIZE, SUGGESTION_ITEM, "Pages of the suggestions"
    )
    check_two_pages(
        secretary, paged, total, first_item=f"{by_order[0]:03d}", later_item=f"{by_order[-1]:03d}"
    )
    # The members list below is still whole on every page of suggestions.
    second = secretary.client.get(f"{path}?page=2").text
    assert "张伟" in second and "李娜" in second


def test_marking_a_step_on_the_second_page_comes_back_to_it(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    total = SUGGESTIONS_PAGE_SIZE + 1
    made = add_entries(
        database, town, rulebook, total, rule_id="suggestion", status=EntryStatus.APPROVED
    )
    secretary = signed_in(make_browser, "secretary")
    path = f"/branches/{town.jinwan}"
    second = secretary.client.get(f"{path}?page=2")
    [shown] = re.findall(r'id="suggestion-(\d+)"', second.text)
    assert int(shown) in made
    action = f"{path}/suggestions/{shown}/adopted?page=2"
    assert f'action="{action}"' in second.text
    token = secretary.csrf_token(f"{path}?page=2")
    # A date in the future is refused: the same page comes back, with its pager.
    refused = secretary.client.post(
        action,
        data={"_csrf_token": token, "day": (today() + timedelta(days=3)).isoformat()},
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert f'id="suggestion-{shown}"' in refused.text
    _, text, links = pager(refused.text)
    assert "Page 2 of 2" in text
    assert links["prev"] == path
    done = secretary.client.post(
        action, data={"_csrf_token": token, "day": today().isoformat()}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"{path}?done=adopted&page=2"


def test_another_branchs_suggestions_stay_closed_on_every_page(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    for page in ("1", "2", "abc"):
        answer = secretary.client.get(f"/branches/{town.baoyuan}", params={"page": page})
        assert answer.status_code == 403


def test_no_suggestions_says_how_they_come(town: SmallTown, make_browser: Any) -> None:
    secretary = signed_in(make_browser, "secretary")
    page = secretary.client.get(f"/branches/{town.jinwan}?page=4")
    assert page.status_code == 200
    text = plain(page.text)
    assert "No suggestions from this branch yet." in text
    assert "A member declares one as an entry" in text


# --- a branch's achievements: the year's suggestions ----------------------------------


ACHIEVEMENT_ITEM = re.compile(
    r'<li class="(?:stage-\w+)?">\s*<span class="description">item (\d+)</span>'
)


def test_the_years_suggestions_on_the_achievements_page_come_a_page_at_a_time(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    total = ACHIEVEMENT_SUGGESTIONS_PAGE_SIZE + 1
    # All made today, so all in this year; listed oldest first, by entry.
    add_entries(
        database,
        town,
        rulebook,
        total,
        rule_id="suggestion",
        status=EntryStatus.APPROVED,
        spread=1,
    )
    # Pending suggestions are not achievements: neither shown nor counted.
    add_entries(database, town, rulebook, 3, rule_id="suggestion", username="member2")
    member3 = signed_in(make_browser, "member3")  # of another branch: the page is public
    path = f"/achievements/{town.jinwan}"
    paged = PagedList(
        path,
        "member3",
        ACHIEVEMENT_SUGGESTIONS_PAGE_SIZE,
        ACHIEVEMENT_ITEM,
        "Pages of the suggestions",
    )
    check_two_pages(member3, paged, total, first_item="000", later_item=f"{total - 1:03d}")
    # The year is kept on the pages; the year links start again at page 1.
    year = today().year
    page = member3.client.get(path, params={"year": str(year)})
    assert pager(page.text)[2]["next"] == f"{path}?year={year}&page=2"
    assert f'href="?year={year - 1}"' in page.text
    # The year's totals still count every suggestion, not only this page's.
    assert f"<strong>{total}</strong>suggestions made" in page.text.replace("\n", "")


# --- the office's branch list: /admin/branches ----------------------------------------


OFFICE_BRANCH_ITEM = re.compile(
    r'<li class="record" id="branch-\d+">\s*<div class="record-head">\s*'
    r'<a href="/admin/branches/\d+"><strong>[^<]*</strong></a>\s*'
    r'<span class="muted small">([^<]*)</span>'
)


def office_branches(path: str = "/admin/branches") -> PagedList:
    return PagedList(path, "admin", PAGE_SIZE, OFFICE_BRANCH_ITEM, "Pages of the branch list")


def test_the_offices_branch_list_comes_a_page_at_a_time(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    # A000..A049 sort before the town's B001 and B002, which come on page 2 with their
    # members and organisations still counted and the set-up problem still flagged.
    with database.transaction() as session:
        session.add_all(
            Branch(code=f"A{number:03d}", name=f"甲支部{number:03d}", kind=BranchKind.SINGLE)
            for number in range(PAGE_SIZE)
        )
    total = PAGE_SIZE + 2
    admin = signed_in(make_browser, "admin")
    check_two_pages(admin, office_branches(), total, first_item="A000", later_item="B002")

    first = plain(admin.client.get("/admin/branches").text)
    second = plain(admin.client.get("/admin/branches?page=2").text)
    # The count is of every branch, not of the page's.
    assert f"{total} branches" in first and f"{total} branches" in second
    assert "甲支部049 A049 single 0 active members" in first
    assert "A single branch should cover exactly one organisation." in first
    assert "金湾工业园区联合党支部" not in first
    assert "金湾工业园区联合党支部 B001 joint 4 active members" in second
    assert "Covers: 飞鹰机械有限公司" in second
    assert "A joint branch should cover several organisations." in second
    assert "宝元鞋厂党支部 B002 single 2 active members" in second
    assert "Covers: 宝元鞋厂" in second


def test_a_search_of_the_offices_branches_survives_paging(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    # P000..P054 are found by "测试支部"; the town's B001 and B002 are not.
    found = PAGE_SIZE + 5
    add_branches(database, found)
    admin = signed_in(make_browser, "admin")
    searched = "/admin/branches?" + urlencode({"q": "测试支部"})
    first = admin.client.get(searched)
    assert ids(first.text, OFFICE_BRANCH_ITEM) == [f"P{n:03d}" for n in range(PAGE_SIZE)]
    label, text, links = pager(first.text)
    assert label == "Pages of the branch list"
    assert "Page 1 of 2" in text
    assert links == {"next": f"{searched}&page=2"}

    second = admin.client.get(links["next"])
    assert ids(second.text, OFFICE_BRANCH_ITEM) == [f"P{n:03d}" for n in range(PAGE_SIZE, found)]
    assert f"{found} branches" in plain(second.text)
    # The search box still holds the search on page 2, and the way back keeps it.
    assert 'value="测试支部"' in second.text
    _, text, links = pager(second.text)
    assert "Page 2 of 2" in text
    assert links == {"prev": searched}

    # Past the last page of the search: its last page, still searched.
    beyond = admin.client.get(f"{searched}&page=999")
    assert beyond.status_code == 200
    assert ids(beyond.text, OFFICE_BRANCH_ITEM) == ids(second.text, OFFICE_BRANCH_ITEM)
    assert "Page 2 of 2" in pager(beyond.text)[1]

    # A notice is shown once; the pager's links keep the search but not the notice.
    saved = admin.client.get(f"{searched}&done=branch_saved")
    assert "The branch was saved." in plain(saved.text)
    assert pager(saved.text)[2]["next"] == f"{searched}&page=2"


def test_the_offices_branch_list_has_no_pager_when_one_page_holds_it(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    add_branches(database, PAGE_SIZE - 2)  # with B001 and B002: exactly one page
    admin = signed_in(make_browser, "admin")
    for address in ("/admin/branches", "/admin/branches?page=3", "/admin/branches?page=x"):
        page = admin.client.get(address)
        assert page.status_code == 200
        assert len(ids(page.text, OFFICE_BRANCH_ITEM)) == PAGE_SIZE
        assert 'class="pages"' not in page.text
    # A search that finds nothing says so on any page, with no pager.
    nothing = admin.client.get("/admin/branches", params={"q": "无此支部", "page": "4"})
    assert nothing.status_code == 200
    assert "No branch matches." in plain(nothing.text)
    assert "0 branches" in plain(nothing.text)
    assert 'class="pages"' not in nothing.text


# --- lists that used to refuse a page that is no number ---------------------------------
# The office's member, organisation and account lists, a branch's roster and the boards
# read ?page= as a whole number and answered 400 for anything else; like every other
# list they now read it as the first page.


def check_any_page_answers(browser: Browser, path: str, item: re.Pattern[str]) -> None:
    """``path`` lists two pages: anything that is not a page number shows the first, a
    number past the last the last; never an error."""
    first = browser.client.get(path)
    assert first.status_code == 200, first.text
    assert "Page 1 of 2" in plain(first.text)
    on_first = ids(first.text, item)
    second = browser.client.get(path, params={"page": "2"})
    on_second = ids(second.text, item)
    assert on_first and on_second and not set(on_first) & set(on_second)
    for asked, expected in [
        ("x", on_first),
        ("-3", on_first),
        ("0", on_first),
        ("1.5", on_first),
        ("", on_first),
        ("999", on_second),
        ("99999999999999999999", on_second),
    ]:
        answer = browser.client.get(path, params={"page": asked})
        assert answer.status_code == 200, (path, asked, answer.status_code)
        assert ids(answer.text, item) == expected, (path, asked)


def add_members(database: Database, town: SmallTown, count: int) -> list[int]:
    """``count`` full members of 金湾 (F000...), without accounts."""
    with database.transaction() as session:
        members = [
            Member(
                code=f"F{number:03d}",
                name=f"成员{number:03d}",
                branch_id=town.jinwan,
                status=MemberStatus.FULL,
                active=True,
            )
            for number in range(count)
        ]
        session.add_all(members)
        session.flush()
        return [member.id for member in members]


MEMBER_RECORD = re.compile(r'<li class="record(?: left)?" id="member-(\d+)">')
ORGANISATION_RECORD = re.compile(r'<li class="record" id="organisation-(\d+)">')
ACCOUNT_RECORD = re.compile(r'<li class="record(?: left)?" id="account-(\d+)">')


def test_the_offices_lists_and_a_roster_read_a_page_that_is_no_number_as_the_first(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    add_members(database, town, PAGE_SIZE)
    with database.transaction() as session:
        session.add_all(
            Organisation(
                branch_id=town.jinwan,
                name=f"测试企业{number:03d}",
                kind=OrganisationKind.ENTERPRISE,
                business_status="operating",
                employee_count=10,
                owner_name="某某",
            )
            for number in range(PAGE_SIZE)
        )
        session.add_all(
            Account(username=f"user{number:03d}", password_hash="-", display_name="某人")
            for number in range(PAGE_SIZE)
        )
    admin = signed_in(make_browser, "admin")
    check_any_page_answers(admin, "/admin/members", MEMBER_RECORD)
    check_any_page_answers(admin, "/admin/organisations", ORGANISATION_RECORD)
    check_any_page_answers(admin, "/admin/accounts", ACCOUNT_RECORD)
    secretary = signed_in(make_browser, "secretary")
    check_any_page_answers(secretary, f"/branches/{town.jinwan}/roster", MEMBER_RECORD)


BOARD_NAME = re.compile(r'<td>([^<]+)</td>\s*<td><a href="/boards/')


def test_the_boards_read_a_page_that_is_no_number_as_the_first(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    """Fifty-one members with points this month: the members board has two pages."""
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        for member_id in add_members(database, town, PAGE_SIZE + 1):
            # The entry is declared for the member, as the office may; then approved.
            declarer = replace(admin, member_id=member_id, member_branch_id=town.jinwan)
            entry_id = submit_entry(
                session,
                declarer,
                rulebook,
                EntryInput("study", today(), Decimal(1), "学习教育"),
                today=today(),
                now=utcnow(),
            )
            approve_entry(session, admin, rulebook, entry_id, now=utcnow())
    member = signed_in(make_browser, "member")
    month = period_of(today())
    check_any_page_answers(member, "/boards", BOARD_NAME)
    check_any_page_answers(member, f"/boards/{month}", BOARD_NAME)
    # One page of branches, none of exempt members: still the page, never a 400.
    for path in (f"/boards/{month}/branches", f"/boards/{month}/exempt"):
        plain_page = member.client.get(path)
        for asked in ("x", "-3"):
            answer = member.client.get(path, params={"page": asked})
            assert answer.status_code == 200, (path, asked, answer.status_code)
            assert rows_of(answer.text) == rows_of(plain_page.text)


def rows_of(page: str) -> list[str]:
    return [plain(row) for row in re.findall(r"<tr>(.*?)</tr>", page, re.DOTALL)]
