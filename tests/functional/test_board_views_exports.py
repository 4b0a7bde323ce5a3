"""The period views through HTTP: quarter and year boards with stars, branches by
participation, the publication banner, the A4 print view, CSV / XLSX downloads, the
SVG charts and a branch's achievements page. Deductions and their reasons never show."""

from __future__ import annotations

import csv
import io
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from openpyxl import load_workbook
from sqlalchemy import update

from service.boards.live import member_board
from service.persistence.db import Database
from service.persistence.models import Branch, PointsSummary
from service.persistence.types import utcnow
from service.publication.publish import publish_month
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown
from tests.integration.test_period_views import (
    PRIVATE_REASON,
    SHIRKING_REASON,
    STREET_LIGHTS,
    HalfYear,
    seed_half_year,
)

HOST = "testserver.local"
TABLE_ROW = re.compile(r"<tr>(.*?)</tr>", re.DOTALL)
CELL = re.compile(r"<t[dh][^>]*>(.*?)</t[dh]>", re.DOTALL)
TAG = re.compile(r"<[^>]+>")
PRIVATE = [PRIVATE_REASON, SHIRKING_REASON, "Missed a study session", "Shirked duties", "flag"]


def rows(html: str) -> list[list[str]]:
    """Board body rows (a plain ``<tr>``; chart data tables mark theirs) as cell texts."""
    found = []
    for row in TABLE_ROW.findall(html):
        cells = [" ".join(TAG.sub(" ", cell).split()) for cell in CELL.findall(row)]
        if cells and "<td" in row:
            found.append(cells)
    return found


def assert_private_stays_private(html: str) -> None:
    for text in PRIVATE:
        assert text not in html, f"{text!r} is on a public page"


@pytest.fixture
def half_year(database: Database, town: SmallTown, rulebook: Rulebook) -> HalfYear:
    return seed_half_year(database, town, rulebook)


@pytest.fixture
def member(half_year: HalfYear, make_browser: Any) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login("member")
    return browser


# --- quarter and year ----------------------------------------------------------------


def test_the_quarter_board_adds_its_months(member: Browser) -> None:
    page = member.client.get("/boards/2026-Q1")
    assert page.status_code == 200
    assert "Members board Q1 2026" in page.text
    assert [(c[0], c[1], c[-1]) for c in rows(page.text)] == [
        ("1", "刘洋", "14.0"),
        ("2", "张伟", "5.0"),
        ("3", "李娜", "4.0"),
        ("4", "陈书记", "-10.0"),
    ]
    assert "This board adds the points of each month of Q1 2026." in page.text
    assert "Not yet published, figures may change: 2026-01, 2026-02, 2026-03." in page.text
    assert "Stars" not in page.text  # stars belong to the year
    assert_private_stays_private(page.text)


def test_the_year_board_shows_stars_but_never_a_flag(member: Browser) -> None:
    page = member.client.get("/boards/2026")
    assert page.status_code == 200
    board = {c[1]: c for c in rows(page.text)}
    assert list(board) == ["刘洋", "李娜", "张伟", "王书记", "陈书记"]
    assert board["刘洋"][3] == "★★ 2 stars"  # 60 + 14 = 74
    assert board["张伟"][3] == "★ 1 star"  # 60 + 5 = 65
    assert board["陈书记"][3] == ""  # 60 - 10 = 50: below the first star, shown as nothing
    assert "the base score plus the year's points" in page.text
    assert_private_stays_private(page.text)


def test_the_period_navigation_links_month_quarter_and_year(member: Browser) -> None:
    month = member.client.get("/boards/2026-02").text
    assert 'href="/boards/2026-Q1"' in month
    assert 'href="/boards/2026"' in month
    assert 'href="/boards/2026-01" rel="prev"' in month
    assert 'href="/boards/2026-03" rel="next"' in month
    quarter = member.client.get("/boards/2026-Q1/branches").text
    assert 'href="/boards/2025-Q4/branches" rel="prev"' in quarter
    assert 'href="/boards/2026-Q2/branches" rel="next"' in quarter
    year = member.client.get("/boards/2026").text
    assert 'href="/boards/2025" rel="prev"' in year
    assert 'aria-current="page">Year</a>' in year


@pytest.mark.parametrize(
    "path", ["/boards/2026-Q5", "/boards/2026-q1", "/boards/26", "/boards/2026-Q1x/branches"]
)
def test_a_malformed_period_is_not_found(member: Browser, path: str) -> None:
    assert member.client.get(path).status_code == 404


