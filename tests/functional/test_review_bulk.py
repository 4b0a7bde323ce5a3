"""A queue of forty entries over real HTTP: filtered by rule and date, paged, and
approved in bulk after one confirmation, with a decision made by someone else in
between; who may approve what is checked per entry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.ledger.verify import verify_ledger
from service.persistence.db import Database
from service.persistence.models import Entry, EntryStatus, LedgerKind, LedgerLine
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import CSRF_FIELD, Browser, SmallTown
from tests.functional.test_review_pages import HOST, queue_ids, today

CHECKED = re.compile(
    r'<input type="checkbox" id="select-(\d+)" name="entry" value="\d+" form="bulk-form" checked>'
)
CONFIRMED = re.compile(r'<li class="entry" id="confirm-(\d+)">')
# Forty entries of 金湾: ten days, four items, two members.
RULES = ("volunteer", "study", "good_deed", "suggestion")
QUANTITY = {"volunteer": "2", "study": "1", "good_deed": "1", "suggestion": "1"}


@dataclass(frozen=True)
class Declared:
    entry_id: int
    username: str
    rule_id: str
    day: date


@dataclass
class Queue:
    database: Database
    town: SmallTown
    rulebook: Rulebook
    entries: list[Declared]

    def ids(
        self, *, rule: str | None = None, since: date | None = None, until: date | None = None
    ) -> list[int]:
        return [
            e.entry_id
            for e in self.entries
            if (rule is None or e.rule_id == rule)
            and (since is None or e.day >= since)
            and (until is None or e.day <= until)
        ]

    def submit(self, username: str, rule_id: str = "volunteer") -> int:
        principal = self.town.principal(self.database, username)
        with self.database.transaction() as session:
            return submit_entry(
                session,
                principal,
                self.rulebook,
                EntryInput(rule_id, today(), Decimal(QUANTITY[rule_id]), "巡河护河"),
                today=today(),
                now=utcnow(),
            )

    def approve_as(self, username: str, entry_id: int) -> None:
        principal = self.town.principal(self.database, username)
        with self.database.transaction() as session:
            approve_entry(session, principal, self.rulebook, entry_id, now=utcnow())

    def awards(self, entry_id: int) -> int:
        with self.database.transaction(write=False) as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(LedgerLine)
                    .where(LedgerLine.entry_id == entry_id, LedgerLine.kind == LedgerKind.AWARD)
                )
                or 0
            )

    def status(self, entry_id: int) -> EntryStatus:
        with self.database.transaction(write=False) as session:
            found = session.scalar(select(Entry.status).where(Entry.id == entry_id))
        assert found is not None
        return found

    def ledger_ok(self) -> bool:
        with self.database.transaction(write=False) as session:
            return verify_ledger(session, self.rulebook).ok


@pytest.fixture
def queue(database: Database, town: SmallTown, rulebook: Rulebook) -> Queue:
    start = today()
    declared: list[Declared] = []
    with database.transaction() as session:
        principals = {name: town.principal(database, name) for name in ("member", "member2")}
        for index in range(40):
            username = "member" if index % 2 == 0 else "member2"
            rule_id = RULES[index % 4]
            day = start - timedelta(days=index % 10)
            entry_id = submit_entry(
                session,
                principals[username],
                rulebook,
                EntryInput(rule_id, day, Decimal(QUANTITY[rule_id]), f"第{index + 1}条申报"),
                today=start,
                # Submitted one second apart: the queue's order is the list's.
                now=utcnow() - timedelta(minutes=60) + timedelta(seconds=index),
            )
            declared.append(Declared(entry_id, username, rule_id, day))
    return Queue(database, town, rulebook, declared)


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login(username)
    return browser


@pytest.fixture
def secretary(make_browser: Any, town: SmallTown) -> Iterator[Browser]:
    yield signed_in(make_browser, "secretary")


def token_of(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def query_of(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


# --- filters and pages ---------------------------------------------------------------------


def test_forty_entries_come_in_pages_of_25_or_50(queue: Queue, secretary: Browser) -> None:
    first = secretary.client.get("/review")
    assert first.status_code == 200
    assert "40 entries wait for your decision, oldest first." in first.text
    assert queue_ids(first.text) == queue.ids()[:25]
    assert "Entries 1–25 of 40." in first.text
    assert 'href="/review?page=2"' in first.text
    assert "Page 1 of 2" in first.text

    second = secretary.client.get("/review?page=2")
    assert queue_ids(second.text) == queue.ids()[25:]
    assert "Entries 26–40 of 40." in second.text
    assert 'href="/review?page=1"' not in second.text  # page 1 is the plain queue
    assert 'href="/review"' in second.text

    whole = secretary.client.get("/review?size=50")
    assert queue_ids(whole.text) == queue.ids()
    assert "Page 1 of" not in whole.text
    # A page past the end shows the last one; nonsense is the first.
    assert queue_ids(secretary.client.get("/review?page=9").text) == queue.ids()[25:]
    assert queue_ids(secretary.client.get("/review?page=x&size=7").text) == queue.ids()[:25]


def test_the_queue_filters_by_rule_and_date_and_keeps_the_filters_in_its_links(
    queue: Queue, secretary: Browser
) -> None:
    volunteer = secretary.client.get("/review?rule=volunteer")
    assert queue_ids(volunteer.text) == queue.ids(rule="volunteer")
    assert "Entries 1–10 of 10 matching the filters." in volunteer.text
    assert '<option value="volunteer" selected>' in volunteer.text
    # Every form on the page carries the filter back.
    assert volunteer.text.count('<input type="hidden" name="rule" value="volunteer">') == 1 + 2 * 10

    since, until = today() - timedelta(days=6), today() - timedelta(days=2)
    dated = secretary.client.get(f"/review?from={since.isoformat()}&to={until.isoformat()}&size=25")
    expected = queue.ids(since=since, until=until)
    assert len(expected) == 20
    assert queue_ids(dated.text) == expected
    assert f'value="{since.isoformat()}"' in dated.text

    both = secretary.client.get(
        f"/review?rule=study&from={since.isoformat()}&to={until.isoformat()}"
    )
    assert queue_ids(both.text) == queue.ids(rule="study", since=since, until=until)

    # Paging through a filter keeps it.
    studies = secretary.client.get(f"/review?from={since.isoformat()}&size=25")
    assert len(queue.ids(since=since)) == 28
    assert f'href="/review?from={since.isoformat()}&amp;page=2"' in studies.text
    page_two = secretary.client.get(f"/review?from={since.isoformat()}&page=2")
    assert queue_ids(page_two.text) == queue.ids(since=since)[25:]

    nothing = secretary.client.get("/review?rule=care")
    assert queue_ids(nothing.text) == []
    assert "No pending entry matches these filters." in nothing.text
    assert 'href="/review">Show the whole queue</a>' in nothing.text


def test_a_wrong_date_is_named_beside_its_field(queue: Queue, secretary: Browser) -> None:
    page = secretary.client.get("/review?from=yesterday")
    assert page.status_code == 200
    assert 'id="filter-from-error"' in page.text
    assert "Enter a date like 2026-03-12." in page.text
    assert queue_ids(page.text) == queue.ids()[:25]  # the date is not applied

    backwards = secretary.client.get(f"/review?from={today().isoformat()}&to=2020-01-01")
    assert "The end date is before the start date." in backwards.text
    assert 'id="filter-to" name="to" value="" aria-invalid="true"' in backwards.text


def test_a_single_decision_returns_to_the_same_filtered_page(
    queue: Queue, secretary: Browser
) -> None:
    entry_id = queue.ids(rule="study")[0]
    response = secretary.submit(
        "/review?rule=study", f"/review/{entry_id}/approve", {"rule": "study"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/review?rule=study&done=approved"
    rejected = queue.ids(rule="study")[1]
    response = secretary.submit(
        "/review?rule=study",
        f"/review/{rejected}/reject",
        {"rule": "study", "size": "50", "reason": "签到表上没有你的名字"},
    )
    assert response.headers["location"] == "/review?rule=study&size=50&done=rejected"
    # Unfiltered, the address is the one it always was.
    plain = secretary.submit("/review", f"/review/{queue.ids()[0]}/approve", {})
    assert plain.headers["location"] == "/review?done=approved"


# --- bulk approval --------------------------------------------------------------------------


def test_bulk_approve_with_a_concurrent_decision_in_between(
    queue: Queue, secretary: Browser
) -> None:
    """The whole way: filter, select the page, confirm, someone else decides one of the
    entries, approve; the notice counts and names, nothing is counted twice, and the
    ledger still checks out."""
    volunteer = queue.ids(rule="volunteer")
    selected_page = secretary.client.get("/review?rule=volunteer&select=page")
    checked = [int(found) for found in CHECKED.findall(selected_page.text)]
    assert checked == volunteer

    studies = queue.ids(rule="study")[:2]
    chosen = volunteer + studies
    confirm_url = "/review/bulk?" + "&".join(
        ["rule=volunteer", *(f"entry={entry_id}" for entry_id in chosen)]
    )
    confirmation = secretary.client.get(confirm_url)
    assert confirmation.status_code == 200
    assert "Approve 12 entries?" in confirmation.text
    assert [int(i) for i in CONFIRMED.findall(confirmation.text)] == sorted(
        chosen, key=queue.ids().index
    )
    # 2 hours × 3 points each; studies 2 points each.
    assert confirmation.text.count("+6.0 points") == 10
    assert confirmation.text.count("+2.0 points") == 2
    assert "Together: +64.0 points." in confirmation.text
    assert '<button type="submit" class="primary">Approve 12 entries</button>' in confirmation.text
    assert '<input type="hidden" name="rule" value="volunteer">' in confirmation.text
    assert nothing_approved(queue, chosen)

    # Meanwhile the instructor approves one of them from their own queue.
    taken = volunteer[3]
    queue.approve_as("instructor", taken)

    response = secretary.client.post(
        "/review/bulk",
        data={
            "_csrf_token": token_of(confirmation.text),
            "rule": "volunteer",
            "entry": [str(i) for i in chosen],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/review?")
    assert query_of(location) == {
        "rule": ["volunteer"],
        "done": ["bulk"],
        "approved": ["11"],
        "skipped": [str(taken)],
    }

    page = secretary.client.get(location)
    notice = re.search(r'<div class="notice bulk-result".*?</div>', page.text, re.DOTALL)
    assert notice, page.text
    assert "Approved 11 entries." in notice.group(0)
    assert "1 entry was already decided and was left as it was:" in notice.group(0)
    skipped = re.search(rf'<li id="skipped-{taken}">(.*?)</li>', notice.group(0), re.DOTALL)
    assert skipped and "now approved by 党建指导员" in skipped.group(1)
    member = next(e.username for e in queue.entries if e.entry_id == taken)
    assert queue.town.principal(queue.database, member).display_name in skipped.group(1)
    # The filter is kept and its entries are gone from it.
    assert queue_ids(page.text) == []
    assert "28 entries wait for your decision" in page.text

    for entry_id in chosen:
        assert queue.status(entry_id) is EntryStatus.APPROVED
        assert queue.awards(entry_id) == 1, (
            f"entry {entry_id} counted {queue.awards(entry_id)} times"
        )
    assert queue.ledger_ok()

    # Posting the same form again (a double click, the back button) changes nothing.
    again = secretary.client.post(
        "/review/bulk",
        data={
            "_csrf_token": token_of(confirmation.text),
            "rule": "volunteer",
            "entry": [str(i) for i in chosen],
        },
        follow_redirects=False,
    )
    assert query_of(again.headers["location"])["approved"] == ["0"]
    assert sorted(query_of(again.headers["location"])["skipped"][0].split(",")) == sorted(
        str(i) for i in chosen
    )
    assert all(queue.awards(entry_id) == 1 for entry_id in chosen)
    assert queue.ledger_ok()


def nothing_approved(queue: Queue, entry_ids: list[int]) -> bool:
    return all(queue.status(entry_id) is EntryStatus.PENDING for entry_id in entry_ids)


def test_the_confirmation_names_entries_decided_since_they_were_ticked(
    queue: Queue, secretary: Browser
) -> None:
    first, second = queue.ids()[:2]
    queue.approve_as("instructor", first)
    page = secretary.client.get(f"/review/bulk?entry={first}&entry={second}")
    assert page.status_code == 200
    assert "Approve 1 entry?" in page.text
    assert f'id="decided-{first}"' in page.text
    assert "1 selected entry was decided meanwhile and will be left as it is:" in page.text
    assert [int(i) for i in CONFIRMED.findall(page.text)] == [second]

    queue.approve_as("instructor", second)
    none_left = secretary.client.get(f"/review/bulk?entry={first}&entry={second}")
    assert "None of the selected entries is pending any more" in none_left.text
    assert '<form method="post" action="/review/bulk"' not in none_left.text


def test_duplicate_ids_are_approved_once(queue: Queue, secretary: Browser) -> None:
    entry_id = queue.ids()[0]
    response = secretary.submit(
        "/review", "/review/bulk", {"entry": [str(entry_id), str(entry_id), "x"]}
    )
    assert response.status_code == 303
    assert query_of(response.headers["location"])["approved"] == ["1"]
    assert queue.awards(entry_id) == 1


def test_selecting_nothing_says_so(queue: Queue, secretary: Browser) -> None:
    page = secretary.client.get("/review/bulk?rule=study")
    assert page.status_code == 422
    assert "Select at least one entry to approve." in page.text
    assert queue_ids(page.text) == queue.ids(rule="study")  # back on the filtered queue
    posted = secretary.submit("/review", "/review/bulk", {"rule": "study"})
    assert posted.status_code == 422
    assert "Select at least one entry to approve." in posted.text


def test_too_many_at_once_is_refused(queue: Queue, secretary: Browser) -> None:
    ids = [str(i) for i in range(1, 102)]
    response = secretary.submit("/review", "/review/bulk", {"entry": ids})
    assert response.status_code == 422
    assert "Approve at most 100 entries at once." in response.text
    assert nothing_approved(queue, queue.ids())


# --- who may approve what -----------------------------------------------------------------


def test_another_branchs_entry_refuses_the_whole_request(queue: Queue, secretary: Browser) -> None:
    """Decided: 403 for everything, nothing approved. The queue never offers another
    branch's entry, so its id in the form was put there by hand; naming it in a notice
    would tell the secretary about another branch's member."""
    mine = queue.ids()[:3]
    foreign = queue.submit("member3")
    ids = [str(i) for i in [*mine, foreign]]
    confirmation = secretary.client.get("/review/bulk?" + "&".join(f"entry={i}" for i in ids))
    assert confirmation.status_code == 403
    assert "刘洋" not in confirmation.text

    response = secretary.submit("/review", "/review/bulk", {"entry": ids})
    assert response.status_code == 403
    assert "刘洋" not in response.text
    assert nothing_approved(queue, [*mine, foreign])
    assert all(queue.awards(entry_id) == 0 for entry_id in [*mine, foreign])

    # Their own entry goes to the instructor: refused the same way.
    own = queue.submit("secretary")
    assert (
        secretary.submit("/review", "/review/bulk", {"entry": [str(mine[0]), str(own)]}).status_code
        == 403
    )
    assert queue.status(own) is EntryStatus.PENDING
    # No such entry: 404, nothing approved.
    missing = secretary.submit("/review", "/review/bulk", {"entry": [str(mine[0]), "999999"]})
    assert missing.status_code == 404
    assert nothing_approved(queue, mine)
    assert queue.ledger_ok()


