"""A member's points explained, through the HTML pages: /me/points,
/members/{id}/points with its revoke forms, and the links to it from the boards."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from service.entries.adjustments import AdjustmentInput, record_adjustment
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.periods import period_of, town_today
from service.persistence.db import Database
from service.persistence.models import Entry, EntryStatus, LedgerKind, LedgerLine
from service.persistence.types import utcnow
from service.scoring.engine import MANUAL_RULE_ID
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown

HOST = "testserver.local"


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


class Activity:
    def __init__(self, database: Database, town: SmallTown, rulebook: Rulebook) -> None:
        self.database = database
        self.town = town
        self.rulebook = rulebook

    def approved(self, username: str, rule_id: str, quantity: str = "1") -> int:
        reviewer = "instructor" if username == "secretary" else "secretary"
        if username == "member3":
            reviewer = "secretary2"
        with self.database.transaction() as session:
            entry_id = submit_entry(
                session,
                self.town.principal(self.database, username),
                self.rulebook,
                EntryInput(rule_id, today(), Decimal(quantity), f"{username} 的 {rule_id}"),
                today=today(),
                now=utcnow(),
            )
            approve_entry(
                session,
                self.town.principal(self.database, reviewer),
                self.rulebook,
                entry_id,
                now=utcnow(),
            )
        return entry_id

    def deduct(self, username: str, rule_id: str, reason: str, **fields: Any) -> None:
        secretary = "secretary2" if username == "member3" else "secretary"
        with self.database.transaction() as session:
            record_adjustment(
                session,
                self.town.principal(self.database, secretary),
                self.rulebook,
                AdjustmentInput(
                    member_id=self.town.member_ids[username],
                    rule_id=rule_id,
                    day=today(),
                    reason=reason,
                    **fields,
                ),
                today=today(),
                now=utcnow(),
            )

    def ledger_lines(self) -> int:
        with self.database.transaction(write=False) as session:
            return session.scalar(select(func.count()).select_from(LedgerLine)) or 0

    def status(self, entry_id: int) -> EntryStatus:
        with self.database.transaction(write=False) as session:
            entry = session.get(Entry, entry_id)
            assert entry is not None
            return entry.status


@pytest.fixture
def activity(database: Database, town: SmallTown, rulebook: Rulebook) -> Activity:
    return Activity(database, town, rulebook)


def signed_in(make_browser: Any, username: str) -> Browser:
    other: Browser = make_browser()
    other.client.cookies.set("jifen_lang", "en", domain=HOST)
    other.login(username)
    return other


def numbers(pattern: str, html: str) -> list[Decimal]:
    return [Decimal(found) for found in re.findall(pattern, html)]


def line_html(html: str, source: str, source_id: int) -> str:
    match = re.search(
        rf'<li class="line kind-\w+" id="line-{source}-{source_id}">(.*?)</li>', html, re.DOTALL
    )
    assert match, f"no line {source}:{source_id}"
    return match.group(1)


def test_my_points_lines_sum_to_the_total_shown(activity: Activity, make_browser: Any) -> None:
    for _ in range(6):
        activity.approved("member", "good_deed")  # 12 raw, the month counts 10
    activity.approved("member", "volunteer", "2")
    activity.deduct("member", "missed_study", "缺席十一月学习")
    member = signed_in(make_browser, "member")

    page = member.client.get("/me/points")
    assert page.status_code == 200
    html = page.text
    counted = numbers(r"counts (-?\d+\.\d)", html)
    assert len(counted) == 8
    base = numbers(r'<td class="num" id="base">(-?\d+\.\d)</td>', html)[0]
    [total] = numbers(r'<strong id="total">(-?\d+\.\d)</strong>', html)
    assert base == Decimal("60.0")
    assert base + sum(counted) == total == Decimal("73.0")  # 60 + 10 + 6 - 3
    month = numbers(r'class="num month-sum" data-period="[^"]+">(-?\d+\.\d)', html)
    assert month == [sum(counted)]
    assert "2.0 over the monthly limit of 10.0" in html
    assert "Reason: 缺席十一月学习" in html
    assert "Missed a study session without reason" in html
    assert "2 of 5 stars" in html
    assert "7.0 points to the next star (80.0)." in html
    assert 'class="revoke"' not in html  # a member does not revoke their own approvals

    # The month total is what the board shows for the member.
    board = member.client.get(f"/boards/{period_of(today())}").text
    row = re.search(r"<td>张伟</td>\s*<td>.*?</td>\s*<td class=\"num\">([\d.-]+)</td>", board, re.S)
    assert row and Decimal(row.group(1)) == month[0]


def test_the_points_page_speaks_chinese_by_default(activity: Activity, browser: Browser) -> None:
    activity.approved("member", "good_deed")
    browser.login("member")
    html = browser.client.get("/me/points").text
    assert "做好事实事" in html


def test_a_low_score_is_flagged_privately(activity: Activity, make_browser: Any) -> None:
    activity.deduct("member", "shirking", "推诿")
    member = signed_in(make_browser, "member")
    html = member.client.get("/me/points").text
    assert 'id="flagged"' in html
    assert "Below 60.0, the first star." in html
    # The public board shows points, never the flag or the reason.
    board = member.client.get(f"/boards/{period_of(today())}").text
    assert "推诿" not in board
    assert "first star" not in board


def test_the_year_can_be_chosen_and_a_strange_year_is_not_a_page(
    town: SmallTown, make_browser: Any
) -> None:
    member = signed_in(make_browser, "member")
    last_year = today().year - 1
    page = member.client.get(f"/me/points?year={last_year}")
    assert page.status_code == 200
    assert f"My points {last_year}" in page.text
    assert f'href="/me/points?year={today().year}"' in page.text
    assert member.client.get("/me/points?year=1999").status_code == 404
    assert member.client.get(f"/me/points?year={today().year + 1}").status_code == 404
    assert member.client.get("/me/points?year=abc").status_code == 400


def test_an_account_without_member_record_has_no_own_points(
    town: SmallTown, make_browser: Any
) -> None:
    admin = signed_in(make_browser, "admin")
    assert admin.client.get("/me/points").status_code == 403


def test_who_sees_a_members_points_page(
    activity: Activity, town: SmallTown, make_browser: Any
) -> None:
    activity.approved("member", "good_deed")
    activity.deduct("member", "missed_meeting", "缺席支委会")
    path = f"/members/{town.member_ids['member']}/points"
    for username in ("secretary", "instructor", "admin", "member"):
        page = signed_in(make_browser, username).client.get(path)
        assert page.status_code == 200, username
        assert "Points of 张伟" in page.text
        assert "Reason: 缺席支委会" in page.text
    for username in ("secretary2", "member2", "member3"):
        page = signed_in(make_browser, username).client.get(path)
        assert page.status_code == 403, username
        assert "缺席支委会" not in page.text
    admin = signed_in(make_browser, "admin")
    assert admin.client.get("/members/999999/points").status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(town: SmallTown, browser: Browser) -> None:
    response = browser.client.get(
        f"/members/{town.member_ids['member']}/points", follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_reviewers_see_revoke_forms_on_entry_lines_only(
    activity: Activity, town: SmallTown, make_browser: Any
) -> None:
    entry_id = activity.approved("member", "good_deed")
    activity.deduct("member", MANUAL_RULE_ID, "补录", points=Decimal("1.5"))
    path = f"/members/{town.member_ids['member']}/points"
    action = f'action="{path}/entries/{entry_id}/revoke"'

    secretary = signed_in(make_browser, "secretary")
    html = secretary.client.get(path).text
    assert action in line_html(html, "entry", entry_id)
    assert html.count('class="revoke"') == 1  # not on the adjustment
    assert 'href="/branches/' in html and "Record a deduction or adjustment" in html

    instructor = signed_in(make_browser, "instructor").client.get(path).text
    assert action in instructor
    assert "Record a deduction or adjustment" not in instructor  # instructors do not record

    member = signed_in(make_browser, "member").client.get(path).text
    assert action not in member

    own = activity.approved("secretary", "good_deed")
    own_page = secretary.client.get(f"/members/{town.member_ids['secretary']}/points").text
    assert f"/entries/{own}/revoke" not in own_page


def test_revoking_needs_a_reason_then_takes_the_points_back(
    activity: Activity, town: SmallTown, make_browser: Any
) -> None:
    kept = activity.approved("member", "good_deed")
    entry_id = activity.approved("member", "volunteer", "2")
    path = f"/members/{town.member_ids['member']}/points"
    action = f"{path}/entries/{entry_id}/revoke"
    secretary = signed_in(make_browser, "secretary")
    lines_before = activity.ledger_lines()

    refused = secretary.submit(path, action, {"reason": "  ", "year": str(today().year)})
    assert refused.status_code == 422
    line = line_html(refused.text, "entry", entry_id)
    assert "Say why the approval is revoked." in line
    assert 'aria-invalid="true"' in line
    assert f"reason-{kept}-error" not in refused.text
    assert activity.status(entry_id) is EntryStatus.APPROVED
    assert activity.ledger_lines() == lines_before

    done = secretary.submit(path, action, {"reason": "活动未开展", "year": str(today().year)})
    assert done.status_code == 303
    assert done.headers["location"] == f"{path}?year={today().year}&done=revoked"
    page = secretary.client.get(done.headers["location"]).text
    assert "The approval was revoked" in page
    assert f'id="line-entry-{entry_id}"' not in page
    assert f'id="revoked-{entry_id}"' in page and "活动未开展" in page
    [total] = numbers(r'<strong id="total">(-?\d+\.\d)</strong>', page)
    assert total == Decimal("62.0")
    assert activity.status(entry_id) is EntryStatus.REVOKED
    with activity.database.transaction(write=False) as session:
        last = session.scalars(select(LedgerLine).order_by(LedgerLine.id.desc())).first()
    assert last is not None and last.kind is LedgerKind.REVERSAL and last.entry_id == entry_id

    again = secretary.submit(path, action, {"reason": "再撤一次"})
    assert again.status_code == 409
    assert "Only an approved entry can be revoked." in again.text


def test_another_branchs_secretary_cannot_revoke(
    activity: Activity, town: SmallTown, make_browser: Any
) -> None:
    entry_id = activity.approved("member", "good_deed")
    path = f"/members/{town.member_ids['member']}/points"
    other = signed_in(make_browser, "secretary2")
    response = other.submit("/boards", f"{path}/entries/{entry_id}/revoke", {"reason": "不对"})
    assert response.status_code == 403
    assert activity.status(entry_id) is EntryStatus.APPROVED


def test_revoking_without_the_csrf_token_is_refused(
    activity: Activity, town: SmallTown, make_browser: Any
) -> None:
    entry_id = activity.approved("member", "good_deed")
    path = f"/members/{town.member_ids['member']}/points"
    secretary = signed_in(make_browser, "secretary")
    response = secretary.client.post(
        f"{path}/entries/{entry_id}/revoke", data={"reason": "无令牌"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert activity.status(entry_id) is EntryStatus.APPROVED


def _linked_names(html: str) -> set[str]:
    return set(re.findall(r'<a href="/members/\d+/points\?year=\d{4}">([^<]+)</a>', html))


def test_board_lines_link_to_points_only_for_those_who_may_see_them(
    activity: Activity, make_browser: Any, town: SmallTown
) -> None:
    activity.approved("member", "good_deed")
    activity.approved("member3", "good_deed")
    period = period_of(today())
    town_board = f"/boards/{period}"
    jinwan_board = f"/boards/{period}/branches/{town.jinwan}"
    expected = {
        "secretary": {"张伟"},
        "instructor": {"张伟"},
        "admin": {"张伟", "刘洋"},
        "secretary2": {"刘洋"},
        "member": set(),
        "member3": set(),
    }
    for username, names in expected.items():
        viewer = signed_in(make_browser, username)
        board = viewer.client.get(town_board).text
        assert "张伟" in board and "刘洋" in board
        assert _linked_names(board) == names, username
        branch = viewer.client.get(jinwan_board).text
        linked = _linked_names(branch)
        if username in {"secretary", "instructor", "admin"}:
            # Members without points this month are reachable from the branch board too.
            assert linked == {"张伟", "李娜", "王书记", "赵老"}, username
        else:
            assert linked == set(), username
    secretary = signed_in(make_browser, "secretary")
    href = re.search(
        r'<a href="(/members/\d+/points\?year=\d{4})">张伟</a>',
        secretary.client.get(town_board).text,
    )
    assert href and secretary.client.get(href.group(1)).status_code == 200