def test_a_branch_board_for_the_year_ranks_its_members_with_stars(
    member: Browser, half_year: HalfYear
) -> None:
    page = member.client.get(f"/boards/2026/branches/{half_year.town.baoyuan}")
    assert page.status_code == 200
    assert [(c[0], c[1], c[2], c[3]) for c in rows(page.text)] == [
        ("1", "刘洋", "★★ 2 stars", "14.0"),
        ("2", "陈书记", "", "-10.0"),
    ]
    assert_private_stays_private(page.text)


# --- branches ------------------------------------------------------------------------


def test_branches_rank_by_participation_with_the_order_stated(member: Browser) -> None:
    page = member.client.get("/boards/2026-01/branches", params={"sort": "participation"})
    assert page.status_code == 200
    table = rows(page.text)
    # January: 宝元 1 of 2 members took part, 金湾 1 of 3.
    assert [(c[0], c[1].split(" ")[0], c[5]) for c in table] == [
        ("1", "宝元鞋厂党支部", "50.0%"),
        ("2", "金湾工业园区联合党支部", "33.3%"),
    ]
    assert "total points: 2" in table[0][6]  # its rank by the other metrics
    assert "share of those members with at least one approved entry" in page.text
    assert "listed by branch code" in page.text
    # The rules' headline metric is marked.
    assert re.search(r"points per member</a> <span class=\"badge\">headline", page.text)


# --- publication banner --------------------------------------------------------------


def test_an_open_month_says_it_is_not_yet_published(member: Browser) -> None:
    page = member.client.get("/boards/2026-02")
    assert "Not yet published: these are live figures and may change" in page.text


def test_a_published_month_shows_its_stored_board_and_window(
    member: Browser, database: Database, rulebook: Rulebook, half_year: HalfYear
) -> None:
    """February is published, then its live figures change behind the publication (刘洋's
    summary line gains a point, written directly): every page must show the stored rows,
    so recomputing would be caught."""
    with database.transaction() as session:
        publication = publish_month(
            session, half_year.town.principal(database, "admin"), rulebook, "2026-02", now=utcnow()
        )
        window_ends_at = publication.window_ends_at
    liu = half_year.town.member_ids["member3"]
    with database.transaction() as session:
        session.execute(
            update(PointsSummary)
            .where(PointsSummary.member_id == liu, PointsSummary.period == "2026-02")
            .values(points=PointsSummary.points + 1)
        )
    with database.transaction(write=False) as session:
        first = member_board(session, "2026-02").ranked[0]
    assert (first.item.name, f"{first.item.points:.1f}") == ("刘洋", "13.0")  # live: changed
    # The notice window's end as the pages write it: short, in the town's time.
    until = format_datetime(
        window_ends_at.astimezone(ZoneInfo("Asia/Shanghai")), format="short", locale="en"
    )

    page = member.client.get("/boards/2026-02")
    assert [(c[1], c[-1]) for c in rows(page.text)] == [
        ("刘洋", "12.0"),
        ("李娜", "1.0"),
        ("张伟", "-3.0"),
    ]
    assert "Published on" in page.text and "revision 1" in page.text
    assert f"Objections are taken until {until}" in page.text  # in the town's time
    assert "Not yet published" not in page.text
    quarter = member.client.get("/boards/2026-Q1").text
    assert "Published: 2026-02." in quarter
    assert "Not yet published, figures may change: 2026-01, 2026-03." in quarter
    printed = member.client.get("/boards/2026-02/print").text
    assert f"Notice period ends on {until}" in printed
    exported = member.client.get("/boards/2026-02/members.csv").content.decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(exported)))[1][-1] == "12.0"


# --- print ---------------------------------------------------------------------------


def test_the_print_view_is_a_bare_a4_notice(member: Browser) -> None:
    page = member.client.get("/boards/2026-02/print")
    assert page.status_code == 200
    html = page.text
    assert "<nav" not in html and "Sign out" not in html  # no navigation chrome
    assert "<title>Party member points notice, February 2026</title>" in html
    # No town is set here: no issuer line, nothing naming a town that is not there.
    assert "print-issuer" not in html and "Town Party Committee" not in html
    assert "points for activities dated in February 2026" in html
    assert "Not yet published: a draft for checking" in html
    assert "http://testserver.local/boards/2026-02" in html  # where to object
    assert "or tell the organisation office." in html
    assert [c[1] for c in rows(html)][:3] == ["刘洋", "李娜", "张伟"]
    assert "宝元鞋厂党支部" in html  # the branches section
    assert_private_stays_private(html)
    css = member.client.get("/static/app.css").text
    assert "@page { size: A4" in css


# --- exports -------------------------------------------------------------------------


