"""The notice-board print view in a real Chromium: it prints on A4 with every member
line, nothing wider than the paper; and the period pages (quarter, year, branches with
charts, a branch's trend, achievements) fit a 390 px phone without sideways scrolling."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from service.persistence.db import Database
from service.scoring.rules import Rulebook
from tests.conftest import PASSWORD, SmallTown
from tests.integration.test_period_views import STREET_LIGHTS, seed_half_year

pytestmark = pytest.mark.browser

PHONE_390 = {"width": 390, "height": 844}
# A4 in PostScript points (1/72 in): 210 × 297 mm.
A4_POINTS = (595.3, 841.9)
# The printable width of A4 at CSS's 96 px per inch with the sheet's 12 mm margins.
A4_PRINTABLE_PX = round((210 - 2 * 12) / 25.4 * 96)
MEDIA_BOX = re.compile(rb"/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]")


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def page_sizes(pdf: bytes) -> list[tuple[float, float]]:
    return [
        (float(x1) - float(x0), float(y1) - float(y0)) for x0, y0, x1, y1 in MEDIA_BOX.findall(pdf)
    ]


def assert_fits_width(page: Page, width: int, what: str) -> None:
    scroll_width = int(page.evaluate("document.documentElement.scrollWidth"))
    assert scroll_width <= width, f"{what} is {scroll_width} px wide on a {width} px page"


def test_the_print_view_prints_on_a4_with_every_member(
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    seed_half_year(database, town, rulebook)
    page = new_context(viewport={"width": A4_PRINTABLE_PX, "height": 1100}).new_page()
    sign_in(page, "member")
    page.goto("/boards/2026-Q1/print")
    page.emulate_media(media="print")
    expect(page.locator("h1")).to_contain_text("2026年第1季度")
    expect(page.locator("nav")).to_have_count(0)  # no navigation chrome on the sheet

    members = page.locator(".print-members tbody tr")
    expect(members).to_have_count(4)  # every ranked member of the quarter
    assert members.nth(0).inner_text().split("\t")[:2] == ["1", "刘洋"]
    for table in (".print-members", ".print-branch-table"):
        overflow = page.evaluate(
            "(selector) => { const t = document.querySelector(selector);"
            " return [t.scrollWidth, t.clientWidth, t.getBoundingClientRect().right]; }",
            table,
        )
        scroll_width, client_width, right = overflow
        assert scroll_width <= client_width, f"{table} overflows its box"
        assert right <= A4_PRINTABLE_PX, f"{table} ends at {right} px, past the paper"
    assert_fits_width(page, A4_PRINTABLE_PX, "the print view")
    screenshot(page, "24-board-print-a4")

    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF")
    sizes = page_sizes(pdf)
    assert sizes, "no page in the PDF"
    for width, height in sizes:
        assert width == pytest.approx(A4_POINTS[0], abs=1.5)
        assert height == pytest.approx(A4_POINTS[1], abs=1.5)
    # Four members and two branches fit on one sheet of the notice board.
    assert len(sizes) == 1
    (Path(__file__).resolve().parent / "screenshots" / "24-board-print-a4.pdf").write_bytes(pdf)


def test_the_period_pages_fit_a_phone(
    town: SmallTown,
    database: Database,
    rulebook: Rulebook,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    seed_half_year(database, town, rulebook)
    page = new_context(viewport=PHONE_390, is_mobile=True).new_page()
    sign_in(page, "member")
    pages = [
        ("/boards/2026-Q1", "20-board-quarter-phone", "刘洋"),
        ("/boards/2026", "21-board-year-stars-phone", "★★"),
        ("/boards/2026-01/branches?sort=participation", "22-branches-charts-phone", "50.0%"),
        (f"/boards/2026-04/branches/{town.jinwan}", "23-branch-trend-phone", "2026-04"),
        (f"/achievements/{town.jinwan}?year=2026", "25-branch-achievements-phone", STREET_LIGHTS),
    ]
    for path, name, expected in pages:
        page.goto(path)
        expect(page.locator("main")).to_contain_text(expected)
        for chart in page.locator("svg.chart-svg").all():
            box = chart.bounding_box()
            assert box is not None and box["width"] <= PHONE_390["width"]
        assert_fits_width(page, PHONE_390["width"], path)
        screenshot(page, name)
