"""The appraisal pages over real HTTP: the secretary fills 金湾's sheet (a bad number is
shown again with its message, nothing typed lost), departs from a suggestion with a
reason and submits; the instructor approves; the sheet prints on A4; strangers get 404;
the office publishes the 优秀 list."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest

from service.persistence.db import Database
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown
from tests.functional.appraisal_world import OPENED, line_ids

HOST = "testserver.local"


@pytest.fixture(autouse=True)
def december(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pages ask the clock: fix it in December 2025, when 2025's appraisal is held."""
    monkeypatch.setattr("web.appraisals.views.utcnow", lambda: OPENED)


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login(username)
    return browser


def open_jinwan(browser: Browser, town: SmallTown) -> int:
    response = browser.submit(
        "/appraisals", "/appraisals/new", {"branch_id": str(town.jinwan), "year": "2025"}
    )
    assert response.status_code == 303, response.text
    match = re.search(r"/appraisals/(\d+)\?done=opened", response.headers["location"])
    assert match
    return int(match.group(1))


def sheet_form(
    lines: dict[str, int], rows: Mapping[str, tuple[str, str, str, str, str]]
) -> dict[str, str]:
    form: dict[str, str] = {}
    for name, (self_review, mutual, grade, decided, reason) in rows.items():
        key = f"l{lines[name]}"
        form |= {
            f"{key}.self_review": self_review,
            f"{key}.mutual_review": mutual,
            f"{key}.branch_grade": grade,
            f"{key}.veto_reason": "",
            f"{key}.grade": decided,
            f"{key}.departure_reason": reason,
        }
    return form