def test_a_member_cannot_approve_in_bulk(queue: Queue, make_browser: Any) -> None:
    member = signed_in(make_browser, "member2")
    response = member.submit("/entries", "/review/bulk", {"entry": [str(queue.ids()[0])]})
    assert response.status_code == 403
    assert member.client.get(f"/review/bulk?entry={queue.ids()[0]}").status_code == 403
    assert nothing_approved(queue, queue.ids())


def test_the_notice_names_only_entries_the_reviewer_may_see(
    queue: Queue, make_browser: Any
) -> None:
    """The notice's ids come from the address, which anyone can edit."""
    foreign = queue.submit("member3")
    queue.approve_as("secretary2", foreign)
    secretary = signed_in(make_browser, "secretary")
    mine = queue.ids()[0]
    queue.approve_as("instructor", mine)
    page = secretary.client.get(f"/review?done=bulk&approved=3&skipped={foreign},{mine},oops")
    assert page.status_code == 200
    assert f'id="skipped-{mine}"' in page.text
    assert f'id="skipped-{foreign}"' not in page.text
    assert "刘洋" not in page.text


def test_an_instructor_filters_by_branch(
    queue: Queue, database: Database, town: SmallTown, make_browser: Any
) -> None:
    from service.persistence.models import Role, RoleGrant

    with database.transaction() as session:
        session.add(
            RoleGrant(
                account_id=town.account_ids["instructor"],
                role=Role.INSTRUCTOR,
                branch_id=town.baoyuan,
            )
        )
    foreign = queue.submit("member3")
    instructor = signed_in(make_browser, "instructor")
    everything = instructor.client.get("/review?size=50")
    assert foreign in queue_ids(everything.text)
    assert '<select id="filter-branch" name="branch">' in everything.text
    baoyuan = instructor.client.get(f"/review?branch={town.baoyuan}")
    assert queue_ids(baoyuan.text) == [foreign]
    response = instructor.submit(
        f"/review?branch={town.baoyuan}",
        "/review/bulk",
        {"branch": str(town.baoyuan), "entry": [str(foreign), str(queue.ids()[0])]},
    )
    assert response.status_code == 303
    assert query_of(response.headers["location"])["approved"] == ["2"]
    assert queue.ledger_ok()


# --- empty states ---------------------------------------------------------------------------


def test_an_empty_queue_says_what_to_do_next(town: SmallTown, make_browser: Any) -> None:
    secretary = signed_in(make_browser, "secretary")
    page = secretary.client.get("/review")
    assert page.status_code == 200
    assert "Nothing to review. New entries from your branch appear here." in page.text
    assert 'href="/branches"' in page.text and 'href="/boards"' in page.text
    assert 'id="bulk-form"' not in page.text
    assert 'class="queue-filters"' not in page.text
