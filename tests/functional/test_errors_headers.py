"""Friendly errors, security headers, escaping and the language switch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from service.kernel.periods import town_today
from service.persistence.types import utcnow
from tests.conftest import PASSWORD, Browser, SmallTown
from web.i18n import TRANSLATIONS_DIR

HOST = "testserver.local"
SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
ZH_CATALOG: Path = TRANSLATIONS_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po"


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


def assert_security_headers(response: Any) -> None:
    where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
    csp = response.headers.get("content-security-policy", "")
    assert "object-src 'none'" in csp, where
    assert "frame-ancestors 'none'" in csp, where
    assert response.headers.get("x-content-type-options") == "nosniff", where
    assert response.headers.get("referrer-policy"), where


def declare(browser: Browser, description: str) -> Any:
    return browser.submit(
        "/entries/new",
        "/entries/new",
        {
            "rule_id": "good_deed",
            "activity_date": today().isoformat(),
            "quantity": "1",
            "description": description,
        },
    )


@pytest.fixture
def english(client: TestClient[Litestar]) -> TestClient[Litestar]:
    client.cookies.set("jifen_lang", "en", domain=HOST)
    return client


# --- friendly errors ----------------------------------------------------------------


def test_an_unknown_page_is_a_friendly_404(english: TestClient[Litestar]) -> None:
    response = english.get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found</h1>" in response.text
    assert 'href="/"' in response.text  # a way back
    assert "Traceback" not in response.text


def test_the_404_page_speaks_the_readers_language(english: TestClient[Litestar]) -> None:
    response = english.get("/no/such/page")
    assert response.status_code == 404
    assert '<html lang="en">' in response.text
    assert "Page not found" in response.text


def test_an_unknown_api_address_is_a_json_404(
    town: SmallTown, english: TestClient[Litestar], browser: Browser
) -> None:
    browser.login("member")
    response = english.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")


# --- security headers ---------------------------------------------------------------


def _get(path: str) -> Callable[[TestClient[Litestar], Browser], Any]:
    return lambda client, _browser: client.get(path, follow_redirects=False)


ANONYMOUS_REQUESTS: dict[str, Callable[[TestClient[Litestar], Browser], Any]] = {
    "sign-in page": _get("/login"),
    "redirect to sign-in": _get("/entries"),
    "front door": _get("/"),
    "stylesheet": _get("/static/app.css"),
    "api 401": _get("/api/me"),
    "openapi schema": _get("/schema/openapi.json"),
    "wrong password 400": lambda client, browser: browser.submit(
        "/login", "/login", {"username": "member", "password": "wrong"}
    ),
    "unknown page 404": _get("/no/such/page"),
    "form without csrf 403": lambda client, _browser: client.post(
        "/login", data={"username": "member", "password": PASSWORD}, follow_redirects=False
    ),
}


@pytest.mark.parametrize("request_name", list(ANONYMOUS_REQUESTS))
def test_security_headers_on_every_anonymous_response(
    town: SmallTown, client: TestClient[Litestar], browser: Browser, request_name: str
) -> None:
    client.get("/login")  # a CSRF cookie, as a real visitor would have
    assert_security_headers(ANONYMOUS_REQUESTS[request_name](client, browser))


SIGNED_IN_REQUESTS: dict[str, Callable[[TestClient[Litestar], Browser], Any]] = {
    "entries": _get("/entries"),
    "declaration form": _get("/entries/new"),
    "boards": _get("/boards"),
    "branches board": _get("/boards/2025-01/branches"),
    "api me": _get("/api/me"),
    "review 403": _get("/review"),
    "bad month 404": _get("/boards/2026-13"),
    "invalid form 422": lambda _client, browser: declare(browser, ""),
    "declared 303": lambda _client, browser: declare(browser, "扶老人过马路"),
    "withdraw unknown 404": lambda _client, browser: browser.submit(
        "/entries", "/entries/999999/withdraw", {}
    ),
}


@pytest.mark.parametrize("request_name", list(SIGNED_IN_REQUESTS))
def test_security_headers_on_every_signed_in_response(
    town: SmallTown, client: TestClient[Litestar], browser: Browser, request_name: str
) -> None:
    browser.login("member")
    assert_security_headers(SIGNED_IN_REQUESTS[request_name](client, browser))


def test_pages_cannot_be_framed_or_run_inline_scripts(client: TestClient[Litestar]) -> None:
    csp = client.get("/login").headers["content-security-policy"]
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]


# --- escaping -----------------------------------------------------------------------


def test_a_script_in_a_description_is_shown_as_text(
    town: SmallTown, english: TestClient[Litestar], browser: Browser, make_browser: Any
) -> None:
    browser.login("member")
    assert declare(browser, f"修路灯 {SCRIPT}").status_code == 303

    entries = english.get("/entries").text
    assert SCRIPT not in entries
    assert ESCAPED_SCRIPT in entries

    secretary: Browser = make_browser()
    secretary.login("secretary")
    queue = secretary.client.get("/review").text
    assert "修路灯" in queue
    assert SCRIPT not in queue
    assert ESCAPED_SCRIPT in queue


def test_a_script_in_a_refused_form_is_echoed_escaped(
    town: SmallTown, english: TestClient[Litestar], browser: Browser
) -> None:
    browser.login("member")
    response = browser.submit(
        "/entries/new",
        "/entries/new",
        {
            "rule_id": "good_deed",
            "activity_date": '"><script>alert(2)</script>',
            "quantity": "1",
            "description": SCRIPT,
        },
    )
    assert response.status_code == 422
    assert "<script>" not in response.text
    assert ESCAPED_SCRIPT in response.text
    assert "&#34;&gt;&lt;script&gt;alert(2)" in response.text  # the typed date, kept


def test_a_script_in_a_rejection_reason_reaches_the_member_as_text(
    town: SmallTown, english: TestClient[Litestar], browser: Browser, make_browser: Any
) -> None:
    browser.login("member")
    assert declare(browser, "扶老人过马路").status_code == 303
    secretary: Browser = make_browser()
    secretary.login("secretary")
    queue = secretary.client.get("/review").text
    entry_id = queue.split('id="entry-', 1)[1].split('"', 1)[0]
    response = secretary.submit("/review", f"/review/{entry_id}/reject", {"reason": SCRIPT})
    assert response.status_code == 303
    entries = english.get("/entries").text
    assert SCRIPT not in entries
    assert ESCAPED_SCRIPT in entries


# --- languages ----------------------------------------------------------------------


def test_switching_to_english_sets_the_cookie_and_the_next_page_is_english(
    town: SmallTown, client: TestClient[Litestar], browser: Browser
) -> None:
    response = browser.submit("/login", "/lang", {"locale": "en", "next": "/login"})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith("jifen_lang=en")
    assert "Max-Age=" in set_cookie
    assert client.cookies.get("jifen_lang") == "en"

    page = client.get("/login")
    assert '<html lang="en">' in page.text
    assert "<h1>Sign in</h1>" in page.text
    # The switch offers the way back to Chinese.
    assert 'name="locale" value="zh_CN"' in page.text


def test_switching_back_to_chinese(
    town: SmallTown, english: TestClient[Litestar], browser: Browser
) -> None:
    response = browser.submit("/login", "/lang", {"locale": "zh_CN", "next": "/login"})
    assert response.status_code == 303
    page = english.get("/login")
    assert '<html lang="zh-CN">' in page.text
    assert "<h1>Sign in</h1>" not in page.text


def test_the_language_switch_needs_a_csrf_token(client: TestClient[Litestar]) -> None:
    client.get("/login")
    response = client.post("/lang", data={"locale": "en"}, follow_redirects=False)
    assert response.status_code == 403
    assert "jifen_lang" not in response.cookies


def test_the_language_switch_ignores_unknown_locales_and_offsite_next(
    town: SmallTown, client: TestClient[Litestar], browser: Browser
) -> None:
    response = browser.submit("/login", "/lang", {"locale": "fr", "next": "//evil.example"})
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert "jifen_lang" not in response.cookies


def test_the_default_language_is_chinese(client: TestClient[Litestar]) -> None:
    assert ZH_CATALOG.exists(), f"the Chinese catalog is missing: {ZH_CATALOG}"
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "<h1>登录</h1>" in page.text
    assert "<h1>Sign in</h1>" not in page.text


def test_the_browser_language_is_used_without_a_cookie(client: TestClient[Litestar]) -> None:
    english = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert '<html lang="en">' in english.text
    assert "<h1>Sign in</h1>" in english.text
    chinese = client.get("/login", headers={"Accept-Language": "zh-TW,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-CN">' in chinese.text


def test_the_cookie_wins_over_the_browser_language(english: TestClient[Litestar]) -> None:
    page = english.get("/login", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in page.text


def test_error_pages_are_translated_too(town: SmallTown, client: TestClient[Litestar]) -> None:
    assert ZH_CATALOG.exists(), f"the Chinese catalog is missing: {ZH_CATALOG}"
    page = client.get("/no/such/page")
    assert page.status_code == 404
    assert "Page not found" not in page.text
    assert '<html lang="zh-CN">' in page.text
