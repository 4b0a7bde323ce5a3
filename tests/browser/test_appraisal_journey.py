"""Issue 18's appraisal journey, through the pages, in Chinese: the secretary of 金湾
opens the 2025 sheet on a 390 px phone, fills it, departs from one suggestion (first
without a reason: the page says so beside the field and keeps what was typed, then
with it) and submits; the instructor approves and freezes it; the member reads their own
line; the approved sheet prints on A4 with the departure's reason on it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from service.assessment.appraisal_lists import verify_appraisals
from service.persistence.db import Database
from service.publication.chain import verify_chain
from service.scoring.rules import Rulebook
from tests.browser.test_checkin_journey import page_problems, signed_in
from tests.browser.test_journey import zh
from tests.browser.test_print_a4 import A4_POINTS, A4_PRINTABLE_PX, assert_fits_width, page_sizes
from tests.conftest import PASSWORD, SmallTown
from tests.functional.appraisal_world import line_ids

pytestmark = pytest.mark.browser

# The pages ask the clock whether the year's appraisal may open (from 1 December on).
OPENED = datetime(2025, 12, 20, 2, 0, tzinfo=UTC)
DEPARTURE = "全年三次无故缺席主题党日"
# self-assessment, mutual assessment, branch meeting's grade, decided grade
SHEET = {
    "member": ("95", "96", "excellent", "excellent"),
    "member2": ("85", "80", "qualified", "basic"),  # departs from 合格
    "secretary": ("88", "84", "qualified", "qualified"),
}


@pytest.fixture(autouse=True)
def december(monkeypatch: pytest.MonkeyPatch) -> None:
    """The live server runs in this process: its appraisal pages see December 2025."""
    monkeypatch.setattr("web.appraisals.views.utcnow", lambda: OPENED)


def assert_fits(page: Page, what: str) -> None:
    problems = page_problems(page)
    assert problems == [], f"{what}: {problems}"


def test_the_secretary_fills_departs_with_a_reason_the_instructor_approves_it_prints_on_a4(
    database: Database,
    rulebook: Rulebook,
    town: SmallTown,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    secretary = signed_in(new_context, "secretary")

    # 1. The secretary opens 金湾's 2025 sheet from the list.
    secretary.goto("/appraisals")
    expect(secretary.locator("h1")).to_have_text(zh("Annual appraisal of members"))
    assert_fits(secretary, "the appraisal list")
    row = secretary.locator(f"tr#branch-{town.jinwan}")
    expect(row).to_contain_text(zh("Not opened"))
    row.get_by_role("button", name=zh("Open the %(year)s appraisal") % {"year": 2025}).click()
    expect(secretary).to_have_url(re.compile(r"/appraisals/\d+\?done=opened$"))
    found = re.search(r"/appraisals/(\d+)", secretary.url)
    assert found is not None
    appraisal_id = int(found.group(1))
    sheet = f"/appraisals/{appraisal_id}"
    expect(secretary.locator("main")).to_contain_text(zh("Being filled in"))
    lines = line_ids(database, town, appraisal_id)
    assert set(lines) == set(SHEET)  # the exempt elder is not appraised
    expect(secretary.locator("table.appraisal-sheet tbody tr")).to_have_count(3)
    screenshot(secretary, "appraisal-01-sheet-open")
    assert_fits(secretary, "the open sheet")

    # 2. She fills every line, departing from 李娜's suggestion without a reason first.
    for name, (self_review, mutual, branch_grade, decided) in SHEET.items():
        key = f"l{lines[name]}"
        secretary.fill(f"#{key}-self_review", self_review)
        secretary.fill(f"#{key}-mutual_review", mutual)
        secretary.select_option(f"#{key}-branch_grade", branch_grade)
        secretary.select_option(f"#{key}-grade", decided)
    departing = f"l{lines['member2']}"
    secretary.get_by_role("button", name=zh("Save and submit for approval")).click()
    error = secretary.locator(f"#{departing}-departure_reason-error")
    expect(error).to_have_text(zh("The grade departs from the suggestion: give the reason."))
    expect(secretary.locator(f"#{departing}-departure_reason")).to_have_attribute(
        "aria-invalid", "true"
    )
    # What was typed is still there; the suggestion shows the departure.
    expect(secretary.locator(f"#{departing}-self_review")).to_have_value("85")
    expect(secretary.locator(f"#{departing}-grade")).to_have_value("basic")
    expect(secretary.locator(f"tr#line-{lines['member2']}")).to_contain_text(zh("Qualified"))
    expect(secretary.locator(f"tr#line-{lines['member2']}")).to_contain_text(zh("departs"))
    screenshot(secretary, "appraisal-02-reason-missing")
    assert_fits(secretary, "the sheet refused for a missing reason")

    # ...then gives the reason and submits.
    secretary.fill(f"#{departing}-departure_reason", DEPARTURE)
    secretary.get_by_role("button", name=zh("Save and submit for approval")).click()
    expect(secretary).to_have_url(re.compile(rf"{sheet}\?done=submitted$"))
    expect(secretary.locator(".notice").first).to_have_text(
        zh("The sheet was submitted for approval.")
    )
    expect(secretary.locator(".appraisal-facts")).to_contain_text(
        zh("Submitted, awaiting approval")
    )
    expect(secretary.locator(f"tr#line-{lines['member2']}")).to_contain_text(DEPARTURE)
    expect(secretary.get_by_role("button", name=zh("Approve and freeze the sheet"))).to_have_count(
        0
    )
    screenshot(secretary, "appraisal-03-submitted")
    assert_fits(secretary, "the submitted sheet")

    # 3. The instructor of 金湾 approves it.
    instructor = signed_in(new_context, "instructor")
    instructor.goto("/appraisals")
    instructor.locator(f"tr#branch-{town.jinwan}").get_by_role(
        "link", name=zh("Open the sheet")
    ).click()
    departing_row = instructor.locator(f"tr#line-{lines['member2']}")
    expect(departing_row).to_contain_text(DEPARTURE)
    # The mutual assessment reads as typed ("80"; it once came back as "8E+1").
    expect(departing_row.locator("td").nth(3)).to_have_text("80")
    assert_fits(instructor, "the sheet to approve")
    instructor.get_by_role("button", name=zh("Approve and freeze the sheet")).click()
    expect(instructor).to_have_url(re.compile(rf"{sheet}\?done=approved$"))
    expect(instructor.locator(".notice").first).to_have_text(
        zh("The sheet is approved and frozen.")
    )
    expect(instructor.locator(".appraisal-facts")).to_contain_text(zh("Approved and frozen"))
    expect(instructor.locator("code.digest")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    screenshot(instructor, "appraisal-04-approved")
    assert_fits(instructor, "the approved sheet")

    # Frozen: the secretary sees no form any more.
    secretary.goto(sheet)
    expect(secretary.locator("form.appraisal-form")).to_have_count(0)
    expect(secretary.locator(".appraisal-facts")).to_contain_text(zh("Approved and frozen"))

    # 4. 李娜 reads her own line, with the reason, on her phone; 张伟 does not see it.
    member2 = signed_in(new_context, "member2")
    member2.goto("/appraisals")
    own = member2.locator("ul.own-appraisals")
    expect(own).to_contain_text(zh("Basically qualified"))
    expect(own).to_contain_text(DEPARTURE)
    screenshot(member2, "appraisal-05-member-own-line")
    assert_fits(member2, "the member's own appraisal")
    member = signed_in(new_context, "member")
    member.goto("/appraisals")
    expect(member.locator("ul.own-appraisals")).to_contain_text(zh("Excellent"))
    expect(member.locator("main")).not_to_contain_text(DEPARTURE)
    member.goto(sheet)  # another's sheet: not found
    expect(member.locator("main")).not_to_contain_text(DEPARTURE)

    # 5. The approved sheet prints on A4, the departure and its reason on it.
    paper = signed_in_desktop(new_context, "secretary", A4_PRINTABLE_PX)
    paper.goto(f"{sheet}/print")
    paper.emulate_media(media="print")
    expect(paper.locator("h1")).to_contain_text("金湾工业园区联合党支部")
    expect(paper.locator("nav")).to_have_count(0)
    expect(paper.locator("main")).to_contain_text(
        zh("Departs from the suggestion: %(reason)s") % {"reason": DEPARTURE}
    )
    expect(paper.locator("main")).to_contain_text(zh("Branch secretary (signature):"))
    printed_row = paper.locator("tbody tr", has_text="李娜")
    expect(printed_row).to_contain_text("80")
    expect(printed_row).not_to_contain_text("E+")
    assert_fits_width(paper, A4_PRINTABLE_PX, "the printed sheet")
    assert_fits(paper, "the print sheet")
    screenshot(paper, "appraisal-06-print-a4")
    pdf = paper.pdf(format="A4", print_background=True)
    sizes = page_sizes(pdf)
    assert sizes, "no page in the PDF"
    for width, height in sizes:
        assert width == pytest.approx(A4_POINTS[0], abs=1.5)
        assert height == pytest.approx(A4_POINTS[1], abs=1.5)
    assert len(sizes) == 1  # three members fit on one sheet

    with database.transaction(write=False) as session:
        assert verify_appraisals(session, rulebook) == []
        report = verify_chain(session)
        assert report.ok, report


def signed_in_desktop(
    new_context: Callable[..., BrowserContext], username: str, width: int
) -> Page:
    page = new_context(viewport={"width": width, "height": 1100}).new_page()
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)
    return page
