"""Month boards (HTML) and the JSON API."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.periods import period_of, town_today
from service.persistence.db import Database
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown

HOST = "testserver.local"
TABLE_ROW = re.compile(r"<tr>(.*?)</tr>", re.DOTALL)
CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.DOTALL)
TAG = re.compile(r"<[^>]+>")


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


PERIOD = period_of(today())


def approved(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    username: str,
    rule_id: str,
    quantity: str,
    reviewer: str,
) -> None:
    member = town.principal(database, username)
    decider = town.principal(database, reviewer)
    with database.transaction() as session:
        entry_id = submit_entry(
            session,
            member,
            rulebook,
            EntryInput(rule_id, today(), Decimal(quantity), f"{rule_id} × {quantity}"),
            today=today(),
            now=utcnow(),
        )
        approve_entry(session, decider, rulebook, entry_id, now=utcnow())


@pytest.fixture
def month(database: Database, town: SmallTown, rulebook: Rulebook) -> SmallTown:
    """刘洋 9.0; 张伟 and 李娜 6.0 each (a tie); 王书记 1.0. 金湾 13.0 over 3 members,
    宝元 9.0 over 2: 金湾 leads by total, 宝元 per member."""
    approved(database, town, rulebook, "member2", "volunteer", "1.5", "secretary")
    approved(database, town, rulebook, "member", "volunteer", "2", "secretary")
    approved(database, town, rulebook, "member3", "volunteer", "3", "secretary2")
    approved(database, town, rulebook, "secretary", "suggestion", "1", "instructor")
    return town


@pytest.fixture
def member(month: SmallTown, client: TestClient[Litestar], browser: Browser) -> Browser:
    client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login("member")
    return browser


def rows(html: str) -> list[list[str]]:
    """Table body rows as lists of cell texts."""
    found = []
    for row in TABLE_ROW.findall(html):
        cells = [" ".join(TAG.sub(" ", cell).split()) for cell in CELL.findall(row)]
        if cells:
            found.append(cells)
    return found


# --- HTML boards --------------------------------------------------------------------


def test_the_member_board_shows_shared_ranks_and_the_tie_order(member: Browser) -> None:
    page = member.client.get(f"/boards/{PERIOD}")
    assert page.status_code == 200
    board = rows(page.text)
    assert [(cells[0], cells[1], cells[-1]) for cells in board] == [
        ("1", "刘洋", "9.0"),
        ("2 (tied)", "张伟", "6.0"),  # M001 before M002 inside the tie
        ("2 (tied)", "李娜", "6.0"),
        ("4", "王书记", "1.0"),
    ]
    assert "share a rank (1, 2, 2, 4)" in page.text
    assert "listed by member number" in page.text
    assert "陈书记" not in [cells[1] for cells in board]  # no points, not ranked


def test_the_current_board_is_the_months_board(member: Browser) -> None:
    current = member.client.get("/boards")
    assert current.status_code == 200
    assert rows(current.text) == rows(member.client.get(f"/boards/{PERIOD}").text)


def test_an_earlier_month_has_its_own_empty_board(member: Browser) -> None:
    page = member.client.get("/boards/2025-02")
    assert page.status_code == 200
    assert rows(page.text) == []
    assert "刘洋" not in page.text


@pytest.mark.parametrize(
    "path",
    [
        "/boards/2026-13",
        "/boards/2026-00",
        "/boards/26-01",
        "/boards/2026-13/branches",
        "/boards/2026-13/branches/1",
        "/boards/２０２６-01",  # full-width digits are not a month
    ],
)
def test_a_malformed_month_is_not_found(member: Browser, path: str) -> None:
    response = member.client.get(path)
    assert response.status_code == 404
    assert "Page not found" in response.text


def test_an_unknown_branch_is_not_found(member: Browser) -> None:
    assert member.client.get(f"/boards/{PERIOD}/branches/999999").status_code == 404


def test_the_branch_board_sorts_by_total_or_per_member(member: Browser) -> None:
    by_total = member.client.get(f"/boards/{PERIOD}/branches")
    assert by_total.status_code == 200
    assert [(cells[0], cells[1].split(" ")[0], cells[2]) for cells in rows(by_total.text)] == [
        ("1", "金湾工业园区联合党支部", "13.0"),
        ("2", "宝元鞋厂党支部", "9.0"),
    ]
    per_member = member.client.get(f"/boards/{PERIOD}/branches", params={"sort": "per_member"})
    assert per_member.status_code == 200
    table = rows(per_member.text)
    assert [(cells[0], cells[1].split(" ")[0]) for cells in table] == [
        ("1", "宝元鞋厂党支部"),
        ("2", "金湾工业园区联合党支部"),
    ]
    baoyuan, jinwan = table
    assert "4.50" in baoyuan  # 9.0 / 2
    assert "4.33" in jinwan  # 13.0 / 3: the exempt elder is not a member here
    assert "3" in jinwan and "2" in baoyuan  # members counted
    assert "100.0%" in jinwan and "50.0%" in baoyuan  # participation
    assert "listed by branch code" in per_member.text


def test_an_unknown_sort_is_refused(member: Browser) -> None:
    response = member.client.get(f"/boards/{PERIOD}/branches", params={"sort": "name"})
    assert response.status_code == 400


def test_a_branch_board_lists_its_members(member: Browser, month: SmallTown) -> None:
    page = member.client.get(f"/boards/{PERIOD}/branches/{month.jinwan}")
    assert page.status_code == 200
    assert "金湾工业园区联合党支部" in page.text
    ranked = [(cells[0], cells[1], cells[-1]) for cells in rows(page.text)]
    assert ranked[:3] == [
        ("1 (tied)", "张伟", "6.0"),
        ("1 (tied)", "李娜", "6.0"),
        ("3", "王书记", "1.0"),
    ]
    assert "刘洋" not in page.text  # another branch
    assert "赵老" in page.text  # the exempt elder, listed apart
    assert "Exempt members (not ranked)" in page.text
    assert "listed by member number" in page.text


def test_boards_need_a_sign_in(month: SmallTown, client: TestClient[Litestar]) -> None:
    response = client.get(f"/boards/{PERIOD}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


# --- JSON API -----------------------------------------------------------------------


def test_api_me_gives_my_points_and_rank(member: Browser) -> None:
    response = member.client.get("/api/me")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    me = response.json()
    assert me["username"] == "member"
    assert me["display_name"] == "张伟"
    assert me["roles"] == ["member"]
    assert me["member"]["name"] == "张伟"
    assert me["member"]["branch_name"] == "金湾工业园区联合党支部"
    assert me["month"] == {
        "period": PERIOD,
        "points": "6.0",
        "rank": 2,
        "ranked_members": 4,
        "branch_rank": 1,
    }


def test_api_me_for_a_secretary_and_for_an_admin(
    month: SmallTown, client: TestClient[Litestar], browser: Browser
) -> None:
    browser.login("secretary")
    me = client.get("/api/me").json()
    assert me["roles"] == ["member", "secretary"]
    assert me["month"]["points"] == "1.0"
    assert me["month"]["rank"] == 4

    browser.login("admin")
    admin = client.get("/api/me").json()
    assert admin["username"] == "admin"
    assert admin["roles"] == ["admin"]
    assert admin["member"] is None
    assert admin["month"] is None


def test_api_me_without_points_has_no_rank(
    month: SmallTown, client: TestClient[Litestar], browser: Browser
) -> None:
    browser.login("secretary2")
    month_standing = client.get("/api/me").json()["month"]
    assert month_standing["points"] == "0.0"
    assert month_standing["rank"] is None


def test_api_member_board(member: Browser) -> None:
    response = member.client.get(f"/api/boards/{PERIOD}/members")
    assert response.status_code == 200
    board = response.json()
    assert board["period"] == PERIOD
    assert "member" in board["tie_order"]
    assert [(m["rank"], m["tied"], m["name"], m["points"]) for m in board["members"]] == [
        (1, False, "刘洋", "9.0"),
        (2, True, "张伟", "6.0"),
        (2, True, "李娜", "6.0"),
        (4, False, "王书记", "1.0"),
    ]
    assert all(isinstance(m["points"], str) for m in board["members"])
    assert board["exempt"] == []


def test_api_branch_board(member: Browser, month: SmallTown) -> None:
    response = member.client.get(f"/api/boards/{PERIOD}/branches")
    assert response.status_code == 200
    board = response.json()
    assert board["period"] == PERIOD
    assert "branch code" in board["tie_order"]
    by_id = {b["branch_id"]: b for b in board["branches"]}
    assert [b["branch_id"] for b in board["branches"]] == [month.jinwan, month.baoyuan]
    jinwan, baoyuan = by_id[month.jinwan], by_id[month.baoyuan]
    assert (jinwan["total"], jinwan["members"], jinwan["per_member"]) == ("13.0", 3, "4.33")
    assert (baoyuan["total"], baoyuan["members"], baoyuan["per_member"]) == ("9.0", 2, "4.50")
    assert (jinwan["rank_total"], jinwan["rank_per_member"]) == (1, 2)
    assert (baoyuan["rank_total"], baoyuan["rank_per_member"]) == (2, 1)
    assert jinwan["participation_percent"] == "100.0"
    assert baoyuan["participation_percent"] == "50.0"
    assert jinwan["kind"] == "joint" and baoyuan["kind"] == "single"


def test_api_malformed_month_is_a_json_404(member: Browser) -> None:
    response = member.client.get("/api/boards/2026-13/members")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["status_code"] == 404


@pytest.mark.parametrize(
    "path", ["/api/me", f"/api/boards/{PERIOD}/members", f"/api/boards/{PERIOD}/branches"]
)
def test_the_api_without_a_session_is_401_json_not_a_redirect(
    month: SmallTown, client: TestClient[Litestar], path: str
) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 401
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status_code"] == 401
    assert body["detail"]


def test_the_openapi_schema_lists_the_api(client: TestClient[Litestar]) -> None:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ["/api/me", "/api/boards/{period}/members", "/api/boards/{period}/branches"]:
        assert path in paths
        assert "get" in paths[path]
    # Points are documented as decimal strings, never numbers.
    schemas = response.json()["components"]["schemas"]
    assert schemas["MonthStanding"]["properties"]["points"]["type"] == "string"
