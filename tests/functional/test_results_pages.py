"""The published results lists through HTTP: the index, a list's page (rank order,
paged, stars with words for screen readers, digest and notice window), its A4 print
sheet, its CSV / XLSX downloads (formulas neutralised), the JSON API, 404s for what is
not published, and the blocks on the board page and a branch's achievements page."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from service.persistence.assessment import PublishedResultRow
from service.persistence.db import Database
from service.persistence.models import PublicationKind
from service.persistence.types import utcnow
from service.publication.results import ResultLine, publish_results
from tests.conftest import Browser, SmallTown
from tests.functional.test_exports_injection import csv_problems, xlsx_problems

HOST = "testserver.local"
EVIL = '=HYPERLINK("http://evil.example","x")'


def sign_in(browser: Browser, username: str) -> None:
    """Signed in, reading English."""
    browser.login(username)
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)


def publish(
    database: Database, town: SmallTown, kind: PublicationKind, period: str,
    lines: list[ResultLine], *, days_ago: int = 0,
) -> None:  # fmt: skip
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        publish_results(
            session, admin, kind=kind, period=period, lines=lines, ruleset_version="2025.1",
            notice_days=7, now=utcnow() - timedelta(days=days_ago),
        )  # fmt: skip


def stars_lines(town: SmallTown) -> list[ResultLine]:
    return [
        ResultLine(town.jinwan, "B001", "金湾工业园区联合党支部", town.jinwan,
                   "金湾工业园区联合党支部", "91.5", "4", 1),
        ResultLine(town.baoyuan, "B002", "宝元鞋厂党支部", town.baoyuan, "宝元鞋厂党支部",
                   "78.0", "3", 2),
    ]  # fmt: skip


def red_lines(town: SmallTown, count: int = 2) -> list[ResultLine]:
    names = ["张伟", "李娜"] + [f"成员{i}" for i in range(count)]
    return [
        ResultLine(5000 + i, f"M{i:04d}", names[i], town.jinwan, "金湾工业园区联合党支部",
                   f"{60 - i / 2:.1f}", "red", i + 1)
        for i in range(count)
    ]  # fmt: skip


@pytest.fixture
def published(database: Database, town: SmallTown) -> SmallTown:
    publish(database, town, PublicationKind.RED_LIST, "2026-Q1", red_lines(town), days_ago=30)
    publish(database, town, PublicationKind.BRANCH_STARS, "2025", stars_lines(town))
    return town


def test_a_member_sees_the_index_and_a_stars_list(browser: Browser, published: SmallTown) -> None:
    sign_in(browser, "member")
    index = browser.client.get("/results")
    assert index.status_code == 200
    assert "/results/branch_stars/2025" in index.text and "/results/red_list/2026-Q1" in index.text
    page = browser.client.get("/results/branch_stars/2025")
    assert page.status_code == 200
    text = page.text
    # In rank order, stars for the eye and in words for a screen reader.
    assert text.index("金湾工业园区联合党支部") < text.index("宝元鞋厂党支部")
    assert "★★★★<" in text and 'class="visually-hidden">4 stars<' in text
    assert "digest-ok" in text and "digest-broken" not in text
    assert "/results/branch_stars/2025/print" in text
    # The red list's notice window closed a while ago: final.
    red = browser.client.get("/results/red_list/2026-Q1")
    assert "this list is final" in red.text and "张伟" in red.text


def test_a_signed_out_visitor_is_sent_to_sign_in(browser: Browser, published: SmallTown) -> None:
    for path in ["/results", "/results/branch_stars/2025", "/results/branch_stars/2025/list.csv"]:
        response = browser.client.get(path, follow_redirects=False)
        assert response.status_code in (302, 303, 401), path


@pytest.mark.parametrize(
    "path",
    [
        "/results/branch_stars/2024",
        "/results/excellent/2025",
        "/results/month/2025",
        "/results/nonsense/2025",
        "/results/red_list/2026-Q2/print",
        "/results/branch_stars/2026/list.csv",
        "/results/excellent/2025/list.xlsx",
    ],
)
def test_what_is_not_published_is_404(browser: Browser, published: SmallTown, path: str) -> None:
    sign_in(browser, "member")
    assert browser.client.get(path).status_code == 404


def test_a_long_list_is_paged(browser: Browser, database: Database, town: SmallTown) -> None:
    publish(database, town, PublicationKind.EXCELLENT, "2025", red_lines(town, 55))
    sign_in(browser, "member2")
    first = browser.client.get("/results/excellent/2025")
    assert "成员48" not in first.text and "?page=2" in first.text
    second = browser.client.get("/results/excellent/2025?page=2")
    assert "成员48" in second.text and "成员52" in second.text and "张伟" not in second.text


def test_a_changed_line_shows_the_chain_broken(
    browser: Browser, database: Database, published: SmallTown
) -> None:
    with database.transaction() as session:
        session.execute(update(PublishedResultRow).values(value="100.0"))
    sign_in(browser, "member")
    page = browser.client.get("/results/branch_stars/2025").text
    assert "digest-broken" in page and 'role="alert"' in page


def test_the_print_sheet_names_the_issuer_and_the_address(
    browser: Browser, published: SmallTown
) -> None:
    sign_in(browser, "member")
    sheet = browser.client.get("/results/branch_stars/2025/print")
    assert sheet.status_code == 200
    assert "print-sheet" in sheet.text and "/results/branch_stars/2025" in sheet.text
    assert "4 stars" in sheet.text and "91.5" in sheet.text


def test_downloads_are_the_public_lines_and_neutralise_formulas(
    browser: Browser, database: Database, town: SmallTown
) -> None:
    lines = [
        ResultLine(1, "M1", EVIL, town.jinwan, "@SUM(A1)", "12.5", "excellent", 1),
        ResultLine(2, "M2", "李娜", town.jinwan, "金湾", "11.0", "excellent", 2),
    ]
    publish(database, town, PublicationKind.EXCELLENT, "2025", lines)
    sign_in(browser, "member")
    response = browser.client.get("/results/excellent/2025/list.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert 'filename="jifen-excellent-2025.csv"' in response.headers["content-disposition"]
    bad, neutralised = csv_problems(response.content)
    assert bad == [] and "'" + EVIL in neutralised
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[2][1:] == ["李娜", "金湾", "11.0"]
    xlsx = browser.client.get("/results/excellent/2025/list.xlsx")
    bad, _kept = xlsx_problems(xlsx.content)
    assert bad == []
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    assert EVIL in values and 12.5 in values


def test_the_api_lists_and_shows_public_fields_only(browser: Browser, published: SmallTown) -> None:
    sign_in(browser, "member3")
    index = browser.client.get("/api/results")
    assert index.status_code == 200
    kinds = {item["kind"]: item for item in index.json()["lists"]}
    assert set(kinds) == {"red_list", "branch_stars"}
    assert kinds["branch_stars"]["period"] == "2025" and kinds["branch_stars"]["lines"] == 2
    one = browser.client.get("/api/results/branch_stars/2025")
    assert one.status_code == 200
    body = one.json()
    assert body["intact"] is True and body["digest"]
    assert body["lines"][0] == {
        "rank": 1, "subject_id": published.jinwan, "code": "B001",
        "name": "金湾工业园区联合党支部", "branch_id": published.jinwan,
        "branch_name": "金湾工业园区联合党支部", "value": "91.5", "label": "4", "stars": 4,
    }  # fmt: skip
    assert browser.client.get("/api/results/branch_stars/2019").status_code == 404
    assert browser.client.get("/api/results/month/2025").status_code == 404


def test_the_api_needs_a_signed_in_user(client: object, published: SmallTown) -> None:
    from litestar.testing import TestClient

    assert isinstance(client, TestClient)
    assert client.get("/api/results").status_code == 401
    assert client.get("/api/results/branch_stars/2025").status_code == 401


def test_the_board_page_shows_the_stars_and_the_red_list(
    browser: Browser, published: SmallTown
) -> None:
    sign_in(browser, "member")
    page = browser.client.get("/boards").text
    assert 'id="results-stars"' in page
    assert "/results/branch_stars/2025" in page and "金湾工业园区联合党支部" in page
    assert "/results/red_list/2026-Q1" in page


def test_the_board_page_has_no_block_before_any_list(browser: Browser, town: SmallTown) -> None:
    sign_in(browser, "member")
    page = browser.client.get("/boards").text
    assert 'id="results-stars"' not in page


def test_the_achievements_page_shows_the_branch_stars(
    browser: Browser, published: SmallTown
) -> None:
    sign_in(browser, "member3")
    page = browser.client.get(f"/achievements/{published.jinwan}").text
    assert 'id="branch-stars"' in page and "★★★★" in page and "4-star branch" in page
    other = browser.client.get(f"/achievements/{published.baoyuan}").text
    assert "★★★<" in other


@pytest.mark.parametrize("name", ["script", "img", "attribute", "template", "unicode"])
def test_names_on_a_list_come_back_escaped(
    name: str, browser: Browser, database: Database, town: SmallTown
) -> None:
    """A member's or branch's name as stored on a list (the XSS corpus' payloads), on
    every page that shows it: the list, its print sheet, the index, the board's block and
    the achievements page; downloads are not HTML."""
    from tests.functional.test_xss_corpus import PAYLOADS, check_page

    payload = PAYLOADS[name]
    branch = ResultLine(town.jinwan, "B001", payload, town.jinwan, payload, "91.5", "4", 1)
    member = ResultLine(9, "M9", payload, town.jinwan, payload, "12.0", "red", 1)
    publish(database, town, PublicationKind.BRANCH_STARS, "2025", [branch])
    publish(database, town, PublicationKind.RED_LIST, "2026-Q1", [member])
    sign_in(browser, "member")
    problems = []
    for path in [
        "/results",
        "/results/branch_stars/2025",
        "/results/branch_stars/2025/print",
        "/results/red_list/2026-Q1",
        "/results/red_list/2026-Q1/print",
        "/results/red_list/2026-Q1/list.csv",
        "/results/red_list/2026-Q1/list.xlsx",
        "/api/results/red_list/2026-Q1",
        "/boards",
        f"/achievements/{town.jinwan}",
    ]:
        response = browser.client.get(path)
        assert response.status_code == 200, path
        problems += check_page(response, payload, path)
    assert problems == []