def test_the_secretary_fills_departs_with_a_reason_and_the_instructor_approves(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    listing = secretary.client.get("/appraisals")
    assert listing.status_code == 200 and "Open the 2025 appraisal" in listing.text
    appraisal_id = open_jinwan(secretary, town)
    page = secretary.client.get(f"/appraisals/{appraisal_id}")
    assert page.status_code == 200
    assert "张伟" in page.text and "李娜" in page.text and "赵老" not in page.text  # exempt
    lines = line_ids(database, town, appraisal_id)
    path = f"/appraisals/{appraisal_id}"

    # A number out of range: the page again (422) with the message, the typed values kept.
    rows = {
        "member": ("95", "96", "excellent", "excellent", ""),
        "member2": ("185", "80", "qualified", "basic", "全年三次无故缺席主题党日"),
        "secretary": ("88", "84", "qualified", "qualified", ""),
    }
    refused = secretary.submit(path, path, {**sheet_form(lines, rows), "action": "save"})
    assert refused.status_code == 422
    assert "Enter a number from 0 to 100" in refused.text
    assert 'value="185"' in refused.text and "全年三次无故缺席主题党日" in refused.text

    # Submitting a departure without a reason names the line.
    rows["member2"] = ("85", "80", "qualified", "basic", "")
    refused = secretary.submit(path, path, {**sheet_form(lines, rows), "action": "submit"})
    assert refused.status_code == 422
    assert "departs from the suggestion: give the reason" in refused.text

    rows["member2"] = ("85", "80", "qualified", "basic", "全年三次无故缺席主题党日")
    done = secretary.submit(path, path, {**sheet_form(lines, rows), "action": "submit"})
    assert done.status_code == 303 and done.headers["location"].endswith("done=submitted")
    page = secretary.client.get(path)
    assert "Submitted, awaiting approval" in page.text
    assert "departs" in page.text and "全年三次无故缺席主题党日" in page.text
    assert "Approve and freeze" not in page.text  # the secretary does not approve

    instructor = signed_in(make_browser, "instructor")
    approved = instructor.submit(path, f"{path}/approve", {})
    assert approved.status_code == 303
    page = instructor.client.get(path)
    assert "Approved and frozen" in page.text and "Digest of the frozen sheet" in page.text
    # Frozen: a save is refused and changes nothing.
    late = secretary.submit(path, path, {**sheet_form(lines, rows), "action": "save"})
    assert late.status_code == 409 and "no longer open" in late.text

    # Each member sees their own line of the approved sheet, never another's.
    own = signed_in(make_browser, "member2").client.get("/appraisals")
    assert "My appraisal" in own.text and "graded Basically qualified" in own.text
    assert "全年三次无故缺席主题党日" in own.text
    other = signed_in(make_browser, "member").client.get("/appraisals")
    assert "graded Excellent" in other.text and "全年三次无故缺席主题党日" not in other.text

    printed = secretary.client.get(f"{path}/print")
    assert printed.status_code == 200
    text = printed.text
    assert "print-sheet" in text and "2025.1" in text and "金湾工业园区联合党支部" in text
    assert "Self-assessment 20 %" in text and "Branch secretary (signature):" in text
    assert "Departs from the suggestion: 全年三次无故缺席主题党日" in text
    assert "Approved by 党建指导员" in text


def test_an_approver_returns_the_sheet_with_a_reason(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    appraisal_id = open_jinwan(secretary, town)
    lines = line_ids(database, town, appraisal_id)
    path = f"/appraisals/{appraisal_id}"
    rows = {
        "member": ("95", "96", "excellent", "excellent", ""),
        "member2": ("85", "80", "qualified", "qualified", ""),
        "secretary": ("88", "84", "qualified", "qualified", ""),
    }
    assert (
        secretary.submit(path, path, {**sheet_form(lines, rows), "action": "submit"}).status_code
        == 303
    )
    admin = signed_in(make_browser, "admin")
    empty = admin.submit(path, f"{path}/return", {"reason": " "})
    assert empty.status_code == 422 and "Say what the branch should change" in empty.text
    returned = admin.submit(path, f"{path}/return", {"reason": "互评分数请附原始记录"})
    assert returned.status_code == 303
    page = secretary.client.get(path)
    assert "Returned by the approver: 互评分数请附原始记录" in page.text
    assert "Save and submit for approval" in page.text


def test_other_members_and_branches_do_not_see_the_sheet(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    appraisal_id = open_jinwan(secretary, town)
    for username in ("member2", "secretary2", "member3"):
        stranger = signed_in(make_browser, username)
        for suffix in ("", "/print"):
            assert stranger.client.get(f"/appraisals/{appraisal_id}{suffix}").status_code == 404
    secretary2 = signed_in(make_browser, "secretary2")
    listing = secretary2.client.get("/appraisals")
    assert "宝元鞋厂党支部" in listing.text and "金湾" not in listing.text
    # Opening another branch's appraisal is refused.
    refused = secretary2.submit(
        "/appraisals", "/appraisals/new", {"branch_id": str(town.jinwan), "year": "2026"}
    )
    assert refused.status_code == 403


def test_a_post_without_the_csrf_token_is_refused(
    database: Database, town: SmallTown, make_browser: Any
) -> None:
    secretary = signed_in(make_browser, "secretary")
    response = secretary.client.post(
        "/appraisals/new",
        data={"branch_id": str(town.jinwan), "year": "2025"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "Open the 2025 appraisal" in secretary.client.get("/appraisals").text


def test_the_office_publishes_the_excellent_list(
    database: Database, town: SmallTown, rulebook: Rulebook, make_browser: Any
) -> None:
    admin = signed_in(make_browser, "admin")
    nothing = admin.submit("/appraisals", "/appraisals/excellent/2025/publish", {})
    assert nothing.status_code == 409 and "appraisal of 2025 is approved yet" in nothing.text
    secretary = signed_in(make_browser, "secretary")
    appraisal_id = open_jinwan(secretary, town)
    lines = line_ids(database, town, appraisal_id)
    path = f"/appraisals/{appraisal_id}"
    rows = {
        "member": ("95", "96", "excellent", "excellent", ""),
        "member2": ("85", "80", "qualified", "qualified", ""),
        "secretary": ("88", "84", "qualified", "qualified", ""),
    }
    secretary.submit(path, path, {**sheet_form(lines, rows), "action": "submit"})
    assert admin.submit(path, f"{path}/approve", {}).status_code == 303
    published = admin.submit("/appraisals", "/appraisals/excellent/2025/publish", {})
    assert published.status_code == 303
    assert "Published on" in admin.client.get("/appraisals?year=2025").text
    instructor = signed_in(make_browser, "instructor")
    assert (
        instructor.submit("/appraisals", "/appraisals/excellent/2025/publish", {}).status_code
        == 403
    )
