"""The branch pages through HTML forms: the reviewer's branches, suggestions and their
steps, and recording a deduction or adjustment."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.periods import town_today
from service.persistence.db import Database
from service.persistence.models import Adjustment, Entry, LedgerLine
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown

HOST = "testserver.local"


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


class Suggestions:
    def __init__(self, database: Database, town: SmallTown, rulebook: Rulebook) -> None:
        self.database = database
        self.town = town
        self.rulebook = rulebook

    def submit(self, username: str, description: str, *, approve_by: str | None = None) -> int:
        with self.database.transaction() as session:
            entry_id = submit_entry(
                session,
                self.town.principal(self.database, username),
                self.rulebook,
                EntryInput("suggestion", today(), Decimal(1), description),
                today=today(),
                now=utcnow(),
            )
            if approve_by:
                approve_entry(
                    session,
                    self.town.principal(self.database, approve_by),
                    self.rulebook,
                    entry_id,
                    now=utcnow(),
                )
        return entry_id

    def entry(self, entry_id: int) -> Entry:
        with self.database.transaction(write=False) as session:
            entry = session.get(Entry, entry_id)
            assert entry is not None
            return entry

    def count(self, model: type[Any]) -> int:
        with self.database.transaction(write=False) as session:
            return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def suggestions(database: Database, town: SmallTown, rulebook: Rulebook) -> Suggestions:
    return Suggestions(database, town, rulebook)


def signed_in(make_browser: Any, username: str) -> Browser:
    other: Browser = make_browser()
    other.client.cookies.set("jifen_lang", "en", domain=HOST)
    other.login(username)
    return other


def item(html: str, entry_id: int) -> str:
    match = re.search(
        rf'<li class="entry suggestion[^"]*" id="suggestion-{entry_id}">(.*?)</li>'
        r'\s*(?:<li class="entry|</ol>)',
        html,
        re.DOTALL,
    )
    assert match, f"suggestion {entry_id} is not on the page"
    return match.group(1)


def test_the_branches_a_reviewer_sees(town: SmallTown, make_browser: Any) -> None:
    jinwan = f'<a href="/branches/{town.jinwan}">金湾工业园区联合党支部</a>'
    baoyuan = f'<a href="/branches/{town.baoyuan}">宝元鞋厂党支部</a>'
    secretary = signed_in(make_browser, "secretary").client.get("/branches").text
    assert jinwan in secretary and baoyuan not in secretary
    instructor = signed_in(make_browser, "instructor").client.get("/branches").text
    assert jinwan in instructor and baoyuan not in instructor
    admin = signed_in(make_browser, "admin").client.get("/branches").text
    assert jinwan in admin and baoyuan in admin
    member = signed_in(make_browser, "member").client.get("/branches")
    assert member.status_code == 403


def test_the_branch_page_lists_suggestions_and_their_state(
    suggestions: Suggestions, town: SmallTown, make_browser: Any
) -> None:
    approved = suggestions.submit("member", "在268省道西山桥路口装路灯", approve_by="secretary")
    pending = suggestions.submit("member2", "在105国道园区入口设指示牌")
    suggestions.submit("member3", "宝元鞋厂的建议", approve_by="secretary2")
    secretary = signed_in(make_browser, "secretary")
    page = secretary.client.get(f"/branches/{town.jinwan}")
    assert page.status_code == 200
    html = page.text
    assert "在268省道西山桥路口装路灯" in html and "在105国道园区入口设指示牌" in html
    assert "宝元鞋厂的建议" not in html
    first = item(html, approved)
    assert "approved" in first and "1.0 points" in first
    assert f'action="/branches/{town.jinwan}/suggestions/{approved}/adopted"' in first
    assert f'value="{today().isoformat()}"' in first  # the date defaults to today
    second = item(html, pending)
    assert "pending" in second and "<form" not in second  # review it first
    assert f'href="/branches/{town.jinwan}/adjustments/new"' in html
    assert f'<a href="/members/{town.member_ids["member"]}/points">张伟</a>' in html

    assert (
        signed_in(make_browser, "secretary2").client.get(f"/branches/{town.jinwan}").status_code
        == 403
    )
    assert signed_in(make_browser, "admin").client.get("/branches/999999").status_code == 404
    instructor = signed_in(make_browser, "instructor").client.get(f"/branches/{town.jinwan}").text
    assert "在268省道西山桥路口装路灯" in instructor
    assert "/adjustments/new" not in instructor  # instructors oversee, they do not record


def test_marking_adopted_then_implemented_adds_points(
    suggestions: Suggestions, town: SmallTown, make_browser: Any
) -> None:
    entry_id = suggestions.submit("member", "为职工子女联系入学", approve_by="secretary")
    secretary = signed_in(make_browser, "secretary")
    branch = f"/branches/{town.jinwan}"
    day = today().isoformat()

    adopted = secretary.submit(branch, f"{branch}/suggestions/{entry_id}/adopted", {"day": day})
    assert adopted.status_code == 303
    assert adopted.headers["location"] == f"{branch}?done=adopted"
    html = secretary.client.get(adopted.headers["location"]).text
    assert "The suggestion is marked adopted" in html
    current = item(html, entry_id)
    assert "Adopted" in current and "3.0 points" in current
    assert f"/suggestions/{entry_id}/implemented" in current

    done = secretary.submit(branch, f"{branch}/suggestions/{entry_id}/implemented", {"day": day})
    assert done.status_code == 303
    current = item(secretary.client.get(branch).text, entry_id)
    assert "Implemented" in current and "2.0 points" in current
    assert "<form" not in current

    points = secretary.client.get(f"/members/{town.member_ids['member']}/points").text
    assert "Suggestion adopted" in points and "Suggestion implemented" in points
    assert re.search(r'<strong id="total">66\.0</strong>', points)  # 60 + 1 + 3 + 2

    twice = secretary.submit(branch, f"{branch}/suggestions/{entry_id}/implemented", {"day": day})
    assert twice.status_code == 409
    assert "already marked implemented" in twice.text


def test_a_bad_step_date_is_shown_at_the_field_and_kept(
    suggestions: Suggestions, town: SmallTown, make_browser: Any
) -> None:
    entry_id = suggestions.submit("member", "增设心理咨询室", approve_by="secretary")
    secretary = signed_in(make_browser, "secretary")
    branch = f"/branches/{town.jinwan}"
    action = f"{branch}/suggestions/{entry_id}/adopted"
    tomorrow = (today() + timedelta(days=1)).isoformat()

    future = secretary.submit(branch, action, {"day": tomorrow})
    assert future.status_code == 422
    current = item(future.text, entry_id)
    assert "The date cannot be in the future." in current
    assert f'value="{tomorrow}"' in current
    assert 'aria-invalid="true"' in current

    garbled = secretary.submit(branch, action, {"day": "上周三"})
    assert garbled.status_code == 422
    assert "Enter a date like 2026-03-12." in item(garbled.text, entry_id)
    assert 'value="上周三"' in item(garbled.text, entry_id)
    assert suggestions.entry(entry_id).adopted_on is None
    assert suggestions.count(LedgerLine) == 1


def test_step_forms_need_the_right_reviewer_and_a_token(
    suggestions: Suggestions, town: SmallTown, make_browser: Any
) -> None:
    own = suggestions.submit("secretary", "书记自己的建议", approve_by="instructor")
    other = suggestions.submit("member", "张伟的建议", approve_by="secretary")
    branch = f"/branches/{town.jinwan}"
    secretary = signed_in(make_browser, "secretary")
    html = secretary.client.get(branch).text
    assert "<form" not in item(html, own)
    assert "another reviewer marks its steps" in item(html, own)
    refused = secretary.submit(
        branch, f"{branch}/suggestions/{own}/adopted", {"day": today().isoformat()}
    )
    assert refused.status_code == 403

    no_token = secretary.client.post(
        f"{branch}/suggestions/{other}/adopted",
        data={"day": today().isoformat()},
        follow_redirects=False,
    )
    assert no_token.status_code == 403

    stranger = signed_in(make_browser, "secretary2")
    response = stranger.submit(
        "/branches", f"{branch}/suggestions/{other}/adopted", {"day": today().isoformat()}
    )
    assert response.status_code == 403
    # Through another branch's address the suggestion does not exist.
    admin = signed_in(make_browser, "admin")
    wrong = admin.submit(
        "/branches",
        f"/branches/{town.baoyuan}/suggestions/{other}/adopted",
        {"day": today().isoformat()},
    )
    assert wrong.status_code == 404
    assert suggestions.entry(other).adopted_on is None
    assert suggestions.entry(own).adopted_on is None


# --- deductions and adjustments ------------------------------------------------------


def test_the_adjustment_form_offers_the_branch_and_the_secretary_rules(
    town: SmallTown, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    page = secretary.client.get(
        f"/branches/{town.jinwan}/adjustments/new?member={town.member_ids['member2']}"
    )
    assert page.status_code == 200
    html = page.text
    assert f'<option value="{town.member_ids["member2"]}" selected>李娜' in html
    select = re.search(r'<select id="member_id".*?</select>', html, re.DOTALL)
    assert select
    names = re.findall(r"<option value=\"\d+\"(?: selected)?>(\w+) ·", select.group(0))
    assert names == ["张伟", "李娜", "赵老"]  # the branch, without the secretary
    assert "Party dues overdue" in html and "Shirked duties" in html
    assert "Volunteer service" not in html  # members declare that themselves
    assert 'value="adjustment"' in html
    assert f'value="{today().isoformat()}"' in html


@pytest.mark.parametrize("username", ["instructor", "secretary2", "member"])
def test_only_the_branch_secretary_opens_the_adjustment_form(
    town: SmallTown, make_browser: Any, username: str
) -> None:
    viewer = signed_in(make_browser, username)
    assert viewer.client.get(f"/branches/{town.jinwan}/adjustments/new").status_code == 403


def test_bad_adjustments_show_errors_keep_input_and_write_nothing(
    suggestions: Suggestions, town: SmallTown, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    form = f"/branches/{town.jinwan}/adjustments/new"
    member = str(town.member_ids["member"])
    missing = secretary.submit(
        form,
        form,
        {
            "member_id": member,
            "rule_id": "adjustment",
            "day": today().isoformat(),
            "points": "abc",
            "reason": "  ",
        },
    )
    assert missing.status_code == 422
    html = missing.text
    assert re.search(r'id="reason-error">[^<]*Give the branch&#39;s decision as the reason', html)
    assert re.search(r'id="points-error">[^<]*Enter a number', html)
    assert 'value="abc"' in html
    assert f'<option value="{member}" selected>' in html
    assert '<option value="adjustment" selected>' in html

    too_many = secretary.submit(
        form,
        form,
        {
            "member_id": member,
            "rule_id": "missed_meeting",
            "day": today().isoformat(),
            "quantity": "2",
            "reason": "缺席两次",
        },
    )
    assert too_many.status_code == 422
    assert 'id="quantity-error"' in too_many.text
    assert "缺席两次" in too_many.text

    future = secretary.submit(
        form,
        form,
        {
            "member_id": member,
            "rule_id": "missed_meeting",
            "day": (today() + timedelta(days=3)).isoformat(),
            "reason": "缺席",
        },
    )
    assert future.status_code == 422
    assert re.search(r'id="day-error">[^<]*The date cannot be in the future', future.text)

    no_member = secretary.submit(
        form, form, {"member_id": "", "rule_id": "", "day": today().isoformat(), "reason": "x"}
    )
    assert no_member.status_code == 422
    assert 'id="member_id-error"' in no_member.text and 'id="rule_id-error"' in no_member.text

    outsider = secretary.submit(
        form,
        form,
        {
            "member_id": str(town.member_ids["member3"]),
            "rule_id": "missed_meeting",
            "day": today().isoformat(),
            "reason": "别的支部",
        },
    )
    assert outsider.status_code == 422
    assert 'id="member_id-error"' in outsider.text
    assert suggestions.count(Adjustment) == 0
    assert suggestions.count(LedgerLine) == 0


def test_a_deduction_recorded_through_the_form_reaches_the_members_points(
    suggestions: Suggestions, town: SmallTown, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    form = f"/branches/{town.jinwan}/adjustments/new"
    member_id = town.member_ids["member"]
    response = secretary.submit(
        form,
        form,
        {
            "member_id": str(member_id),
            "rule_id": "dues_overdue",
            "day": today().isoformat(),
            "quantity": "2",
            "points": "",
            "reason": "两次催缴仍未缴纳党费",
        },
    )
    assert response.status_code == 303
    target = f"/members/{member_id}/points?year={today().year}&done=adjusted"
    assert response.headers["location"] == target
    page = secretary.client.get(target).text
    assert "The deduction or adjustment was recorded" in page
    assert "Reason: 两次催缴仍未缴纳党费" in page
    assert "counts -4.0" in page
    assert re.search(r'<strong id="total">56\.0</strong>', page)

    manual = secretary.submit(
        form,
        form,
        {
            "member_id": str(member_id),
            "rule_id": "adjustment",
            "day": today().isoformat(),
            "points": "1.5",
            "reason": "补录十月志愿服务",
        },
    )
    assert manual.status_code == 303
    page = secretary.client.get(f"/members/{member_id}/points").text
    assert "Manual adjustment" in page and "counts 1.5" in page
    assert re.search(r'<strong id="total">57\.5</strong>', page)
    assert suggestions.count(Adjustment) == 2

    # The member sees the deduction and its reason on their own page.
    member = signed_in(make_browser, "member").client.get("/me/points").text
    assert "两次催缴仍未缴纳党费" in member


def test_recording_for_another_branch_or_without_token_is_refused(
    suggestions: Suggestions, town: SmallTown, make_browser: Any
) -> None:
    fields = {
        "member_id": str(town.member_ids["member"]),
        "rule_id": "missed_meeting",
        "day": today().isoformat(),
        "reason": "缺席",
    }
    form = f"/branches/{town.jinwan}/adjustments/new"
    stranger = signed_in(make_browser, "secretary2")
    assert stranger.submit("/branches", form, fields).status_code == 403
    instructor = signed_in(make_browser, "instructor")
    assert instructor.submit("/branches", form, fields).status_code == 403
    secretary = signed_in(make_browser, "secretary")
    no_token = secretary.client.post(form, data=fields, follow_redirects=False)
    assert no_token.status_code == 403
    own = secretary.submit(form, form, {**fields, "member_id": str(town.member_ids["secretary"])})
    assert own.status_code == 403
    assert suggestions.count(Adjustment) == 0
