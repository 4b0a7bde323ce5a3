"""Signing in and out through the HTML forms, with CSRF and session rotation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import PASSWORD, Browser, SmallTown
from web.i18n import translations

SESSION_COOKIE = "jifen_session"
HOST = "testserver.local"  # the TestClient's host: cookies set here replace the server's
# The expired-form page in either language (its language is checked separately).
EXPIRED = ("This form has expired", translations("zh_CN").gettext("This form has expired"))
ERROR_BANNER = re.compile(r'<p class="error-banner" role="alert">([^<]*)</p>')


@pytest.fixture
def english(client: TestClient[Litestar]) -> TestClient[Litestar]:
    client.cookies.set("jifen_lang", "en", domain=HOST)
    return client


def login_post(browser: Browser, username: str, password: str, **extra: str) -> Any:
    return browser.submit("/login", "/login", {"username": username, "password": password, **extra})


def test_a_page_for_members_sends_strangers_to_sign_in(client: TestClient[Litestar]) -> None:
    response = client.get("/entries", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fentries"


def test_the_sign_in_page_keeps_where_to_go_next(
    town: SmallTown, english: TestClient[Litestar], browser: Browser
) -> None:
    page = english.get("/entries/new")  # follows the redirect to the sign-in form
    assert page.status_code == 200
    assert "Sign in" in page.text
    assert 'name="next" value="/entries/new"' in page.text
    response = login_post(browser, "member", PASSWORD, next="/entries/new")
    assert response.status_code == 303
    assert response.headers["location"] == "/entries/new"


def test_wrong_password_and_unknown_user_get_the_same_message(
    town: SmallTown, english: TestClient[Litestar], browser: Browser
) -> None:
    wrong = login_post(browser, "member", "not the password")
    unknown = login_post(browser, "nobody-here", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 400
        assert SESSION_COOKIE not in response.cookies
    assert ERROR_BANNER.findall(wrong.text) == ["Wrong username or password."]
    assert ERROR_BANNER.findall(unknown.text) == ERROR_BANNER.findall(wrong.text)
    # The typed username comes back so the person can correct the password.
    assert 'value="member"' in wrong.text
    assert english.get("/entries", follow_redirects=False).status_code == 303


def test_empty_credentials_are_refused_with_the_same_message(
    town: SmallTown, english: TestClient[Litestar], browser: Browser
) -> None:
    response = login_post(browser, "", "")
    assert response.status_code == 400
    assert ERROR_BANNER.findall(response.text) == ["Wrong username or password."]


def test_signing_in_opens_the_members_pages(
    town: SmallTown, english: TestClient[Litestar], browser: Browser
) -> None:
    response = login_post(browser, "member", PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    token = english.cookies.get(SESSION_COOKIE)
    assert token
    set_cookie = response.headers["set-cookie"].lower()
    assert "httponly" in set_cookie
    assert "samesite=lax" in set_cookie
    page = english.get("/entries")
    assert page.status_code == 200
    assert "My entries" in page.text
    assert "张伟" in page.text  # the signed-in person's name in the header


def test_signing_in_again_rotates_the_session(
    town: SmallTown, english: TestClient[Litestar], browser: Browser
) -> None:
    browser.login("member")
    first = english.cookies.get(SESSION_COOKIE)
    assert first
    browser.login("member")
    second = english.cookies.get(SESSION_COOKIE)
    assert second and second != first

    # The session held before signing in is over: its token opens nothing.
    english.cookies.clear()
    english.cookies.set(SESSION_COOKIE, first, domain=HOST)
    response = english.get("/entries", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_a_planted_session_token_is_replaced_at_sign_in(
    town: SmallTown, browser: Browser, make_browser: Any
) -> None:
    # Someone else's valid session token set in my browser before I sign in (fixation):
    # after I sign in, my browser holds a new token and the planted one is dead.
    attacker = browser
    attacker.login("member2")
    planted = attacker.client.cookies.get(SESSION_COOKIE)
    assert planted

    victim: Browser = make_browser()
    victim.client.cookies.set(SESSION_COOKIE, planted, domain=HOST)
    victim.login("member")
    mine = victim.client.cookies.get(SESSION_COOKIE)
    assert mine and mine != planted
    assert victim.client.get("/api/me").json()["username"] == "member"
    assert attacker.client.get("/api/me").status_code == 401


def test_signing_out_ends_the_session_on_the_server(
    town: SmallTown, english: TestClient[Litestar], browser: Browser
) -> None:
    browser.login("member")
    token = english.cookies.get(SESSION_COOKIE)
    assert token
    response = browser.submit("/entries", "/logout", {})
    assert response.status_code == 303
    assert response.headers["location"] == "/login?done=signed_out"
    assert not english.cookies.get(SESSION_COOKIE)
    assert "You have signed out." in english.get("/login?done=signed_out").text

    # Replaying the old cookie does not bring the session back.
    english.cookies.set(SESSION_COOKIE, token, domain=HOST)
    replay = english.get("/entries", follow_redirects=False)
    assert replay.status_code == 303
    assert replay.headers["location"] == "/login?next=%2Fentries"
    assert english.get("/api/me").status_code == 401


def test_a_post_without_csrf_token_is_refused_as_an_expired_form(
    town: SmallTown, english: TestClient[Litestar]
) -> None:
    english.get("/login")  # the CSRF cookie is set, but the token is not sent
    response = english.post(
        "/login", data={"username": "member", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.cookies
    assert english.get("/entries", follow_redirects=False).status_code == 303
    # Said in the reader's language (English here, by cookie).
    assert "This form has expired" in response.text
    assert '<html lang="en">' in response.text


def test_a_post_with_a_wrong_csrf_token_is_refused(
    town: SmallTown, english: TestClient[Litestar], browser: Browser
) -> None:
    token = browser.csrf_token("/login")
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    response = english.post(
        "/login",
        data={"username": "member", "password": PASSWORD, "_csrf_token": forged},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert any(title in response.text for title in EXPIRED)
    assert SESSION_COOKIE not in response.cookies
    assert english.get("/entries", follow_redirects=False).status_code == 303


def test_a_signed_in_post_without_csrf_token_changes_nothing(
    town: SmallTown, english: TestClient[Litestar], browser: Browser
) -> None:
    browser.login("member")
    response = english.post(
        "/entries/new",
        data={
            "rule_id": "good_deed",
            "activity_date": "2025-06-01",
            "quantity": "1",
            "description": "CSRF",
        },
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert any(title in response.text for title in EXPIRED)
    assert "You have no entries yet" in english.get("/entries").text


@pytest.mark.parametrize(
    ("next_target", "location"),
    [
        ("/boards", "/boards"),
        ("/entries/new?x=1", "/entries/new?x=1"),
        ("//evil.example", "/"),
        ("//evil.example/boards", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("boards", "/"),
        # Browsers drop tabs and newlines inside URLs: "/\t/evil.example" is followed
        # as "//evil.example", another site.
        ("/\t/evil.example", "/"),
    ],
)
def test_next_only_leads_to_this_site(
    town: SmallTown, client: TestClient[Litestar], browser: Browser, next_target: str, location: str
) -> None:
    response = login_post(browser, "member", PASSWORD, next=next_target)
    assert response.status_code == 303
    assert response.headers["location"] == location


def test_the_sign_in_form_does_not_carry_an_offsite_next(
    town: SmallTown, client: TestClient[Litestar]
) -> None:
    page = client.get("/login", params={"next": "//evil.example"})
    assert page.status_code == 200
    # The sign-in form carries "/" (the language switch may echo the address it is on;
    # /lang applies the same check).
    assert 'name="next" value="/">' in page.text
    assert 'name="next" value="//evil.example"' not in page.text


def test_a_signed_in_visit_to_sign_in_goes_on_to_next(
    town: SmallTown, client: TestClient[Litestar], browser: Browser
) -> None:
    browser.login("member")
    response = client.get("/login", params={"next": "/boards"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/boards"
    evil = client.get("/login", params={"next": "//evil.example"}, follow_redirects=False)
    assert evil.headers["location"] == "/"
