"""The office's publication pages: publish a month (refused while entries are pending,
naming the branches), the chain status (a tampered row shows), corrections with their
reason and what changed. Admins only; every form needs its CSRF token."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from babel.dates import format_date
from sqlalchemy import func, select, text

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.periods import period_of, shift_period, town_today
from service.meetings.schedule import MeetingInput, cancel_meeting, schedule_meeting
from service.persistence.db import Database
from service.persistence.models import Publication
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown, raw_connection

HOST = "testserver.local"
LAST_MONTH = shift_period(period_of(town_today(utcnow(), "Asia/Shanghai")), -1)
DAY = date(int(LAST_MONTH[:4]), int(LAST_MONTH[5:7]), 4)
# Last month as the pages name it ("November 2026").
LAST_MONTH_NAME = date.fromisoformat(f"{LAST_MONTH}-01").strftime("%B %Y")


def signed_in(make_browser: Any, username: str) -> Browser:
    other: Browser = make_browser()
    other.client.cookies.set("jifen_lang", "en", domain=HOST)
    other.login(username)
    return other


def plain(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def submit(
    database: Database, town: SmallTown, rulebook: Rulebook, username: str, rule_id: str
) -> int:
    principal = town.principal(database, username)
    with database.transaction() as session:
        return submit_entry(
            session,
            principal,
            rulebook,
            EntryInput(rule_id, DAY, Decimal(1), "学习教育"),
            today=town_today(utcnow(), "Asia/Shanghai"),
            now=utcnow(),
        )


def approve(database: Database, town: SmallTown, rulebook: Rulebook, entry_id: int) -> None:
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        approve_entry(session, admin, rulebook, entry_id, now=utcnow())


def publications(database: Database) -> int:
    with database.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(Publication)) or 0


@pytest.fixture
def admin(town: SmallTown, make_browser: Any) -> Browser:
    return signed_in(make_browser, "admin")


@pytest.mark.parametrize("username", ["member", "secretary", "instructor"])
def test_only_the_office_sees_and_publishes(
    town: SmallTown, make_browser: Any, database: Database, username: str
) -> None:
    browser = signed_in(make_browser, username)
    assert browser.client.get("/admin/publication").status_code == 403
    assert browser.client.get(f"/admin/publication/{LAST_MONTH}").status_code == 403
    refused = browser.submit("/boards", f"/admin/publication/{LAST_MONTH}/publish", {})
    assert refused.status_code == 403
    assert publications(database) == 0


def test_publishing_refuses_pending_entries_naming_the_branches_then_publishes(
    admin: Browser, database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    assert 'href="/admin/publication"' in admin.client.get("/admin").text
    pending = submit(database, town, rulebook, "member3", "study")
    approve(database, town, rulebook, submit(database, town, rulebook, "member", "study"))

    page = admin.client.get("/admin/publication")
    assert page.status_code == 200
    assert "宝元鞋厂党支部: 1 pending" in plain(page.text)

    refused = admin.submit("/admin/publication", f"/admin/publication/{LAST_MONTH}/publish", {})
    assert refused.status_code == 409
    assert (
        f"{LAST_MONTH} cannot be published while entries dated in it are pending. "
        "Branches holding them: 宝元鞋厂党支部 (1)." in plain(refused.text)
    )
    assert publications(database) == 0

    approve(database, town, rulebook, pending)
    done = admin.submit("/admin/publication", f"/admin/publication/{LAST_MONTH}/publish", {})
    assert done.status_code == 303
    assert done.headers["location"] == f"/admin/publication/{LAST_MONTH}?done=published"
    month = plain(admin.client.get(done.headers["location"]).text)
    assert "The month is published" in month
    assert "State: published, on notice" in month
    with database.transaction(write=False) as session:
        digest = session.scalar(select(Publication.digest))
    assert digest and digest in month
    assert "holds" in month

    # A second click does not publish twice.
    again = admin.submit("/admin/publication", f"/admin/publication/{LAST_MONTH}/publish", {})
    assert again.status_code == 409
    assert "already published" in plain(again.text)
    assert publications(database) == 1


def test_a_post_without_its_csrf_token_publishes_nothing(
    admin: Browser, database: Database
) -> None:
    response = admin.client.post(
        f"/admin/publication/{LAST_MONTH}/publish", data={}, follow_redirects=False
    )
    assert response.status_code == 403
    assert publications(database) == 0


def test_a_tampered_row_shows_as_a_broken_chain(
    admin: Browser, database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    approve(database, town, rulebook, submit(database, town, rulebook, "member", "study"))
    admin.submit("/admin/publication", f"/admin/publication/{LAST_MONTH}/publish", {})
    assert "The chain holds: 1 publication" in plain(admin.client.get("/admin/publication").text)
    with database.transaction(write=False) as session:
        publication_id = session.scalar(select(Publication.id))
    with raw_connection(database) as connection:
        connection.execute(text("UPDATE published_member_row SET points = points + 50"))

    page = plain(admin.client.get("/admin/publication").text)
    assert "The chain is broken" in page
    # the month is named as people name it: "November 2026", not its key "2026-11"
    month_name = date.fromisoformat(f"{LAST_MONTH}-01").strftime("%B %Y")
    assert (
        f"{month_name} revision 1 (publication {publication_id}): "
        "The stored board does not match its digest" in page
    )
    month = plain(admin.client.get(f"/admin/publication/{LAST_MONTH}").text)
    assert "broken: the stored board does not match its digest or link" in month


def test_a_correction_from_the_web_shows_both_revisions_and_what_changed(
    admin: Browser, database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    approve(database, town, rulebook, submit(database, town, rulebook, "member", "study"))
    admin.submit("/admin/publication", f"/admin/publication/{LAST_MONTH}/publish", {})
    month_page = f"/admin/publication/{LAST_MONTH}"

    no_reason = admin.submit(month_page, f"{month_page}/correct", {"reason": " "})
    assert no_reason.status_code == 422
    assert 'id="reason-error"' in no_reason.text
    assert "Say why the month is corrected." in plain(no_reason.text)

    opened = admin.submit(month_page, f"{month_page}/correct", {"reason": "李娜的学习漏报"})
    assert opened.status_code == 303
    assert "State: correction in progress" in plain(admin.client.get(month_page).text)

    # The month takes changes again while it is corrected.
    approve(database, town, rulebook, submit(database, town, rulebook, "member2", "study"))

    published = admin.submit(month_page, f"{month_page}/correction", {})
    assert published.status_code == 303
    page = plain(admin.client.get(published.headers["location"]).text)
    assert "The correction is published as a new revision." in page
    assert "replaces revision 1" in page
    assert "Reason: 李娜的学习漏报" in page
    assert "What changed from revision 1 to 2" in page
    # 李娜 had no points (listed apart, unranked); now 2 points and first place.
    assert "李娜 M002 · 金湾工业园区联合党支部 0.0 → 2.0 – → 1" in page
    assert "金湾工业园区联合党支部 B001 2.0 → 4.0" in page
    assert "The chain holds" in plain(admin.client.get("/admin/publication").text)


# --- issue 15, item 5: a confirmation page before anything is frozen -------------------------


def test_the_publish_button_leads_to_a_page_saying_what_will_be_frozen(
    admin: Browser, database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    approve(database, town, rulebook, submit(database, town, rulebook, "member", "study"))
    confirm = f"/admin/publication/{LAST_MONTH}/publish"
    index = admin.client.get("/admin/publication").text
    # The month's button opens the confirmation page; it publishes nothing itself.
    assert f'<form method="get" action="{confirm}"' in index
    assert f'<form method="post" action="{confirm}"' not in index

    page = admin.client.get(confirm)
    assert page.status_code == 200
    text = plain(page.text)
    assert "What will be frozen" in text
    assert "5 member lines: 1 ranked, 4 without points, 0 exempt" in text
    assert "2 branch lines" in text
    assert "2.0 points in the town" in text
    assert "1 approved entries, suggestion steps and adjustments dated in the month" in text
    assert "金湾工业园区联合党支部 B001" in text and "宝元鞋厂党支部 B002" in text
    assert f'<form method="post" action="{confirm}"' in page.text
    assert 'name="confirm_empty"' not in page.text  # something counts: no extra question
    assert publications(database) == 0

    done = admin.submit(confirm, confirm, {})
    assert done.status_code == 303
    assert done.headers["location"] == f"/admin/publication/{LAST_MONTH}?done=published"
    assert publications(database) == 1
    # Published: the page says so and offers nothing to confirm.
    again = admin.client.get(confirm)
    assert "already published" in plain(again.text)
    assert f'<form method="post" action="{confirm}"' not in again.text


def test_a_month_in_which_nothing_counts_is_published_only_once_the_office_ticks_it(
    admin: Browser, database: Database, town: SmallTown
) -> None:
    confirm = f"/admin/publication/{LAST_MONTH}/publish"
    page = admin.client.get(confirm)
    text = plain(page.text)
    assert f"Nothing counts in {LAST_MONTH_NAME}" in text
    assert "freezes every member at 0 points, for good" in text
    assert 'name="confirm_empty"' in page.text and "required" in page.text

    refused = admin.submit(confirm, confirm, {})
    assert refused.status_code == 409
    assert f"Nothing counts in {LAST_MONTH}" in plain(refused.text)
    assert publications(database) == 0

    done = admin.submit(confirm, confirm, {"confirm_empty": "yes"})
    assert done.status_code == 303
    assert publications(database) == 1


def test_a_month_before_the_first_rules_is_never_published(
    admin: Browser, database: Database, town: SmallTown
) -> None:
    confirm = "/admin/publication/2024-06/publish"
    page = admin.client.get(confirm)
    assert page.status_code == 200
    assert "2024-06 is before the first points rules (in force from 2025-01)" in plain(page.text)
    assert f'<form method="post" action="{confirm}"' not in page.text

    refused = admin.submit(confirm, confirm, {"confirm_empty": "yes"})
    assert refused.status_code == 409
    assert "before the first points rules" in plain(refused.text)
    assert publications(database) == 0


def home_month_row(admin: Browser) -> str:
    found = re.search(rf'id="office-month-{LAST_MONTH}".*?</tr>', admin.client.get("/").text, re.S)
    assert found is not None
    return plain(found.group(0))


def held_last_month(database: Database, town: SmallTown, rulebook: Rulebook) -> int:
    """A meeting of 宝元 held on DAY and never closed. Scheduled today (last month may be
    before the rules that schedule meetings), then moved to DAY as a meeting recorded
    on paper would be."""
    with database.transaction() as session:
        meeting = schedule_meeting(
            session,
            town.principal(database, "secretary2"),
            rulebook,
            MeetingInput(
                branch_id=town.baoyuan,
                kind="theme_day",
                title="车间主题党日",
                day=town_today(utcnow(), "Asia/Shanghai"),
                start=time(9, 0),
                end=time(11, 0),
                place="车间会议室",
            ),
            now=utcnow(),
        )
        starts = datetime.combine(DAY, time(1, 0), tzinfo=UTC)
        meeting.day, meeting.period = DAY, LAST_MONTH
        meeting.starts_at, meeting.ends_at = starts, starts + timedelta(hours=2)
        return meeting.id


def test_publishing_waits_for_the_meetings_of_the_month_to_be_closed_or_cancelled(
    admin: Browser, database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    approve(database, town, rulebook, submit(database, town, rulebook, "member", "study"))
    meeting_id = held_last_month(database, town, rulebook)
    shown_day = format_date(DAY, format="medium", locale="en")

    index = plain(admin.client.get("/admin/publication").text)
    assert "1 meeting not closed" in index
    # The office's home does not call the month ready either.
    assert "ready to publish" not in home_month_row(admin)

    confirm = admin.client.get(f"/admin/publication/{LAST_MONTH}/publish")
    assert confirm.status_code == 200
    listed = plain(confirm.text)
    assert f"Meetings held in {LAST_MONTH_NAME} are not closed yet" in listed
    assert f"宝元鞋厂党支部: 车间主题党日 , {shown_day}" in listed
    assert f'href="/meetings/{meeting_id}"' in confirm.text
    # No publish form while a meeting waits.
    assert f'action="/admin/publication/{LAST_MONTH}/publish"' not in confirm.text

    refused = admin.submit("/admin/publication", f"/admin/publication/{LAST_MONTH}/publish", {})
    assert refused.status_code == 409
    assert f"{LAST_MONTH} cannot be published while meetings held in it are not closed" in plain(
        refused.text
    )
    assert f"宝元鞋厂党支部: 车间主题党日 ({DAY.isoformat()})" in plain(refused.text)
    assert publications(database) == 0
    month = plain(admin.client.get(f"/admin/publication/{LAST_MONTH}").text)
    assert f"宝元鞋厂党支部: 车间主题党日 , {shown_day}" in month

    with database.transaction() as session:
        cancel_meeting(
            session, town.principal(database, "secretary2"), meeting_id, "改期", now=utcnow()
        )
    assert "meeting not closed" not in plain(admin.client.get("/admin/publication").text)
    assert "ready to publish" in home_month_row(admin)
    done = admin.submit("/admin/publication", f"/admin/publication/{LAST_MONTH}/publish", {})
    assert done.status_code == 303
    assert publications(database) == 1
