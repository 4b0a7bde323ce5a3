"""Members object to a line of a published board during its notice window; the office
answers; the member reads the answer. Outside the window the form says why it is shut."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.periods import period_of, shift_period, town_today
from service.persistence.db import Database
from service.persistence.models import Objection
from service.persistence.types import utcnow
from service.publication.publish import publish_month
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown

HOST = "testserver.local"
THIS_MONTH = period_of(town_today(utcnow(), "Asia/Shanghai"))
LAST_MONTH = shift_period(THIS_MONTH, -1)
TWO_AGO = shift_period(THIS_MONTH, -2)


def first_day(period: str) -> date:
    return date(int(period[:4]), int(period[5:7]), 1)


def signed_in(make_browser: Any, username: str) -> Browser:
    other: Browser = make_browser()
    other.client.cookies.set("jifen_lang", "en", domain=HOST)
    other.login(username)
    return other


def plain(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def publish(
    database: Database, town: SmallTown, rulebook: Rulebook, period: str, now: datetime
) -> None:
    """One approved entry of ``period`` for 张伟, then the month published at ``now``."""
    member = town.principal(database, "member")
    admin = town.principal(database, "admin")
    day = first_day(period) + timedelta(days=2)
    with database.transaction() as session:
        entry_id = submit_entry(
            session,
            member,
            rulebook,
            EntryInput("study", day, Decimal(1), "学习教育"),
            # Declared on the day: two months ago is further back than a member may go.
            today=day,
            now=utcnow(),
        )
        approve_entry(session, admin, rulebook, entry_id, now=utcnow())
        publish_month(session, admin, rulebook, period, now=now)


def objections(database: Database) -> int:
    with database.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(Objection)) or 0


@pytest.fixture
def open_month(database: Database, town: SmallTown, rulebook: Rulebook) -> str:
    publish(database, town, rulebook, LAST_MONTH, utcnow())
    return LAST_MONTH


@pytest.fixture
def closed_month(database: Database, town: SmallTown, rulebook: Rulebook) -> str:
    # Published on the 2nd of last month: its seven days ended before today.
    moment = datetime.combine(first_day(LAST_MONTH) + timedelta(days=1), time(4), tzinfo=UTC)
    publish(database, town, rulebook, TWO_AGO, moment)
    return TWO_AGO


def test_a_member_objects_during_the_window_and_reads_the_answer(
    open_month: str, town: SmallTown, make_browser: Any, database: Database
) -> None:
    member2 = signed_in(make_browser, "member2")
    assert 'href="/objections"' in member2.client.get("/entries").text  # in the nav
    target = town.member_ids["member"]
    form = f"/objections/new?period={open_month}&member={target}"
    page = member2.client.get(form)
    assert page.status_code == 200
    text_of_page = plain(page.text)
    assert "张伟 (M001)" in text_of_page and "Objections are taken until" in text_of_page

    fields = {"period": open_month, "member": str(target)}
    empty = member2.submit(form, "/objections/new", {**fields, "text": "  "})
    assert empty.status_code == 422
    assert 'id="text-error"' in empty.text
    assert "Say what is wrong with this line." in plain(empty.text)
    assert objections(database) == 0

    sent = member2.submit(form, "/objections/new", {**fields, "text": "他那天在外地出差"})
    assert sent.status_code == 303 and sent.headers["location"] == "/objections?done=objected"
    mine = plain(member2.client.get(sent.headers["location"]).text)
    assert "Your objection was sent." in mine
    assert "他那天在外地出差" in mine and "waiting for an answer" in mine

    # The office sees it on the month's page and answers it.
    admin = signed_in(make_browser, "admin")
    month_page = f"/admin/publication/{open_month}"
    assert "他那天在外地出差" in plain(admin.client.get(month_page).text)
    with database.transaction(write=False) as session:
        objection_id = session.scalar(select(Objection.id))
    action = f"{month_page}/objections/{objection_id}/resolve"
    unanswered = admin.submit(month_page, action, {"answer": "", "resolution": "no_change"})
    assert unanswered.status_code == 422
    assert f'id="answer-{objection_id}-error"' in unanswered.text
    early = admin.submit(month_page, action, {"answer": "已更正", "resolution": "corrected"})
    assert early.status_code == 409
    assert f"No correction of {open_month} has been published" in plain(early.text)
    answered = admin.submit(
        month_page, action, {"answer": "签到表上有他的签名", "resolution": "no_change"}
    )
    assert answered.status_code == 303

    mine = plain(member2.client.get("/objections").text)
    assert "no change" in mine and "Answer: 签到表上有他的签名" in mine


def test_outside_the_window_the_form_is_shut_with_the_reason(
    closed_month: str, town: SmallTown, make_browser: Any, database: Database
) -> None:
    member2 = signed_in(make_browser, "member2")
    form = f"/objections/new?period={closed_month}&branch={town.jinwan}"
    page = member2.client.get(form)
    assert page.status_code == 409
    assert f"The notice window of {closed_month} has closed" in plain(page.text)
    assert 'name="text"' not in page.text

    token = member2.csrf_token("/objections")
    sent = member2.client.post(
        "/objections/new",
        data={
            "period": closed_month,
            "branch": str(town.jinwan),
            "text": "晚了",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert sent.status_code == 409
    assert objections(database) == 0


def test_lines_not_on_the_board_and_unpublished_months_are_not_found(
    open_month: str, make_browser: Any
) -> None:
    member2 = signed_in(make_browser, "member2")
    assert (
        member2.client.get(f"/objections/new?period={open_month}&member=999999").status_code == 404
    )
    assert member2.client.get(f"/objections/new?period={THIS_MONTH}&branch=1").status_code == 404
    assert member2.client.get("/objections/new?period=garbage&branch=1").status_code == 404


def test_who_may_object_and_resolve(
    open_month: str, town: SmallTown, make_browser: Any, database: Database
) -> None:
    # The office has no member record: it answers objections, it does not raise them.
    admin = signed_in(make_browser, "admin")
    assert admin.client.get("/objections").status_code == 403

    member = signed_in(make_browser, "member")
    no_token = member.client.post(
        "/objections/new",
        data={"period": open_month, "branch": str(town.jinwan), "text": "人数不对"},
        follow_redirects=False,
    )
    assert no_token.status_code == 403
    assert objections(database) == 0
    form = f"/objections/new?period={open_month}&branch={town.jinwan}"
    sent = member.submit(
        form,
        "/objections/new",
        {"period": open_month, "branch": str(town.jinwan), "text": "人数不对"},
    )
    assert sent.status_code == 303

    with database.transaction(write=False) as session:
        objection_id = session.scalar(select(Objection.id))
    secretary = signed_in(make_browser, "secretary")
    refused = secretary.submit(
        "/objections",
        f"/admin/publication/{open_month}/objections/{objection_id}/resolve",
        {"answer": "我看没问题", "resolution": "no_change"},
    )
    assert refused.status_code == 403
    with database.transaction(write=False) as session:
        objection = session.get(Objection, objection_id)
        assert objection is not None and objection.answer is None


def test_a_member_may_raise_only_so_many_objections_to_a_month(
    open_month: str, town: SmallTown, make_browser: Any, database: Database
) -> None:
    """A flood of objections from one member stops at the settings' limit (five a
    month's board), with the reason beside the text field and the text kept."""
    member2 = signed_in(make_browser, "member2")
    lines = [("member", town.member_ids[name]) for name in ("member", "secretary", "member3")]
    lines += [
        ("branch", town.jinwan),
        ("branch", town.baoyuan),
        ("member", town.member_ids["member2"]),
    ]
    statuses = []
    for kind, line_id in lines:
        form = f"/objections/new?period={open_month}&{kind}={line_id}"
        fields = {"period": open_month, kind: str(line_id), "text": f"第 {line_id} 行有误"}
        statuses.append(member2.submit(form, "/objections/new", fields))
    assert [r.status_code for r in statuses] == [303] * 5 + [422]
    refused = statuses[-1]
    assert 'id="text-error"' in refused.text
    assert (
        f"You have raised 5 objections to the board of {open_month}, the most one member may"
        in plain(refused.text)
    )
    assert f"第 {town.member_ids['member2']} 行有误" in refused.text  # what was typed is kept
    assert objections(database) == 5
    # The limit is each member's own: another member still objects.
    member = signed_in(make_browser, "member")
    form = f"/objections/new?period={open_month}&branch={town.jinwan}"
    sent = member.submit(
        form, "/objections/new", {"period": open_month, "branch": str(town.jinwan), "text": "不对"}
    )
    assert sent.status_code == 303
