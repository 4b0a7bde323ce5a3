"""Member accounts in bulk through the pages: the confirmation page, the one-shot handout
(print view and XLSX of the same batch), who may, and the new member's first sign-in."""

from __future__ import annotations

import base64
import logging
import re
from datetime import date
from io import BytesIO
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from service.accounts.passwords import verify_password
from service.persistence.db import Database
from service.persistence.models import Account, Member, MemberStatus
from tests.conftest import Browser, SmallTown
from tests.functional.test_api_tokens import bearer, every_text_value, issue

HOST = "testserver.local"
NEW = "a much better passphrase"
XLSX_LINK = re.compile(
    r'id="xlsx-download" href="data:application/vnd\.openxmlformats-officedocument\.'
    r'spreadsheetml\.sheet;base64,([A-Za-z0-9+/=]+)" download="([^"]+)"'
)


def english(make_browser: Any, username: str | None = None) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    if username:
        browser.login(username)
    return browser


@pytest.fixture
def newcomers(town: SmallTown, database: Database) -> SmallTown:
    """Two new members of 金湾 without accounts (besides 赵老, M006), one named like a
    spreadsheet formula; and one of 宝元."""
    with database.transaction() as session:
        for code, name, branch_id in [
            ("M007", "孙新", town.jinwan),
            ("M008", '=HYPERLINK("http://x")', town.jinwan),
            ("M009", "冯宝", town.baoyuan),
        ]:
            session.add(
                Member(
                    code=code,
                    name=name,
                    branch_id=branch_id,
                    status=MemberStatus.FULL,
                    joined_party_on=date(2016, 7, 1),
                    active=True,
                )
            )
    return town


def sheet_rows(page: str) -> tuple[str, list[tuple[Any, ...]]]:
    match = XLSX_LINK.search(page)
    assert match, "no XLSX download on the handout"
    workbook = load_workbook(BytesIO(base64.b64decode(match.group(1))))
    sheet = workbook.active
    assert sheet is not None
    return match.group(2), [tuple(row) for row in sheet.iter_rows(values_only=True)]


