"""The office's roster import and member transfer pages: forms, CSRF, permissions."""

from __future__ import annotations

import html
import io
import os
import re
import stat
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from openpyxl import load_workbook
from sqlalchemy import func, select

from service.kernel.periods import town_today
from service.people.fields import id_number_check_char
from service.persistence.db import Database
from service.persistence.models import Member, Membership
from service.persistence.types import utcnow
from tests.conftest import Browser, SmallTown

HOST = "testserver.local"
DIGEST_FIELD = re.compile(r'name="digest" value="([0-9a-f]{64})"')


def id_number(seq: int) -> str:
    first17 = f"32058319900101{seq:03d}"
    return first17 + id_number_check_char(first17)


def roster(*rows: list[str]) -> bytes:
    lines = ["党员编号,姓名,身份证号,手机号,党支部编号,所在单位,党员类别,入党日期"]
    lines += [",".join(row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode()


GOOD = roster(
    [
        "N001",
        "新党员",
        id_number(1),
        "13800138000",
        "B001",
        "飞鹰机械有限公司",
        "正式党员",
        "2015-07-01",
    ]
)


def signed_in(make_browser: Any, username: str) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    browser.login(username)
    return browser


@pytest.fixture
def admin(town: SmallTown, make_browser: Any) -> Browser:
    return signed_in(make_browser, "admin")


def upload(browser: Browser, content: bytes, name: str = "roster.csv", token: bool = True) -> Any:
    data = {"_csrf_token": browser.csrf_token("/admin/import")} if token else {}
    return browser.client.post(
        "/admin/import",
        files={"roster": (name, content, "application/octet-stream")},
        data=data,
    )


def text_of(response: Any) -> str:
    return html.unescape(response.text)


def members(database: Database) -> int:
    with database.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(Member)) or 0


def test_dry_run_then_apply_then_the_file_is_gone(admin: Browser, database: Database) -> None:
    page = admin.client.get("/admin/import")
    assert page.status_code == 200
    assert "党员编号" in page.text and "/admin/import/template.xlsx" in page.text

    checked = upload(admin, GOOD)
    assert checked.status_code == 200, checked.text
    assert "Dry run: 1 to create, 0 to update, 0 unchanged. Nothing was written." in text_of(
        checked
    )
    assert members(database) == 6
    digest = DIGEST_FIELD.search(checked.text)
    assert digest, checked.text

    applied = admin.submit(
        "/admin/import",
        "/admin/import/apply",
        {"digest": digest.group(1), "filename": "roster.csv"},
    )
    assert applied.status_code == 200, applied.text
    assert "1 created, 0 updated, 0 unchanged." in text_of(applied)
    assert members(database) == 7
    with database.transaction(write=False) as session:
        member = session.scalar(select(Member).where(Member.code == "N001"))
        assert member is not None and member.phone == "13800138000"
        assert (
            session.scalar(
                select(func.count())
                .select_from(Membership)
                .where(Membership.member_id == member.id)
            )
            == 1
        )

    again = admin.submit("/admin/import", "/admin/import/apply", {"digest": digest.group(1)})
    assert again.status_code == 409
    assert "no longer on the server" in again.text
    forged = admin.submit("/admin/import", "/admin/import/apply", {"digest": "../../etc/passwd"})
    assert forged.status_code == 409

    reimport = upload(admin, GOOD)
    assert "Dry run: 0 to create, 0 to update, 1 unchanged." in text_of(reimport)


def test_problems_are_listed_and_nothing_can_be_applied(admin: Browser, database: Database) -> None:
    bad = roster(
        ["N001", "新党员", id_number(1), "1380013800", "B404", "", "正式党员", "2015-02-30"],
    )
    checked = upload(admin, bad)
    assert checked.status_code == 422
    page = text_of(checked)
    assert "3 problems; nothing was saved." in page
    assert (
        "row 2, column 手机号: 1380013800 is not a mobile number: 11 digits starting with 1."
        in page
    )
    assert "row 2, column 党支部编号: No branch has the number B404." in page
    assert "row 2, column 入党日期: 2015-02-30 is not a date: write it like 2010-07-01." in page
    assert not DIGEST_FIELD.search(checked.text)
    assert members(database) == 6


def test_the_kind_of_file_comes_from_its_content(admin: Browser) -> None:
    from service.people.roster_file import template_xlsx

    # An XLSX named .csv is read as XLSX (its example row: M0001 in B001).
    as_xlsx = upload(admin, template_xlsx(), name="roster.csv")
    assert as_xlsx.status_code == 200, as_xlsx.text
    assert "Dry run: 1 to create" in text_of(as_xlsx)
    png = upload(admin, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", name="roster.xlsx")
    assert png.status_code == 422
    assert "This file is neither a CSV nor an XLSX file." in png.text
    big = upload(admin, b"a,b\r\n" + b"x" * (5 * 1024 * 1024 + 10))
    assert big.status_code == 413
    nothing = admin.client.post(
        "/admin/import",
        files={"other": ("x.txt", b"", "text/plain")},
        data={"_csrf_token": admin.csrf_token("/admin/import")},
    )
    assert nothing.status_code == 422


def test_upload_without_csrf_token_is_refused(admin: Browser) -> None:
    assert upload(admin, GOOD, token=False).status_code == 403


def test_templates_download(admin: Browser) -> None:
    csv_file = admin.client.get("/admin/import/template.csv")
    assert csv_file.status_code == 200
    assert csv_file.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_file.headers["content-disposition"]
    assert csv_file.content.startswith("\ufeff党员编号".encode())
    xlsx = admin.client.get("/admin/import/template.xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    assert [cell.value for cell in sheet[1]][:2] == ["党员编号", "姓名"]


@pytest.mark.parametrize("username", ["member", "secretary", "instructor"])
def test_only_the_office_imports_and_transfers(
    town: SmallTown, make_browser: Any, username: str
) -> None:
    browser = signed_in(make_browser, username)
    member = town.member_ids["member"]
    for path in [
        "/admin/import",
        "/admin/import/template.csv",
        f"/admin/members/{member}/transfer",
    ]:
        assert browser.client.get(path).status_code == 403, path
    token = (
        browser.csrf_token("/entries/new") if username != "instructor" else browser.csrf_token("/")
    )
    refused = browser.client.post(
        f"/admin/members/{member}/transfer",
        data={"_csrf_token": token, "to_branch_id": str(town.baoyuan), "effective": "2026-01-05"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    with_file = browser.client.post(
        "/admin/import",
        files={"roster": ("r.csv", GOOD, "text/csv")},
        data={"_csrf_token": token},
    )
    assert with_file.status_code == 403


def test_transfer_page_records_and_shows_the_history(
    admin: Browser, town: SmallTown, database: Database
) -> None:
    member = town.member_ids["member"]
    path = f"/admin/members/{member}/transfer"
    page = admin.client.get(path)
    assert page.status_code == 200
    assert "since records began" in page.text and "金湾工业园区联合党支部" in page.text

    today = town_today(utcnow(), "Asia/Shanghai")
    future = admin.submit(
        path,
        path,
        {"to_branch_id": str(town.baoyuan), "effective": (today + timedelta(days=1)).isoformat()},
    )
    assert future.status_code == 422
    assert "cannot be in the future" in future.text

    effective = today - timedelta(days=3)
    done = admin.submit(
        path,
        path,
        {
            "to_branch_id": str(town.baoyuan),
            "effective": effective.isoformat(),
            "note": "宝元鞋厂调入函 2026-12号",
        },
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"{path}?done=transferred"
    shown = admin.client.get(done.headers["location"])
    assert "The transfer is recorded" in shown.text
    assert "宝元鞋厂调入函 2026-12号" in shown.text
    assert shown.text.count('class="entry"') == 2
    with database.transaction(write=False) as session:
        moved = session.get(Member, member)
        assert moved is not None and moved.branch_id == town.baoyuan

    before = admin.submit(
        path,
        path,
        {
            "to_branch_id": str(town.jinwan),
            "effective": (effective - timedelta(days=1)).isoformat(),
        },
    )
    assert before.status_code == 422
    assert "last transfer took effect" in before.text
    assert admin.client.get("/admin/members/99999/transfer").status_code == 404


def test_a_bad_form_is_shown_again(admin: Browser, town: SmallTown) -> None:
    path = f"/admin/members/{town.member_ids['member']}/transfer"
    response = admin.submit(path, path, {"to_branch_id": "", "effective": "yesterday"})
    assert response.status_code == 422
    assert "Enter a date like 2026-03-12." in response.text


def test_uploads_stay_in_the_instances_own_directory(admin: Browser, app: Litestar) -> None:
    """The file waiting for "Apply" holds ID numbers and phones: it goes to the instance's
    configured directory (0700, the file 0600), and clearing old uploads there leaves
    another instance's files alone (they once shared one folder in /tmp, whose cleanup
    deleted each other's uploads)."""
    shared = Path(tempfile.gettempdir()) / "jifen-roster-uploads"
    shared.mkdir(mode=0o700, exist_ok=True)
    theirs = shared / f"1-{os.getpid():064x}.upload"
    theirs.write_bytes(b"another instance's upload")
    two_hours_ago = time.time() - 7200
    os.utime(theirs, (two_hours_ago, two_hours_ago))
    try:
        checked = upload(admin, GOOD)
        assert checked.status_code == 200, checked.text
        assert theirs.exists(), "an upload deleted another instance's file"
    finally:
        theirs.unlink(missing_ok=True)
    own: Path = app.state.settings.roster_upload_dir
    (kept,) = own.glob("*.upload")
    assert kept.read_bytes() == GOOD
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(own.stat().st_mode) == 0o700


def test_a_roster_directory_of_another_user_is_refused(admin: Browser, app: Litestar) -> None:
    """Another user could read, swap or delete the files in a directory they own: the
    upload is refused with a page saying whom to tell, not a 500, and nothing is kept."""
    own: Path = app.state.settings.roster_upload_dir
    own.mkdir(mode=0o700, exist_ok=True)
    if os.getuid() != 0:
        pytest.skip("giving the directory to another user needs root")
    os.chown(own, 65534, 65534)  # nobody
    try:
        refused = upload(admin, GOOD)
    finally:
        os.chown(own, os.getuid(), os.getgid())
    assert refused.status_code == 503
    assert "cannot keep the uploaded file" in text_of(refused)
    assert list(own.iterdir()) == []
