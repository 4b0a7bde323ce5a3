"""Issue 5's office journey in a real browser: the office uploads a roster with two
mistakes, reads them by row and column with nothing saved, uploads the corrected file,
applies it, and finds the new members on the roster and the change in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import func, select

from service.persistence.db import Database
from service.persistence.models import Member
from tests.browser.conftest import DESKTOP
from tests.browser.test_journey import sign_in
from tests.conftest import SmallTown

pytestmark = pytest.mark.browser

HEADER = "党员编号,姓名,身份证号,手机号,党支部编号,党员类别,入党日期"
# Valid 18-character ID numbers (checksum included).
GOOD = [
    "M101,周敏,11010519491231002X,13800138000,B001,正式党员,2012-07-01",
    "M102,吴刚,440306199003071232,13900139000,B002,预备党员,2025-06-30",
]
BAD = [
    "M101,周敏,11010519491231002X,13800138000,B009,正式党员,2012-07-01",  # unknown branch
    "M102,吴刚,440306199003071232,13900139000,B002,预备党员,2025-02-30",  # no such day
]


def members(database: Database) -> int:
    with database.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(Member)) or 0


def test_office_imports_a_roster_after_a_dry_run(
    town: SmallTown,
    database: Database,
    tmp_path: Path,
    new_context: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], Path],
) -> None:
    bad = tmp_path / "roster-bad.csv"
    bad.write_text("\n".join([HEADER, *BAD]) + "\n", encoding="utf-8")
    good = tmp_path / "roster.csv"
    good.write_text("\n".join([HEADER, *GOOD]) + "\n", encoding="utf-8")
    before = members(database)

    office = new_context(viewport=DESKTOP).new_page()
    sign_in(office, "admin")
    office.locator("header").get_by_role("button", name="English").click()
    office.goto("/admin")
    office.get_by_role("link", name="Import a roster").click()
    office.set_input_files("#roster", str(bad))
    office.get_by_role("button", name="Check the file").click()
    problems = office.locator(".error-banner li")
    expect(problems).to_have_count(2)
    expect(problems.nth(0)).to_contain_text("row 2")
    expect(problems.nth(0)).to_contain_text("B009")
    expect(problems.nth(1)).to_contain_text("row 3")
    expect(problems.nth(1)).to_contain_text("2025-02-30")
    expect(office.get_by_role("button", name="Apply the import")).to_have_count(0)
    screenshot(office, "40-office-import-problems")
    assert members(database) == before  # a dry run writes nothing

    office.set_input_files("#roster", str(good))
    office.get_by_role("button", name="Check the file").click()
    expect(office.locator(".notice")).to_contain_text("2")
    office.get_by_role("button", name="Apply the import").click()
    expect(office.get_by_role("heading", name="Import applied")).to_be_visible()
    screenshot(office, "41-office-import-applied")
    assert members(database) == before + 2

    office.goto(f"/branches/{town.jinwan}/roster")
    expect(office.locator("main")).to_contain_text("周敏")
    office.goto("/admin/audit?kind=member.create")
    expect(office.locator("main")).to_contain_text("周敏")
    screenshot(office, "42-office-audit-log")