def csv_rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def xlsx_rows(response: Any) -> list[tuple[Any, ...]]:
    """The table of an XLSX export, headings first: below its one title line (the
    app here names no town, hence no committee line either)."""
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    title, *table = sheet.iter_rows(values_only=True)
    assert str(title[0]).startswith(("Party member points", "Party branch points")), title
    assert sheet.freeze_panes == "A3"  # the headings stay in view
    return table


@pytest.mark.parametrize("period", ["2026-02", "2026-Q1", "2026"])
def test_member_exports_equal_the_board(member: Browser, period: str) -> None:
    board = [(c[0], c[1], c[2], c[-1]) for c in rows(member.client.get(f"/boards/{period}").text)]
    response = member.client.get(f"/boards/{period}/members.csv")
    assert f'filename="jifen-members-{period}.csv"' in response.headers["content-disposition"]
    from_csv = csv_rows(response)
    assert from_csv[0][:5] == ["Rank", "Tied", "Name", "Branch", "Points"]
    assert [(r[0], r[2], r[3], r[4]) for r in from_csv[1:]] == board
    from_xlsx = xlsx_rows(member.client.get(f"/boards/{period}/members.xlsx"))
    assert list(from_xlsx[0][:5]) == ["Rank", "Tied", "Name", "Branch", "Points"]
    assert [(str(r[0]), r[2], r[3], f"{r[4]:.1f}") for r in from_xlsx[1:]] == board
    assert all(isinstance(r[4], int | float) for r in from_xlsx[1:])  # numbers, not text
    for text in PRIVATE[:2]:
        assert text not in response.content.decode("utf-8-sig")


def test_the_year_export_carries_the_stars(member: Browser) -> None:
    table = xlsx_rows(member.client.get("/boards/2026/members.xlsx"))
    assert table[0][-1] == "Stars"
    stars = {row[2]: row[-1] for row in table[1:]}
    assert stars == {"刘洋": 2, "李娜": 1, "张伟": 1, "王书记": 1, "陈书记": None}


@pytest.mark.parametrize("sort", ["total", "per_member", "participation"])
def test_branch_exports_follow_each_metric(member: Browser, sort: str) -> None:
    page = member.client.get("/boards/2026-01/branches", params={"sort": sort}).text
    board = [(c[0], c[1].split(" ")[0], c[2]) for c in rows(page)]
    from_csv = csv_rows(member.client.get("/boards/2026-01/branches.csv", params={"sort": sort}))
    assert [(r[0], r[2], r[4]) for r in from_csv[1:]] == board
    assert "Rank by participation" in from_csv[0]
    from_xlsx = xlsx_rows(member.client.get("/boards/2026-01/branches.xlsx", params={"sort": sort}))
    assert [(str(r[0]), r[2], f"{r[4]:.1f}") for r in from_xlsx[1:]] == board


def test_a_branch_members_export(member: Browser, half_year: HalfYear) -> None:
    path = f"/boards/2026/branches/{half_year.town.jinwan}/members"
    from_csv = csv_rows(member.client.get(f"{path}.csv"))
    assert [(r[2], r[4], r[5]) for r in from_csv[1:]] == [
        ("李娜", "6.0", "1"),
        ("张伟", "5.0", "1"),
        ("王书记", "1.0", "1"),
    ]
    assert member.client.get("/boards/2026/branches/999999/members.csv").status_code == 404


