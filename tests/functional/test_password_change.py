"""Choosing a new password: forced after an initial or reset password (no other page
opens until it is done), and open any time to a signed-in person."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from service.accounts.passwords import verify_password
from service.persistence.db import Database
from service.persistence.models import Account, AuditEvent, WebSession
from tests.conftest import PASSWORD, Browser, SmallTown

HOST = "testserver.local"
NEW = "a much better passphrase"


def english(make_browser: Any) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    return browser


def field_error(page: str, name: str) -> str:
    match = re.search(
        rf'<p class="field-error" role="alert" id="{name}-error">(.*?)</p>', page, re.S
    )
    assert match, f"no error beside {name}"
    return html.unescape(match.group(1))


@pytest.fixture
def must_change(town: SmallTown, database: Database) -> SmallTown:
    """张伟 (member) holds an initial password from the office."""
    with database.transaction() as session:
        account = session.get(Account, town.account_ids["member"])
        assert account is not None
        account.must_change_password = True
    return town


def test_no_page_opens_before_the_initial_password_is_changed(
    must_change: SmallTown, make_browser: Any, database: Database
) -> None:
    browser = english(make_browser)
    signed = browser.submit(
        "/login",
        "/login",
        {"username": "member", "password": PASSWORD, "next": "/entries/new"},
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/account/password?done=required&next=%2Fentries%2Fnew"
    for path in ("/entries", "/me/points", "/objections", "/entries/new"):
        response = browser.client.get(path, follow_redirects=True)
        assert response.url.path == "/account/password", path
        assert "Choose a new password before you continue." in response.text
    # Signed out as far as every other page and the API are concerned.
    assert "My entries" not in browser.client.get("/account/password").text
    assert browser.client.get("/api/me").status_code == 401
    posted = browser.submit(
        "/account/password", "/entries/new", {"rule_id": "good_deed", "description": "x"}
    )
    assert posted.status_code == 303 and posted.headers["location"].startswith("/login")

    changed = browser.submit(
        "/account/password",
        "/account/password",
        {"current": PASSWORD, "new": NEW, "confirmation": NEW, "next": "/entries/new"},
    )
    assert changed.status_code == 303 and changed.headers["location"] == "/entries/new"
    assert browser.client.get("/entries/new").status_code == 200
    with database.transaction(write=False) as session:
        account = session.get(Account, must_change.account_ids["member"])
        assert account is not None and not account.must_change_password
        assert verify_password(account.password_hash, NEW)


def test_the_new_password_is_checked_beside_each_field(
    must_change: SmallTown, make_browser: Any, database: Database
) -> None:
    browser = english(make_browser)
    browser.login("member")
    cases = [
        ({"current": "wrong", "new": NEW, "confirmation": NEW}, "current", "not your current"),
        ({"current": PASSWORD, "new": "short", "confirmation": "short"}, "new", "at least 10"),
        ({"current": PASSWORD, "new": PASSWORD, "confirmation": PASSWORD}, "new", "different"),
        ({"current": PASSWORD, "new": NEW, "confirmation": NEW + "!"}, "confirmation", "differ"),
    ]
    for fields, name, words in cases:
        response = browser.submit("/account/password", "/account/password", fields)
        assert response.status_code == 422, fields
        assert words in field_error(response.text, name)
        assert "your password was not changed" in response.text
    with database.transaction(write=False) as session:
        account = session.get(Account, must_change.account_ids["member"])
        assert account is not None and account.must_change_password
        assert verify_password(account.password_hash, PASSWORD)


def test_a_signed_in_person_changes_their_password_and_other_sessions_end(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    phone = english(make_browser)
    phone.login("member2")
    laptop = english(make_browser)
    laptop.login("member2")
    page = laptop.client.get("/account/password")
    assert page.status_code == 200 and "Current password" in page.text
    changed = laptop.submit(
        "/account/password",
        "/account/password",
        {"current": PASSWORD, "new": NEW, "confirmation": NEW},
    )
    assert changed.status_code == 303
    assert "Your new password is set." in laptop.client.get(changed.headers["location"]).text
    assert laptop.client.get("/entries").status_code == 200  # this session goes on
    gone = phone.client.get("/entries", follow_redirects=False)  # the other one ended
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    assert (
        phone.submit("/login", "/login", {"username": "member2", "password": PASSWORD}).status_code
        == 400
    )
    phone.login("member2", NEW)
    with database.transaction(write=False) as session:
        count = session.scalar(
            select(func.count())
            .select_from(WebSession)
            .where(WebSession.account_id == town.account_ids["member2"])
        )
        assert count == 2


def test_the_password_page_needs_a_sign_in(client: Any) -> None:
    response = client.get("/account/password", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_signing_out_from_the_forced_change(
    must_change: SmallTown, make_browser: Any, database: Database
) -> None:
    browser = english(make_browser)
    browser.login("member")
    out = browser.submit("/account/password", "/logout", {})
    assert out.status_code == 303
    with database.transaction(write=False) as session:
        count = session.scalar(
            select(func.count())
            .select_from(WebSession)
            .where(WebSession.account_id == must_change.account_ids["member"])
        )
        assert count == 0
    assert browser.client.get("/login").status_code == 200


def test_guessing_the_current_password_is_throttled_and_audited(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    """A session left open on a shared computer must not become a way to guess the
    account's password: the current password is a secret checked through the sign-in
    throttle. (Before, each wrong guess was rolled back with the form: unlimited.)"""
    browser = english(make_browser)
    browser.login("member")
    wrong = {"current": "is it this one", "new": NEW, "confirmation": NEW}
    for _ in range(5):
        response = browser.submit("/account/password", "/account/password", wrong)
        assert response.status_code == 422
        assert field_error(response.text, "current") == "This is not your current password."
    right = {"current": PASSWORD, "new": NEW, "confirmation": NEW}
    refused = browser.submit("/account/password", "/account/password", right)
    assert refused.status_code == 422
    assert (
        field_error(refused.text, "current") == "Too many wrong passwords. Try again in a minute."
    )
    with database.transaction(write=False) as session:
        account = session.get(Account, town.account_ids["member"])
        assert account is not None and verify_password(account.password_hash, PASSWORD)
        kinds = session.scalars(
            select(AuditEvent.kind).where(
                AuditEvent.object_id == str(town.account_ids["member"]),
                AuditEvent.kind.like("account.password_check%"),
            )
        ).all()
    assert sorted(kinds) == ["account.password_check_failure"] * 5 + [
        "account.password_check_throttled"
    ]
    # The same pause stands at the sign-in page, from this address.
    other = english(make_browser)
    token = other.csrf_token("/login")
    response = other.client.post(
        "/login",
        data={"username": "member", "password": PASSWORD, "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 429
