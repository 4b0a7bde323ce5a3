"""The import page takes an office's own roster (GBK CSV with a title, columns of its
own, the branch by name, a 合计 line): the dry run says what was skipped above the
problems or changes, in English or Chinese, and the apply saves it."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from service.persistence.db import Database
from service.persistence.models import Branch, Member
from tests.conftest import Browser, SmallTown

HOST = "testserver.local"
DIGEST_FIELD = re.compile(r'name="digest" value="([0-9a-f]{64})"')
OFFICE_ROSTER = Path(__file__).parents[1] / "fixtures" / "rosters" / "office-roster-gbk.csv"


def signed_in(make_browser: Any, username: str, language: str = "en") -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", language, domain=HOST)
    browser.login(username)
    return browser


def upload(browser: Browser, content: bytes, name: str) -> Any:
    return browser.client.post(
        "/admin/import",
        files={"roster": (name, content, "application/octet-stream")},
        data={"_csrf_token": browser.csrf_token("/admin/import")},
    )


def office_members(database: Database) -> dict[str, str]:
    with database.transaction(write=False) as session:
        rows = session.execute(
            select(Member.code, Branch.code)
            .join(Branch, Branch.id == Member.branch_id)
            .where(Member.code.like("QX%"))
        )
        return {code: branch for code, branch in rows}


def all_members(database: Database) -> int:
    with database.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(Member)) or 0


def test_the_office_sheet_is_checked_with_its_notes_then_applied(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    admin = signed_in(make_browser, "admin")
    form = html.unescape(admin.client.get("/admin/import").text)
    # The page says which other names a column is read under.
    assert "Also read under: 支部编号, 党支部代码, 支部代码, 所在党支部, 党支部, 党支部名称" in form
    checked = upload(admin, OFFICE_ROSTER.read_bytes(), "花名册.csv")
    assert checked.status_code == 200, checked.text
    page = html.unescape(checked.text)
    notes = [
        "Rows above the column names (row 3) were skipped: 1 “青溪镇非公企业党员花名册”",
        "Columns the roster does not use were ignored: 序号, 性别, 出生日期, 学历, "
        "工作单位及职务, 备注.",
        "Total and footer lines were skipped: 14 “合计 8人”",
        "Rows with nothing in the roster's columns were skipped: 12.",
    ]
    summary = "Dry run: 8 to create, 0 to update, 0 unchanged. Nothing was written."
    for note in notes:
        assert note in page
        # Above the report of what the import does.
        assert page.index(note) < page.index(summary)
    assert all_members(database) == 6
    digest = DIGEST_FIELD.search(checked.text)
    assert digest, checked.text

    applied = admin.submit(
        "/admin/import",
        "/admin/import/apply",
        {"digest": digest.group(1), "filename": "花名册.csv"},
    )
    assert applied.status_code == 200, applied.text
    assert "8 created, 0 updated, 0 unchanged." in html.unescape(applied.text)
    assert office_members(database) == {
        **{f"QX00{n}": "B001" for n in range(1, 6)},
        **{f"QX00{n}": "B002" for n in range(6, 9)},
    }


def test_a_branch_name_no_branch_has_is_a_problem_on_its_row(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    admin = signed_in(make_browser, "admin")
    text = OFFICE_ROSTER.read_bytes().decode("gbk")
    text = text.replace(
        ",宝元鞋厂党支部,宝元鞋业有限公司 组长", ",宝元鞋业党支部,宝元鞋业有限公司 组长"
    )
    checked = upload(admin, text.encode("gbk"), "花名册.csv")
    assert checked.status_code == 422
    page = html.unescape(checked.text)
    problem = (
        "row 9, column 所在党支部: No branch is named 宝元鞋业党支部; did you mean 宝元鞋厂党支部?"
    )
    assert "1 problem; nothing was saved." in page and problem in page
    assert page.index("Columns the roster does not use were ignored") < page.index(problem)
    assert not DIGEST_FIELD.search(checked.text)
    assert office_members(database) == {}


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_the_notes_and_problems_in_chinese(town: SmallTown, make_browser: Any, kind: str) -> None:
    from tests.integration.test_roster_office_sheets import office_workbook

    admin = signed_in(make_browser, "admin", "zh_CN")
    if kind == "csv":
        content = OFFICE_ROSTER.read_bytes().decode("gbk").replace(",B002,", ",B009,")
        checked = upload(admin, content.encode("gbk"), "花名册.csv")
        expected = [
            "表头（第3行）以上的行已跳过：1 “青溪镇非公企业党员花名册”",
            "名册不使用的列已忽略：序号, 性别, 出生日期, 学历, 工作单位及职务, 备注。",
            "第 11 行,“所在党支部”列:没有编号为 B009 的党支部。",
        ]
    else:
        checked = upload(admin, office_workbook(), "花名册.xlsx")
        expected = ["合计及表尾行已跳过：9 “合计 5人”。", "预检:将新增 5 人"]
    page = html.unescape(checked.text)
    for text in expected:
        assert text in page, page[page.find("<main") :][:3000]