def test_exports_need_a_sign_in(half_year: HalfYear, make_browser: Any) -> None:
    anonymous: Browser = make_browser()
    response = anonymous.client.get("/boards/2026-02/members.csv", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


# --- charts --------------------------------------------------------------------------


def svg(html: str, chart_id: str) -> str:
    match = re.search(rf'<figure class="chart" id="{chart_id}">(.*?)</figure>', html, re.DOTALL)
    assert match, f"no chart {chart_id}"
    return match.group(1)


def test_the_branches_page_draws_top_branches_and_rule_groups(member: Browser) -> None:
    page = member.client.get("/boards/2026-Q1/branches").text
    top = svg(page, "chart-top-branches")
    assert 'role="img"' in top and "aria-labelledby" in top
    assert '<title id="chart-top-branches-title">Top branches by total points, Q1 2026' in top
    assert "1. 金湾工业园区联合党支部 · 9.0" in top
    groups = svg(page, "chart-rule-groups")
    assert "Rewards · 26.0" in groups
    assert "Deductions · -13.0" in groups
    assert groups.count("chart-bar-negative") == 1  # only the deductions bar
    assert "Adjustments" not in groups  # none this quarter
    # The data table fallback holds the same figures.
    assert re.search(r'<th scope="row">Deductions</th><td class="num">-13.0</td>', groups)


def test_a_branch_page_draws_its_monthly_trend(member: Browser, half_year: HalfYear) -> None:
    page = member.client.get(f"/boards/2026-04/branches/{half_year.town.jinwan}").text
    trend = svg(page, "chart-branch-trend")
    assert "points per month, 2025-05 to 2026-04" in trend
    assert '<th scope="row">2026-02</th><td class="num">-2.0</td>' in trend
    assert '<th scope="row">2026-01</th><td class="num">8.0</td>' in trend
    assert "chart-bar-negative" in trend  # February hangs below zero


def test_an_empty_period_draws_an_empty_chart(member: Browser) -> None:
    page = member.client.get("/boards/2025-03/branches").text
    assert "Rewards · 0.0" in svg(page, "chart-rule-groups")


def test_chart_text_is_escaped(member: Browser, database: Database, half_year: HalfYear) -> None:
    with database.transaction() as session:
        session.execute(
            update(Branch)
            .where(Branch.id == half_year.town.jinwan)
            .values(name='金湾<script>alert("x")</script>')
        )
    page = member.client.get("/boards/2026-Q1/branches").text
    assert "<script>" not in page
    assert "金湾&lt;script&gt;" in svg(page, "chart-top-branches")


# --- achievements --------------------------------------------------------------------


def test_a_branch_achievements_page(member: Browser, half_year: HalfYear) -> None:
    page = member.client.get(f"/achievements/{half_year.town.jinwan}", params={"year": 2026})
    assert page.status_code == 200
    html = page.text
    assert "Achievements of 金湾工业园区联合党支部, 2026" in html
    # Month of 2026: good deeds, suggestions made / adopted / implemented, hours.
    months = {c[0]: c[1:] for c in rows(html)}
    assert months["01"] == ["1", "0", "0", "0", "2.0"]
    assert months["02"] == ["0", "1", "0", "0", "0.0"]
    assert months["03"] == ["0", "0", "1", "0", "0.0"]
    assert months["04"] == ["0", "0", "0", "1", "0.0"]
    assert STREET_LIGHTS in html  # the suggestion's title
    assert "implemented on" in html
    assert_private_stays_private(html)
    main = html.split('<main id="main">', 1)[1]  # the header names the viewer, 张伟
    assert "王书记" not in main and "张伟" not in main  # the branch's, not the people's


def test_achievements_are_open_to_every_signed_in_user(
    half_year: HalfYear, make_browser: Any
) -> None:
    other: Browser = make_browser()
    other.login("member3")  # 宝元, reading 金湾's page
    assert other.client.get(f"/achievements/{half_year.town.jinwan}").status_code == 200
    assert other.client.get("/achievements/999999").status_code == 404
    assert other.client.get(f"/achievements/{half_year.town.jinwan}?year=2999").status_code == 404
    anonymous: Browser = make_browser()
    response = anonymous.client.get(
        f"/achievements/{half_year.town.jinwan}", follow_redirects=False
    )
    assert response.status_code == 303


def test_the_branch_board_links_to_the_achievements(member: Browser, half_year: HalfYear) -> None:
    page = member.client.get(f"/boards/2026-02/branches/{half_year.town.jinwan}").text
    assert f'href="/achievements/{half_year.town.jinwan}?year=2026"' in page


def test_a_really_published_month_shows_its_banner_everywhere(
    member: Browser, database: Database, rulebook: Rulebook, half_year: HalfYear
) -> None:
    with database.transaction() as session:
        publish_month(
            session,
            half_year.town.principal(database, "admin"),
            rulebook,
            "2026-02",
            now=utcnow(),
        )
    page = member.client.get("/boards/2026-02").text
    assert "Published on" in page and "revision 1." in page
    assert "Objections are taken until" in page
    assert "Not yet published: these are live" not in page
    assert "does not match its digest" not in page
    board = [(c[0], c[1], c[-1]) for c in rows(page)]
    assert board == [("1", "刘洋", "12.0"), ("2", "李娜", "1.0"), ("3", "张伟", "-3.0")]
    branch = member.client.get(f"/boards/2026-02/branches/{half_year.town.jinwan}").text
    assert [(c[0], c[1]) for c in rows(branch)] == [("1", "李娜"), ("2", "张伟")]
    exported = csv_rows(member.client.get("/boards/2026-02/members.csv"))
    assert [(r[0], r[2], r[4]) for r in exported[1:]] == board
    assert "Notice period ends on" in member.client.get("/boards/2026-02/print").text
    year = member.client.get("/boards/2026").text
    assert "Published: 2026-02." in year