def test_a_secretary_creates_their_branchs_accounts_and_gets_the_handout_once(
    newcomers: SmallTown,
    make_browser: Any,
    database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secretary = english(make_browser, "secretary")
    branch_page = secretary.client.get(f"/branches/{newcomers.jinwan}")
    link = f"/account-sheets/new?branch={newcomers.jinwan}"
    assert link in branch_page.text
    assert "Create accounts for members without one" in branch_page.text

    confirm = secretary.client.get(link)
    assert confirm.status_code == 200
    assert "3 members will get an account" in confirm.text
    assert "3 members skipped" in confirm.text and "already has an account" in confirm.text
    assert "冯宝" not in confirm.text  # 宝元's member
    with database.transaction(write=False) as session:
        assert session.scalar(select(Account).where(Account.username == "M007")) is None

    caplog.set_level(logging.DEBUG)
    created = secretary.submit(link, "/account-sheets/new", {"branch": str(newcomers.jinwan)})
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    page = created.text
    assert "3 accounts created" in page
    assert "cannot be shown or downloaded again" in page
    assert "@media print" not in page  # the A4 layout is the stylesheet's
    name, rows = sheet_rows(page)
    assert name.endswith(".xlsx")
    assert rows[0] == (
        "Town / branch", "Member", "Member number", "Username", "Initial password",
        "Sign in at", "Note",
    )  # fmt: skip
    by_user = {row[3]: row for row in rows[1:]}
    assert set(by_user) == {"M006", "M007", "M008"}
    # The formula-like name is text in the sheet (openpyxl would read a formula as
    # data_type "f"), and escaped on the page.
    assert by_user["M008"][1] == '=HYPERLINK("http://x")'
    found = XLSX_LINK.search(page)
    assert found is not None
    sheet = load_workbook(BytesIO(base64.b64decode(found.group(1)))).active
    assert sheet is not None
    assert all(cell.data_type == "s" for row in sheet.iter_rows() for cell in row)
    assert "=HYPERLINK(&#34;http://x&#34;)" in page or "=HYPERLINK(&quot;http://x&quot;)" in page
    with database.transaction(write=False) as session:
        for username, row in by_user.items():
            account = session.scalar(select(Account).where(Account.username == username))
            assert account is not None and account.must_change_password
            password = row[4]
            assert verify_password(account.password_hash, password)
            # Each username and password once on the page, on its slip.
            assert page.count(username) == 1
            assert page.count(password) == 1
            assert row[0] == "金湾工业园区联合党支部"
            assert row[5] == "http://testserver.local/login"
            assert row[6] == "Change this password at first sign-in."
    assert page.count("Change this password at first sign-in.") == 3
    assert page.count("http://testserver.local/login") == 3
    # Never stored, never logged.
    stored = every_text_value(database)
    logged = caplog.text
    for row in by_user.values():
        assert row[4] not in stored and row[4] not in logged

    # Nothing to hand out again: the same form now creates nothing.
    again = secretary.submit(link, "/account-sheets/new", {"branch": str(newcomers.jinwan)})
    assert again.status_code == 200 and "0 accounts created" in again.text
    assert XLSX_LINK.search(again.text) is None


def test_a_secretary_cannot_act_for_another_branch_or_the_town(
    newcomers: SmallTown, make_browser: Any, database: Database
) -> None:
    secretary = english(make_browser, "secretary")
    assert (
        "/account-sheets/new" not in secretary.client.get(f"/branches/{newcomers.baoyuan}").text
    )  # 403 page either way
    for scope in (str(newcomers.baoyuan), "all"):
        page = secretary.client.get(f"/account-sheets/new?branch={scope}")
        assert page.status_code == 403, scope
        token = secretary.csrf_token(f"/branches/{newcomers.jinwan}")
        posted = secretary.client.post(
            "/account-sheets/new",
            data={"branch": scope, "_csrf_token": token},
            follow_redirects=False,
        )
        assert posted.status_code == 403, scope
    member = english(make_browser, "member")
    assert member.client.get(f"/account-sheets/new?branch={newcomers.jinwan}").status_code == 403
    instructor = english(make_browser, "instructor")
    assert (
        instructor.client.get(f"/account-sheets/new?branch={newcomers.jinwan}").status_code == 403
    )
    with database.transaction(write=False) as session:
        assert session.scalar(select(Account).where(Account.username == "M009")) is None


def test_a_form_without_its_csrf_token_creates_nothing(
    newcomers: SmallTown, make_browser: Any, database: Database
) -> None:
    office = english(make_browser, "admin")
    response = office.client.post(
        "/account-sheets/new", data={"branch": "all"}, follow_redirects=False
    )
    assert response.status_code == 403
    with database.transaction(write=False) as session:
        assert session.scalar(select(Account).where(Account.username == "M009")) is None


def test_the_office_creates_for_the_whole_town(
    newcomers: SmallTown, make_browser: Any, database: Database
) -> None:
    office = english(make_browser, "admin")
    assert "/account-sheets/new?branch=all" in office.client.get("/admin/accounts").text
    branch_form = office.client.get(f"/admin/branches/{newcomers.baoyuan}").text
    assert f"/account-sheets/new?branch={newcomers.baoyuan}" in branch_form
    confirm = office.client.get("/account-sheets/new?branch=all")
    assert "Every branch of the town" in confirm.text
    assert "4 members will get an account" in confirm.text
    created = office.submit(
        "/account-sheets/new?branch=all", "/account-sheets/new", {"branch": "all"}
    )
    _name, rows = sheet_rows(created.text)
    assert sorted((row[3], row[0]) for row in rows[1:]) == [
        ("M006", "金湾工业园区联合党支部"),
        ("M007", "金湾工业园区联合党支部"),
        ("M008", "金湾工业园区联合党支部"),
        ("M009", "宝元鞋厂党支部"),
    ]
    assert office.client.get("/account-sheets/new?branch=x").status_code == 422


def test_a_new_member_must_change_the_password_before_anything_else(
    newcomers: SmallTown, make_browser: Any, database: Database
) -> None:
    office = english(make_browser, "admin")
    link = f"/account-sheets/new?branch={newcomers.baoyuan}"
    created = office.submit(link, "/account-sheets/new", {"branch": str(newcomers.baoyuan)})
    _name, rows = sheet_rows(created.text)
    (username, password) = rows[1][3:5]

    member = english(make_browser)
    signed = member.submit("/login", "/login", {"username": username, "password": password})
    assert signed.status_code == 303
    assert signed.headers["location"].startswith("/account/password?done=required")
    for path in ("/", "/entries", "/entries/new", "/boards"):
        response = member.client.get(path, follow_redirects=True)
        assert response.url.path == "/account/password", path
    changed = member.submit(
        "/account/password",
        "/account/password",
        {"current": password, "new": NEW, "confirmation": NEW, "next": "/"},
    )
    assert changed.status_code == 303
    assert "Your new password is set." in member.client.get(changed.headers["location"]).text
    home = member.client.get("/", follow_redirects=False)
    assert home.status_code == 200 and "冯宝" in home.text


def test_an_api_token_is_unaffected_by_the_password_flag(
    town: SmallTown, client: Any, database: Database
) -> None:
    """Decision: the flag is about the password, which a token never uses. A token is a
    separate secret the office issued (and revokes) for an integration; a reset password
    must not break that integration."""
    secret = issue(database, town, "member")
    with database.transaction() as session:
        account = session.get(Account, town.account_ids["member"])
        assert account is not None
        account.must_change_password = True
    response = client.get("/api/me", headers=bearer(secret))
    assert response.status_code == 200


def test_the_handout_names_the_town_and_its_public_address(
    newcomers: SmallTown, database: Database, rulebook: Any, database_url: str
) -> None:
    from litestar.testing import TestClient

    from service.kernel.config import Settings
    from web.app import create_app

    settings = Settings(
        env="test",
        database_url=database_url,
        town_name="青溪镇",
        public_url="https://jifen.example.org/",
    )
    app = create_app(settings, database=database, rulebook=rulebook)
    with TestClient(app=app, base_url=f"http://{HOST}") as client:
        office = Browser(client)
        office.login("admin")
        link = f"/account-sheets/new?branch={newcomers.baoyuan}"
        page = office.submit(link, "/account-sheets/new", {"branch": str(newcomers.baoyuan)}).text
    assert "青溪镇 宝元鞋厂党支部" in page
    assert "https://jifen.example.org/login" in page
    _name, rows = sheet_rows(page)
    assert rows[1][0] == "青溪镇 宝元鞋厂党支部" and rows[1][5] == "https://jifen.example.org/login"
