"""A member declares, lists and withdraws entries through the HTML pages."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from service.kernel.periods import town_today
from service.persistence.types import utcnow
from tests.conftest import Browser, SmallTown

HOST = "testserver.local"
FIELD_BLOCK = re.compile(r'<div class="field">(.*?)</div>', re.DOTALL)
WITHDRAW_ACTION = re.compile(r'action="/entries/(\d+)/withdraw"')


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


@pytest.fixture
def member(town: SmallTown, client: TestClient[Litestar], browser: Browser) -> Browser:
    client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login("member")
    return browser


def field_block(html: str, field: str) -> str:
    """The <div class="field"> that holds the control named ``field``."""
    for block in FIELD_BLOCK.findall(html):
        if f'id="{field}"' in block:
            return str(block)
    raise AssertionError(f"no field {field!r} on the page")


def declare(browser: Browser, **fields: str) -> Any:
    values = {
        "rule_id": "volunteer",
        "activity_date": today().isoformat(),
        "quantity": "1.5",
        "description": "在105国道公园入口值守",
    }
    values.update(fields)
    return browser.submit("/entries/new", "/entries/new", values)


def test_the_declaration_form_lists_the_rules(member: Browser) -> None:
    page = member.client.get("/entries/new")
    assert page.status_code == 200
    assert re.search(r'<select[^>]*name="rule_id"', page.text)
    assert "Good deed for the public" in page.text
    assert "Volunteer service" in page.text
    assert "3.0 points per" in page.text
    assert f'value="{today().isoformat()}"' in page.text  # today is the default date


def test_the_declaration_form_is_in_chinese_by_default(
    town: SmallTown, client: TestClient[Litestar], browser: Browser
) -> None:
    browser.login("member")
    page = client.get("/entries/new")
    assert page.status_code == 200
    assert "做好事实事" in page.text
    assert "Good deed for the public" not in page.text


def test_a_valid_entry_is_submitted_and_listed_as_pending(member: Browser) -> None:
    response = declare(member, description="在105国道公园入口值守")
    assert response.status_code == 303
    assert response.headers["location"] == "/entries?done=submitted"

    page = member.client.get("/entries?done=submitted")
    assert page.status_code == 200
    assert "Your entry was submitted" in page.text
    assert "在105国道公园入口值守" in page.text
    assert "Volunteer service" in page.text
    assert 'class="entry status-pending"' in page.text
    assert '<span class="badge">pending</span>' in page.text
    assert "quantity 1.5" in page.text
    assert len(WITHDRAW_ACTION.findall(page.text)) == 1


def test_invalid_input_is_shown_next_to_each_field_and_kept(member: Browser) -> None:
    response = declare(member, activity_date="2026-13-40", quantity="abc", description="")
    assert response.status_code == 422
    html = response.text
    assert "nothing was saved yet" in html

    date_field = field_block(html, "activity_date")
    assert 'id="activity_date-error"' in date_field
    assert "Enter a date like" in date_field
    assert 'value="2026-13-40"' in date_field
    assert 'aria-invalid="true"' in date_field

    quantity_field = field_block(html, "quantity")
    assert 'id="quantity-error"' in quantity_field
    assert "Enter a number" in quantity_field
    assert 'value="abc"' in quantity_field

    description_field = field_block(html, "description")
    assert 'id="description-error"' in description_field
    assert "This field is required." in description_field

    rule_field = field_block(html, "rule_id")
    assert 'id="rule_id-error"' not in rule_field
    assert re.search(r'<option value="volunteer"\s+selected>', rule_field)

    assert "You have no entries yet" in member.client.get("/entries").text


def test_the_typed_description_survives_a_bad_quantity(member: Browser) -> None:
    response = declare(member, quantity="1.25", description="修了 <两盏> 路灯")
    assert response.status_code == 422
    quantity_field = field_block(response.text, "quantity")
    assert 'id="quantity-error"' in quantity_field
    assert "one decimal place" in quantity_field
    description_field = field_block(response.text, "description")
    assert "修了 &lt;两盏&gt; 路灯</textarea>" in description_field
    assert 'id="description-error"' not in description_field


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"activity_date": (today() + timedelta(days=2)).isoformat()},
            "activity_date",
            "cannot be in the future",
        ),
        ({"rule_id": "good_deed", "quantity": "2"}, "quantity", "quantity 1"),
        ({"quantity": "9"}, "quantity", "At most 8 per entry."),
        ({"quantity": "0.4"}, "quantity", "too small"),
        ({"rule_id": "no_such_rule"}, "rule_id", "Choose an item from the list."),
        ({"rule_id": ""}, "rule_id", "This field is required."),
    ],
)
def test_domain_checks_show_next_to_the_field(
    member: Browser, fields: dict[str, str], field: str, message: str
) -> None:
    response = declare(member, **fields)
    assert response.status_code == 422
    block = field_block(response.text, field)
    assert f'id="{field}-error"' in block
    assert message in block
    assert "You have no entries yet" in member.client.get("/entries").text


def first_of_month(day: date, months_back: int) -> date:
    months = day.year * 12 + day.month - 1 - months_back
    return date(months // 12, months % 12 + 1, 1)


@pytest.mark.parametrize("months_back", [2, 23])
def test_an_entry_dated_before_last_month_is_refused_beside_the_date(
    member: Browser, months_back: int
) -> None:
    """Regression (issue 15, item 7): an entry dated long ago was accepted because its
    month was never published."""
    last_month = first_of_month(today(), 1)
    too_old = first_of_month(today(), months_back)
    response = declare(member, activity_date=too_old.isoformat(), description="去年在敬老院做义工")
    assert response.status_code == 422
    block = field_block(response.text, "activity_date")
    assert 'id="activity_date-error"' in block
    assert "Too far back" in block
    assert f"activities can be declared from {last_month.isoformat()} on" in block
    # Nothing typed is lost, and nothing was saved.
    assert "去年在敬老院做义工</textarea>" in response.text
    assert "You have no entries yet" in member.client.get("/entries").text


def test_last_month_can_still_be_declared_and_the_form_says_from_when(member: Browser) -> None:
    last_month = first_of_month(today(), 1)
    page = member.client.get("/entries/new")
    block = field_block(page.text, "activity_date")
    assert f'min="{last_month.isoformat()}"' in block
    assert 'aria-describedby="date-hint"' in block
    assert declare(member, activity_date=last_month.isoformat()).status_code == 303


def test_a_member_withdraws_a_pending_entry(member: Browser) -> None:
    assert declare(member).status_code == 303
    [entry_id] = WITHDRAW_ACTION.findall(member.client.get("/entries").text)

    response = member.submit("/entries", f"/entries/{entry_id}/withdraw", {})
    assert response.status_code == 303
    assert response.headers["location"] == "/entries?done=withdrawn"

    page = member.client.get("/entries?done=withdrawn")
    assert "The entry was withdrawn." in page.text
    assert 'class="entry status-withdrawn"' in page.text
    assert '<span class="badge">withdrawn</span>' in page.text
    assert WITHDRAW_ACTION.findall(page.text) == []

    again = member.submit("/entries", f"/entries/{entry_id}/withdraw", {})
    assert again.status_code == 409


def test_nobody_withdraws_someone_elses_entry(member: Browser, make_browser: Any) -> None:
    assert declare(member).status_code == 303
    [entry_id] = WITHDRAW_ACTION.findall(member.client.get("/entries").text)

    other: Browser = make_browser()
    other.login("member2")
    response = other.submit("/entries", f"/entries/{entry_id}/withdraw", {})
    assert response.status_code == 403
    assert 'class="entry status-pending"' in member.client.get("/entries").text


def test_a_member_cannot_open_the_review_queue(member: Browser) -> None:
    response = member.client.get("/review", follow_redirects=False)
    assert response.status_code == 403
    assert "Not allowed" in response.text
    assert 'href="/review"' not in member.client.get("/entries").text  # no menu link either


def test_an_account_without_member_record_cannot_declare(
    town: SmallTown, client: TestClient[Litestar], browser: Browser
) -> None:
    browser.login("admin")
    assert client.get("/entries/new", follow_redirects=False).status_code == 403
    assert client.get("/entries", follow_redirects=False).status_code == 403
