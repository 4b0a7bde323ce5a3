"""The front page over real HTTP: a member's month, year, ranks, stars and next step; a
reviewer's block per branch; the office's months. Numbers are checked against the pages
that compute them (/me/points, the boards), never recomputed here."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry, reject_entry
from service.kernel.periods import period_of, shift_period
from service.persistence.db import Database
from service.persistence.models import Account, Role, RoleGrant
from service.persistence.types import utcnow
from service.publication.publish import publish_month
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown, password_hash
from tests.functional.test_review_pages import HOST, today


class Town:
    """The small town with a way to declare and decide entries through the services."""

    def __init__(self, database: Database, town: SmallTown, rulebook: Rulebook) -> None:
        self.database = database
        self.town = town
        self.rulebook = rulebook

    def submit(
        self, username: str, rule_id: str = "volunteer", quantity: str = "2", *, days_ago: int = 0
    ) -> int:
        principal = self.town.principal(self.database, username)
        day = today() - timedelta(days=days_ago)
        with self.database.transaction() as session:
            return submit_entry(
                session,
                principal,
                self.rulebook,
                EntryInput(rule_id, day, Decimal(quantity), "巡河护河"),
                # Declared on the day: 40 days ago may be before last month.
                today=day,
                now=utcnow(),
            )

    def approve(self, reviewer: str, entry_id: int) -> None:
        principal = self.town.principal(self.database, reviewer)
        with self.database.transaction() as session:
            approve_entry(session, principal, self.rulebook, entry_id, now=utcnow())

    def reject(self, reviewer: str, entry_id: int, reason: str) -> None:
        principal = self.town.principal(self.database, reviewer)
        with self.database.transaction() as session:
            reject_entry(session, principal, entry_id, reason, now=utcnow())


@pytest.fixture
def people(database: Database, town: SmallTown, rulebook: Rulebook) -> Town:
    return Town(database, town, rulebook)


def signed_in(make_browser: Any, username: str, lang: str = "en") -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", lang, domain=HOST)
    browser.login(username)
    return browser


def section(html: str, section_id: str) -> str:
    match = re.search(rf'<section [^>]*id="{section_id}"[^>]*>(.*?)</section>', html, re.DOTALL)
    assert match, f"no section {section_id}"
    return match.group(1)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


# --- who gets what ----------------------------------------------------------------------------


def test_a_visitor_is_sent_to_sign_in(town: SmallTown, make_browser: Any) -> None:
    visitor: Browser = make_browser()
    response = visitor.client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_signing_in_lands_on_the_home_page(town: SmallTown, make_browser: Any) -> None:
    member = signed_in(make_browser, "member")
    page = member.client.get("/")
    assert page.status_code == 200
    assert 'id="home-member"' in page.text
    assert 'class="home-block home-branch"' not in page.text
    assert 'id="home-office"' not in page.text


def test_an_account_with_no_member_record_and_no_role_has_the_boards(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    with database.transaction() as session:
        session.add(Account(username="guest", password_hash=password_hash(), display_name="来宾"))
    guest = signed_in(make_browser, "guest")
    response = guest.client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/boards"


# --- the member -----------------------------------------------------------------------------


def test_the_member_sees_month_year_ranks_and_stars_as_the_other_pages_do(
    people: Town, make_browser: Any
) -> None:
    people.approve("secretary", people.submit("member", "volunteer", "2"))  # 6.0
    people.approve("secretary", people.submit("member2", "volunteer", "3"))  # 9.0
    people.approve("secretary2", people.submit("member3", "good_deed", "1"))  # 2.0
    member = signed_in(make_browser, "member")
    page = member.client.get("/")
    block = section(page.text, "home-member")

    assert re.search(r'<strong id="month-points">6\.0</strong>', block)
    # This year's points and the yearly score are /me/points's.
    points_page = member.client.get("/me/points").text
    total = re.search(r'<strong id="total">([\d.]+)</strong>', points_page)
    assert total
    assert f"<strong>{total.group(1)}</strong>" in block
    assert re.search(r'<strong id="year-points">6\.0</strong>', block)
    # Ranks: second of three in town, second of two in the branch, as the boards say.
    assert '<dd id="town-rank"><strong>2 of 3</strong></dd>' in block
    assert '<dd id="branch-rank"><strong>2 of 2</strong></dd>' in block
    me = member.client.get("/api/me").json()
    assert me["month"]["rank"] == 2 and me["month"]["points"] == "6.0"
    # Stars from the ruleset's thresholds (60 / 70 / 80 / 90 / 96): 66.0 is one star.
    assert "1 of 5 stars" in block
    assert "4.0 points to the next star (70.0)." in block
    assert '<progress id="star-progress" max="70" value="66.0">' in block
    # Recent entries with their status, and the big button to declare.
    assert 'class="entry status-approved"' in block
    assert 'class="button primary cta" href="/entries/new"' in block


def test_the_next_step_follows_what_the_member_has_done(people: Town, make_browser: Any) -> None:
    member = signed_in(make_browser, "member")
    nothing = section(member.client.get("/").text, "home-member")
    assert "Nothing declared this month yet." in nothing
    assert '<a href="/entries/new">Declare your service</a>' in nothing
    assert "You have no entries yet." in nothing
    assert "not ranked yet: no points this month" in nothing

    people.submit("member", "study", "1")
    people.submit("member", "care", "1")
    waiting = text_of(section(member.client.get("/").text, "home-member"))
    assert "2 entries are waiting for review by your secretary." in waiting
    assert "Nothing declared this month yet." not in waiting

    rejected = people.submit("member", "good_deed", "1")
    people.reject("secretary", rejected, "照片里看不出是你")
    block = text_of(section(member.client.get("/").text, "home-member"))
    assert "was rejected. Reason: 照片里看不出是你" in block
    assert "Declare it again with what was missing" in block
    assert "rejected" in block  # the status of the recent entry, in words


def test_up_to_date_when_everything_is_decided(people: Town, make_browser: Any) -> None:
    people.approve("secretary", people.submit("member"))
    member = signed_in(make_browser, "member")
    block = text_of(section(member.client.get("/").text, "home-member"))
    assert "You are up to date." in block
    assert "waiting for review" not in block


def test_the_home_page_is_chinese_by_default(people: Town, make_browser: Any) -> None:
    member: Browser = make_browser()
    member.login("member")
    page = member.client.get("/")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "张伟" in page.text


# --- reviewers ------------------------------------------------------------------------------


def test_a_secretary_who_is_a_member_sees_both_blocks(
    people: Town, town: SmallTown, make_browser: Any
) -> None:
    people.approve("secretary", people.submit("member", "volunteer", "2"))  # 6.0
    people.submit("member2", "study", "1")
    people.submit("member2", "care", "1")
    people.submit("secretary", "study", "1")  # their own: not in their queue
    secretary = signed_in(make_browser, "secretary")
    page = secretary.client.get("/")
    assert 'id="home-member"' in page.text
    block = section(page.text, f"branch-{town.jinwan}")
    queue_link = f'<a class="button primary" href="/review?branch={town.jinwan}">'
    assert f"{queue_link}2 entries wait for your review</a>" in block
    # The branch's month as the branches board has it: 6.0 points over 3 members
    # (赵老 is exempt, listed apart); 张伟 took part.
    assert '<strong class="branch-total">6.0</strong>' in block
    assert '<strong class="branch-per-member">2.00</strong>' in block
    assert '<strong class="branch-participation">33.3%</strong>' in block
    assert "1 of 3 members" in block
    board = secretary.client.get(f"/api/boards/{period_of(today())}/branches").json()
    jinwan = next(b for b in board["branches"] if b["branch_id"] == town.jinwan)
    assert f'<strong class="branch-rank">{jinwan["rank_per_member"]} of 2</strong>' in block
    # Members with no entry this month: 李娜 and 王书记 declared, 张伟 too; nobody of
    # another branch, and the exempt 赵老 is not asked.
    idle = re.findall(r'<a href="/branches/(\d+)/roster/(\d+)">([^<]+)</a>', block)
    assert idle == []
    assert "Every member has declared something this month." in block


def test_members_with_no_entry_link_to_their_roster_page(
    people: Town, town: SmallTown, make_browser: Any
) -> None:
    people.submit("member", "study", "1")
    withdrawn_only = people.submit("member2", "study", "1")
    member2 = signed_in(make_browser, "member2")
    assert member2.submit("/entries", f"/entries/{withdrawn_only}/withdraw", {}).status_code == 303
    people.submit("member2", "study", "1", days_ago=40)  # another month
    secretary = signed_in(make_browser, "secretary")
    block = section(secretary.client.get("/").text, f"branch-{town.jinwan}")
    idle = re.findall(r'<a href="/branches/(\d+)/roster/(\d+)">([^<]+)</a>', block)
    assert idle == [
        (str(town.jinwan), str(town.member_ids["member2"]), "李娜"),
        (str(town.jinwan), str(town.member_ids["secretary"]), "王书记"),
    ]
    assert "2 members have no entry this month" in block
    for _branch, member_id, _name in idle:
        assert (
            secretary.client.get(f"/branches/{town.jinwan}/roster/{member_id}").status_code == 200
        )


def test_an_instructor_of_two_branches_has_a_block_for_each(
    people: Town, database: Database, town: SmallTown, make_browser: Any
) -> None:
    with database.transaction() as session:
        session.add(
            RoleGrant(
                account_id=town.account_ids["instructor"],
                role=Role.INSTRUCTOR,
                branch_id=town.baoyuan,
            )
        )
    people.submit("member3", "study", "1")
    people.submit("secretary", "study", "1")  # a secretary's own entry: the instructor's
    instructor = signed_in(make_browser, "instructor")
    page = instructor.client.get("/")
    assert 'id="home-member"' not in page.text
    jinwan = section(page.text, f"branch-{town.jinwan}")
    baoyuan = section(page.text, f"branch-{town.baoyuan}")
    assert page.text.index(f'id="branch-{town.jinwan}"') < page.text.index(
        f'id="branch-{town.baoyuan}"'
    )
    assert "1 entry waits for your review" in jinwan
    assert "1 entry waits for your review" in baoyuan
    assert "金湾工业园区联合党支部" in jinwan and "宝元鞋厂党支部" in baoyuan


def test_nothing_to_review_points_to_the_branch_board(town: SmallTown, make_browser: Any) -> None:
    secretary = signed_in(make_browser, "secretary2")
    block = section(secretary.client.get("/").text, f"branch-{town.baoyuan}")
    assert "Nothing waits for your review in this branch." in block
    assert f'href="/boards/{period_of(today())}/branches/{town.baoyuan}"' in block


# --- the office -------------------------------------------------------------------------------


def test_the_office_sees_its_months_and_the_pending_entries(
    people: Town, database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    """Decided: the office gets a short home of its own rather than the redirect to the
    queue it had. Its daily question is whether last month can be published and what
    holds it up; /admin stays one link away."""
    last_month = shift_period(period_of(today()), -1)
    with database.transaction() as session:
        # Nothing counts in last month here: published as the office confirms it.
        publish_month(
            session,
            town.principal(database, "admin"),
            rulebook,
            last_month,
            now=utcnow(),
            confirm_empty=True,
        )
    people.submit("member", "study", "1")
    people.submit("member3", "study", "1")
    admin = signed_in(make_browser, "admin")
    page = admin.client.get("/")
    assert page.status_code == 200
    block = section(page.text, "home-office")
    assert "2 entries are pending town-wide. Branches holding entries: 2." in block
    row = re.search(rf'<tr id="office-month-{last_month}">(.*?)</tr>', block, re.DOTALL)
    assert row and "published, on notice" in row.group(1)
    this_month = re.search(
        rf'<tr id="office-month-{period_of(today())}">(.*?)</tr>', block, re.DOTALL
    )
    assert this_month and '<td class="num">2</td>' in this_month.group(1)
    assert 'href="/admin"' in block and 'href="/admin/publication"' in block
    # The office reviews everything, but gets no block for each of the town's branches.
    assert 'class="home-block home-branch"' not in page.text


def test_grants_are_read_per_request(
    people: Town, database: Database, town: SmallTown, make_browser: Any
) -> None:
    """A role given while signed in shows on the next page (sessions load grants)."""
    member = signed_in(make_browser, "member2")
    assert 'class="home-block home-branch"' not in member.client.get("/").text
    with database.transaction() as session:
        account = session.scalar(select(Account).where(Account.username == "member2"))
        assert account is not None
        session.add(RoleGrant(account_id=account.id, role=Role.SECRETARY, branch_id=town.jinwan))
    assert f'id="branch-{town.jinwan}"' in member.client.get("/").text
