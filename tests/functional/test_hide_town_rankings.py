"""JIFEN_HIDE_TOWN_RANKINGS: for a town that wants less competition, members see no
town-wide ranking of members, only their branch's ranking, their branch rank and stars;
branch rankings stay; secretaries, instructors and the office still see everything. Each
place that showed a member a town rank, as a member and as the office, on and off.

The month (test_boards_api's ``month``): 刘洋 of 宝元 9.0 leads the town; 张伟 and 李娜
of 金湾 6.0 each share second place (first in their branch); 王书记 1.0."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar

from service.kernel.config import Settings
from tests.conftest import Browser, SmallTown
from tests.functional.test_board_publication import (  # noqa: F401 - fixtures
    LAST_MONTH,
    corrected_month,
    open_month,
)
from tests.functional.test_boards_api import PERIOD, month  # noqa: F401 - fixture

HOST = "testserver.local"
OTHER_BRANCH = "刘洋"  # of 宝元, first in the town


@pytest.fixture(params=[True, False], ids=["hidden", "shown"])
def hide(request: pytest.FixtureRequest, app: Litestar) -> Iterator[bool]:
    """The app with the setting on or off (the shared app's settings, put back after)."""
    settings: Settings = app.state.settings
    app.state.settings = settings.model_copy(update={"hide_town_rankings": request.param})
    try:
        yield bool(request.param)
    finally:
        app.state.settings = settings


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login(username)
    return browser


@pytest.mark.usefixtures("month")
def test_the_members_board_becomes_the_branch_ranking(
    hide: bool, town: SmallTown, make_browser: Any
) -> None:
    member = signed_in(make_browser, "member")
    for path in [f"/boards/{PERIOD}", "/boards", f"/boards/{PERIOD[:4]}"]:
        page = member.client.get(path).text
        assert (OTHER_BRANCH in page) is not hide, path
        assert ('id="ranking-scope"' in page) is hide, path
        assert "张伟" in page and "李娜" in page
    # Branch rankings (branches, not people) stay.
    branches = member.client.get(f"/boards/{PERIOD}/branches").text
    assert "宝元鞋厂党支部" in branches and "金湾工业园区联合党支部" in branches
    # The office and reviewers still see the town's ranking.
    for username in ("admin", "secretary2", "instructor"):
        office = signed_in(make_browser, username)
        page = office.client.get(f"/boards/{PERIOD}").text
        assert OTHER_BRANCH in page and 'id="ranking-scope"' not in page, username


@pytest.mark.usefixtures("month")
def test_exports_and_the_print_sheet_follow(hide: bool, town: SmallTown, make_browser: Any) -> None:
    member = signed_in(make_browser, "member")
    body = member.client.get(f"/boards/{PERIOD}/members.csv")
    assert body.status_code == 200
    names = [row[2] for row in csv.reader(io.StringIO(body.content.decode("utf-8-sig")))][1:]
    if hide:
        assert names == ["张伟", "李娜", "王书记"]  # their branch, ranked within it
    else:
        assert names[0] == OTHER_BRANCH
    xlsx = member.client.get(f"/boards/{PERIOD}/members.xlsx")
    assert xlsx.status_code == 200
    sheet = member.client.get(f"/boards/{PERIOD}/print").text
    assert (OTHER_BRANCH in sheet) is not hide
    assert "宝元鞋厂党支部" in sheet  # the branches' ranking stays on the sheet
    office = signed_in(make_browser, "admin")
    office_csv = office.client.get(f"/boards/{PERIOD}/members.csv").content.decode("utf-8-sig")
    assert OTHER_BRANCH in office_csv
    assert OTHER_BRANCH in office.client.get(f"/boards/{PERIOD}/print").text


@pytest.mark.usefixtures("month")
def test_an_account_without_a_branch_gets_no_member_ranking(
    hide: bool, town: SmallTown, make_browser: Any, database: Any
) -> None:
    """An account that is neither a member nor a reviewer (an observer)."""
    from service.persistence.models import Account, Role, RoleGrant
    from tests.conftest import password_hash

    with database.transaction() as session:
        account = Account(username="observer", password_hash=password_hash(), display_name="观察")
        session.add(account)
        session.flush()
        session.add(RoleGrant(account_id=account.id, role=Role.MEMBER, branch_id=None))
    observer = signed_in(make_browser, "observer")
    page = observer.client.get(f"/boards/{PERIOD}").text
    assert (OTHER_BRANCH in page) is not hide and ("张伟" in page) is not hide
    status = observer.client.get(f"/boards/{PERIOD}/members.csv").status_code
    assert status == (404 if hide else 200)


@pytest.mark.usefixtures("month")
def test_home_shows_the_branch_rank_only(hide: bool, town: SmallTown, make_browser: Any) -> None:
    member = signed_in(make_browser, "member")
    home = member.client.get("/").text
    assert ('id="town-rank"' in home) is not hide
    assert 'id="branch-rank"' in home and "1 of 3, tied" in home
    # A secretary is a reviewer: they still see their own town rank.
    secretary = signed_in(make_browser, "secretary")
    assert 'id="town-rank"' in secretary.client.get("/").text
    # The points page shows no town rank either way.
    points = member.client.get("/me/points").text
    assert "Rank in the town" not in points and "Town rank" not in points


@pytest.mark.usefixtures("month")
def test_the_api_answers_follow(hide: bool, town: SmallTown, make_browser: Any) -> None:
    member = signed_in(make_browser, "member")
    me = member.client.get("/api/me").json()["month"]
    assert me["rank"] == (None if hide else 2) and me["branch_rank"] == 1
    board = member.client.get(f"/api/boards/{PERIOD}/members").json()
    assert board["scope"] == ("branch" if hide else "town")
    assert (OTHER_BRANCH in [row["name"] for row in board["members"]]) is not hide
    if hide:
        assert [(row["name"], row["rank"]) for row in board["members"]][:2] == [
            ("张伟", 1),
            ("李娜", 1),
        ]
    own = member.client.get(f"/api/members/{town.member_ids['member']}").json()["month"]
    assert own["rank"] == (None if hide else 2)
    office = signed_in(make_browser, "admin")
    assert office.client.get(f"/api/boards/{PERIOD}/members").json()["scope"] == "town"
    detail = office.client.get(f"/api/members/{town.member_ids['member']}").json()
    assert detail["month"]["rank"] == 2


@pytest.mark.usefixtures("corrected_month")
def test_a_correction_and_the_objection_form_hide_the_town_rank(
    hide: bool, town: SmallTown, make_browser: Any
) -> None:
    corrected = LAST_MONTH
    member = signed_in(make_browser, "member")
    page = member.client.get(f"/boards/{corrected}").text
    assert "What changed from revision 1 to 2" in page
    assert ("Town rank" in page) is not hide
    office = signed_in(make_browser, "admin")
    assert "Town rank" in office.client.get(f"/boards/{corrected}").text
    zhang = town.member_ids["member"]
    form = member.client.get(f"/objections/new?period={corrected}&member={zhang}")
    assert form.status_code == 200
    assert ('id="target-rank"' in form.text) is not hide
    branch_form = member.client.get(f"/objections/new?period={corrected}&branch={town.jinwan}")
    assert 'id="target-rank"' in branch_form.text  # a branch's rank is no person's
