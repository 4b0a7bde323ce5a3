"""Bands and warning cases through the pages: the office bands a period, the secretary
records a talk and closes the case, the member reads the agreed actions and responds;
strangers get 404, and nothing private reaches a board, an export or the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from service.assessment.bands import run_banding
from service.boards.board import SpanKind, board_period
from service.kernel.periods import period_of
from service.persistence.assessment import CaseStatus, WarningCase, WarningTalk
from service.persistence.db import Database
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown
from tests.functional.warning_world import world_rulebook
from tests.integration.bands_support import today

HOST = "testserver.local"
NOTES = "家中有困难，近期加班多"
ACTIONS = "每月参加一次志愿服务"
RESPONSE = "我会按时参加志愿服务"


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login(username)
    return browser


def post(browser: Browser, form_page: str, action: str, fields: dict[str, Any]) -> Any:
    """Submit a form and follow its 303 to the page it leads to, as a browser does."""
    answer = browser.submit(form_page, action, fields)
    if answer.status_code == 303:
        return browser.client.get(answer.headers["location"])
    return answer


def last_quarter() -> str:
    """The quarter before this one: ended, so it can be banded."""
    this = board_period(period_of(today()), SpanKind.QUARTER)
    return this.shift(-1).key


@pytest.fixture
def banded(database: Database, town: SmallTown, rulebook: Rulebook) -> str:
    """The last quarter banded with a yellow line at 3 points: nobody has points, so every
    banded member is yellow and has a case."""
    with database.transaction() as session:
        run_banding(
            session, town.principal(database, "admin"), world_rulebook(rulebook), last_quarter(),
            utcnow(),
        )  # fmt: skip
    return last_quarter()


def case_of(database: Database, member_id: int) -> int:
    with database.transaction(write=False) as session:
        found = session.scalar(select(WarningCase.id).where(WarningCase.member_id == member_id))
    assert found is not None
    return found


def test_the_office_bands_a_period_from_the_page(
    town: SmallTown, database: Database, make_browser: Any
) -> None:
    admin = signed_in(make_browser, "admin")
    page = admin.client.get("/bands")
    assert page.status_code == 200 and last_quarter() in page.text
    refused = post(admin, "/bands", "/bands", {"period": "2026-13"})
    assert refused.status_code == 422 and "A board is for a month" in refused.text
    refused = post(admin, "/bands", "/bands", {"period": "2999-Q1"})
    assert refused.status_code == 409 and "has not ended" in refused.text
    done = post(admin, "/bands", "/bands", {"period": last_quarter()})
    assert done.status_code == 200 and "The period is banded" in done.text
    # The shipped rules: yellow below 0 or in the bottom fifth (none of a branch of 3 or
    # 2 whose members all tie at 0), red from 10 points: both lists are empty.
    assert done.text.count("Nobody.") == 2
    again = post(admin, "/bands", "/bands", {"period": last_quarter()})
    assert again.status_code == 409 and "already banded" in again.text
    listing = admin.client.get("/bands")
    assert f'id="run-{last_quarter()}"' in listing.text


def test_only_the_office_bands_and_reviewers_see_their_branch(
    town: SmallTown, banded: str, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    assert secretary.client.get("/bands").status_code == 403
    page = secretary.client.get(f"/bands/{banded}")
    assert page.status_code == 200 and "张伟" in page.text and "刘洋" not in page.text
    member = signed_in(make_browser, "member")
    assert member.client.get(f"/bands/{banded}").status_code == 403
    assert signed_in(make_browser, "admin").client.get("/bands/2026-Q9").status_code == 404


def test_talk_close_and_the_member_reads_it_on_a_phone(
    town: SmallTown, database: Database, banded: str, make_browser: Any
) -> None:
    case_id = case_of(database, town.member_ids["member"])
    secretary = signed_in(make_browser, "secretary")
    page = secretary.client.get("/warnings")
    assert page.status_code == 200 and f'id="case-{case_id}"' in page.text
    bad = post(
        secretary,
        f"/warnings/{case_id}",
        f"/warnings/{case_id}/talk",
        {"talked_on": (today() + timedelta(days=1)).isoformat(), "talked_by": "王书记",
         "notes": NOTES, "actions": "", "deadline": ""},
    )  # fmt: skip
    assert bad.status_code == 422
    assert "A talk cannot be dated in the future." in bad.text
    assert NOTES in bad.text  # what was typed is kept
    done = post(
        secretary,
        f"/warnings/{case_id}",
        f"/warnings/{case_id}/talk",
        {"talked_on": today().isoformat(), "talked_by": "王书记", "notes": NOTES,
         "actions": ACTIONS, "deadline": (today() + timedelta(days=45)).isoformat()},
    )  # fmt: skip
    assert done.status_code == 200 and "The talk is recorded" in done.text and NOTES in done.text

    member = signed_in(make_browser, "member")
    home = member.client.get("/")
    assert f'href="/warnings/{case_id}"' in home.text
    seen = member.client.get(f"/warnings/{case_id}")
    assert seen.status_code == 200 and ACTIONS in seen.text
    assert NOTES not in seen.text  # the notes are for the file
    assert (today() + timedelta(days=45)).isoformat() in seen.text
    responded = post(
        member, f"/warnings/{case_id}", f"/warnings/{case_id}/respond", {"response": RESPONSE}
    )
    assert responded.status_code == 200 and RESPONSE in responded.text
    too_long = post(
        member, f"/warnings/{case_id}", f"/warnings/{case_id}/respond", {"response": "字" * 2001}
    )
    assert too_long.status_code == 422 and "This text is too long." in too_long.text

    assert RESPONSE in secretary.client.get(f"/warnings/{case_id}").text
    closed = post(
        secretary,
        f"/warnings/{case_id}",
        f"/warnings/{case_id}/close",
        {"outcome": "improved", "outcome_note": "已参加两次志愿服务"},
    )
    assert closed.status_code == 200 and "Closed: improved" in closed.text
    with database.transaction(write=False) as session:
        case = session.get(WarningCase, case_id)
        assert case is not None and case.status is CaseStatus.IMPROVED
    assert "Closed: improved" in member.client.get(f"/warnings/{case_id}").text


def test_strangers_get_not_found(
    town: SmallTown, database: Database, banded: str, make_browser: Any
) -> None:
    case_id = case_of(database, town.member_ids["member"])
    for username in ("member2", "secretary2", "member3"):
        stranger = signed_in(make_browser, username)
        assert stranger.client.get(f"/warnings/{case_id}").status_code == 404
        token = stranger.csrf_token("/warnings")
        for action, fields in (
            ("talk", {"talked_on": today().isoformat(), "talked_by": "x", "actions": "x"}),
            ("close", {"outcome": "improved", "outcome_note": "x"}),
            ("respond", {"response": "x"}),
        ):
            answer = stranger.client.post(
                f"/warnings/{case_id}/{action}", data={**fields, "_csrf_token": token}
            )
            assert answer.status_code == 404
        listed = stranger.client.get("/warnings?show=all")
        assert f'id="case-{case_id}"' not in listed.text
    with database.transaction(write=False) as session:
        assert session.scalar(select(WarningTalk.id)) is None
    assert (
        signed_in(make_browser, "instructor").client.get(f"/warnings/{case_id}").status_code == 200
    )


def test_overdue_cases_show_on_the_reviewers_home_pages(
    town: SmallTown, database: Database, banded: str, make_browser: Any
) -> None:
    with database.transaction() as session:
        for case in session.scalars(select(WarningCase)):
            case.deadline = today() - timedelta(days=1)
    for username in ("secretary", "instructor"):
        home = signed_in(make_browser, username).client.get("/")
        assert f'id="overdue-{town.jinwan}"' in home.text
        assert "warning cases are overdue" in home.text
    # A plain member's home page has no reviewer's overdue list.
    assert "home-overdue" not in signed_in(make_browser, "member2").client.get("/").text
    listing = signed_in(make_browser, "secretary").client.get("/warnings?show=overdue")
    assert "Overdue" in listing.text and "张伟" in listing.text


def test_nothing_private_reaches_boards_exports_or_the_api(
    town: SmallTown, database: Database, banded: str, make_browser: Any
) -> None:
    case_id = case_of(database, town.member_ids["member"])
    secretary = signed_in(make_browser, "secretary")
    post(
        secretary,
        f"/warnings/{case_id}",
        f"/warnings/{case_id}/talk",
        {"talked_on": today().isoformat(), "talked_by": "王书记", "notes": NOTES,
         "actions": ACTIONS, "deadline": ""},
    )  # fmt: skip
    member = signed_in(make_browser, "member")
    post(member, f"/warnings/{case_id}", f"/warnings/{case_id}/respond", {"response": RESPONSE})
    quarter = board_period(period_of(today()), SpanKind.QUARTER).shift(-1)
    month = quarter.last
    viewer = signed_in(make_browser, "member2")
    paths = [
        f"/boards/{quarter.key}",
        f"/boards/{month}",
        f"/boards/{month}/branches",
        f"/boards/{month}/branches/{town.jinwan}",
        f"/boards/{month}/members.csv",
        f"/boards/{month}/members.xlsx",
        f"/boards/{month}/branches/{town.jinwan}/members.csv",
        f"/api/boards/{month}/members",
        f"/api/boards/{month}/branches",
        f"/api/members/{town.member_ids['member']}",
        "/api/me",
    ]
    for browser in (viewer, member, secretary):
        for path in paths:
            answer = browser.client.get(path)
            body = answer.content.decode("utf-8", "replace")
            for private in (NOTES, ACTIONS, RESPONSE, "warning case", "预警", "yellow"):
                assert private not in body, (path, private)
