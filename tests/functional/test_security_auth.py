"""Authentication against OWASP ASVS 5.0 level 2, over HTTP with CSRF: passwords, the
sign-in throttle, sessions and their cookies, and the Host header.

Proven elsewhere and not repeated here: a new session at every sign-in with the old
one dead, and a planted token replaced (test_auth.py: test_signing_in_again_rotates_
the_session, test_a_planted_session_token_is_replaced_at_sign_in); sign-out ends the
session on the server (test_auth.py: test_signing_out_ends_the_session_on_the_server);
disabling and a password reset sign the account out at once (test_orgadmin_pages.py:
test_disabling_an_account_signs_it_out_at_once, test_a_reset_ends_every_session_and_
forces_a_new_password); a too-short new password (test_password_change.py:
test_the_new_password_is_checked_beside_each_field); the throttle's counting on the
database (tests/integration/test_throttle.py).
"""

from __future__ import annotations

import html
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from datetime import timedelta
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select, update

from service.accounts.passwords import (
    ARGON2_MEMORY_KIB,
    ARGON2_TIME_COST,
    COMMON_PASSWORDS_FILE,
    common_passwords,
    verify_password,
)
from service.accounts.sessions import session_id_of
from service.kernel.config import PROJECT_ROOT, Settings
from service.persistence.db import Database
from service.persistence.models import Account, AuditEvent, LoginFailure, WebSession
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import CSRF_FIELD, PASSWORD, Browser, SmallTown

HOST = "testserver.local"
SESSION_COOKIE = "jifen_session"
ERROR_BANNER = re.compile(r'<p class="error-banner" role="alert">([^<]*)</p>')
THROTTLED = re.compile(r"^Too many failed sign-ins\. Try again in (\d+) minutes?\.$")
THROTTLED_MINUTES = re.compile(r"Try again in (\d+) minutes?")
WRONG = "Wrong username or password."

MakeClient = Callable[..., TestClient[Litestar]]


@pytest.fixture
def make_client(database: Database, rulebook: Rulebook, database_url: str) -> Iterator[MakeClient]:
    """A client of an app built with some settings changed, in English."""
    from web.app import create_app

    clients: list[TestClient[Litestar]] = []

    def make(base_url: str = f"http://{HOST}", **overrides: Any) -> TestClient[Litestar]:
        settings = Settings(env="test", database_url=database_url, **overrides)
        app = create_app(settings, database=database, rulebook=rulebook)
        client: TestClient[Litestar] = TestClient(app=app, base_url=base_url)
        client.__enter__()
        client.cookies.set("jifen_lang", "en", domain=HOST)
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):  # see make_browser in conftest.py
        client.__exit__(None, None, None)


def english(make_browser: Any) -> Browser:
    browser: Browser = make_browser()
    browser.client.cookies.set("jifen_lang", "en", domain=HOST)
    return browser


def sign_in(
    client: TestClient[Litestar], username: str, password: str, *, forwarded_for: str = ""
) -> Any:
    page = client.get("/login")
    match = CSRF_FIELD.search(page.text)
    assert match, page.text
    return client.post(
        "/login",
        data={"username": username, "password": password, "_csrf_token": match.group(1)},
        headers={"X-Forwarded-For": forwarded_for} if forwarded_for else {},
        follow_redirects=False,
    )


def banner(response: Any) -> str:
    found = ERROR_BANNER.findall(response.text)
    assert len(found) == 1, response.text
    return html.unescape(found[0])


def field_error(page: str, name: str) -> str:
    match = re.search(
        rf'<p class="field-error" role="alert" id="{name}-error">(.*?)</p>', page, re.S
    )
    assert match, f"no error beside {name}"
    return html.unescape(match.group(1))


def change_password(browser: Browser, current: str, new: str) -> Any:
    return browser.submit(
        "/account/password",
        "/account/password",
        {"current": current, "new": new, "confirmation": new},
    )


def stored_hash(database: Database, account_id: int) -> str:
    with database.transaction(write=False) as session:
        account = session.get(Account, account_id)
        assert account is not None
        return account.password_hash


def signed_in(client: TestClient[Litestar]) -> bool:
    status = client.get("/api/me").status_code
    assert status in (200, 401)
    return status == 200


# --- 1. passwords --------------------------------------------------------------------------

ARGON2_HASH = re.compile(
    r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$"
)
# 64 characters with spaces and Chinese: nothing is cut off, normalised or refused.
LONG_64 = "月亮代表我的心 the moon speaks for my heart, 二〇二六年 spring comes early!!"
OTHER_64 = "海内存知己天涯若比邻 a friend afar brings distance near, say it twice 1234"


def test_the_64_character_examples_are_64_characters() -> None:
    assert len(LONG_64) == 64 and len(OTHER_64) == 64


def test_a_chosen_password_is_stored_as_argon2id_with_owasp_parameters(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    browser = english(make_browser)
    browser.login("member")
    assert change_password(browser, PASSWORD, LONG_64).status_code == 303
    stored = stored_hash(database, town.account_ids["member"])
    match = ARGON2_HASH.match(stored)
    assert match, stored
    memory_kib, iterations, lanes = (int(group) for group in match.groups())
    # OWASP's argon2id floor: 19 MiB of memory and 2 iterations (1 lane).
    assert memory_kib >= 19 * 1024
    assert iterations >= 2
    assert lanes >= 1
    assert (memory_kib, iterations) == (ARGON2_MEMORY_KIB, ARGON2_TIME_COST)
    assert LONG_64 not in stored


def test_a_64_character_password_is_set_signed_in_with_and_changed(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    browser = english(make_browser)
    browser.login("member")
    assert change_password(browser, PASSWORD, LONG_64).status_code == 303

    fresh = english(make_browser)
    assert sign_in(fresh.client, "member", LONG_64).status_code == 303
    assert signed_in(fresh.client)
    # All 64 count: one character less is a wrong password, not a truncated match.
    assert sign_in(english(make_browser).client, "member", LONG_64[:63]).status_code == 400

    changed = change_password(fresh, LONG_64, OTHER_64)
    assert changed.status_code == 303
    assert verify_password(stored_hash(database, town.account_ids["member"]), OTHER_64)
    assert sign_in(english(make_browser).client, "member", OTHER_64).status_code == 303


@pytest.mark.parametrize(
    "common",
    ["password123", "Woaini1314", "QWERTYUIOP", "a123456789", "1qaz2wsx3edc", "5201314520"],
)
def test_a_common_password_is_refused_beside_the_field(
    town: SmallTown, make_browser: Any, database: Database, common: str
) -> None:
    browser = english(make_browser)
    browser.login("member")
    before = stored_hash(database, town.account_ids["member"])
    response = change_password(browser, PASSWORD, common)
    assert response.status_code == 422
    assert "one of the most common" in field_error(response.text, "new")
    assert 'aria-invalid="true" aria-describedby="new-error new-hint"' in response.text
    assert stored_hash(database, town.account_ids["member"]) == before


def test_the_username_is_refused_as_the_password(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    with database.transaction() as session:
        session.execute(
            update(Account)
            .where(Account.id == town.account_ids["member"])
            .values(username="zhangwei.m001")
        )
    browser = english(make_browser)
    assert sign_in(browser.client, "zhangwei.m001", PASSWORD).status_code == 303
    response = change_password(browser, PASSWORD, " ZhangWei.M001")
    assert response.status_code == 422
    assert field_error(response.text, "new") == "Do not use your username as your password."


def test_a_short_password_is_refused_for_its_length_before_anything_else(
    town: SmallTown, make_browser: Any
) -> None:
    browser = english(make_browser)
    browser.login("member")
    # "1qaz2wsx" is common too, but the person first needs to hear it is too short.
    response = change_password(browser, PASSWORD, "1qaz2wsx")
    assert response.status_code == 422
    assert field_error(response.text, "new") == "Use at least 10 characters."


def test_the_common_password_list_is_small_broad_and_shipped() -> None:
    path = PROJECT_ROOT / "service" / "accounts" / COMMON_PASSWORDS_FILE
    assert path.stat().st_size < 100_000
    listed = common_passwords()
    assert len(listed) >= 3000
    assert all(word == word.lower() for word in listed)  # matched after lower-casing
    for chinese_favourite in ("123456", "woaini1314", "5201314", "qwertyuiop", "1qaz2wsx"):
        assert chinese_favourite in listed
    assert "password123" in listed and "a123456789" in listed
    # Installed as package data: a wheel without the file would refuse nothing.
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text("utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["service"]
    assert any(fnmatch(f"accounts/{COMMON_PASSWORDS_FILE}", pattern) for pattern in patterns)
    assert Path(COMMON_PASSWORDS_FILE).parts[0] == "data"


# --- 2. sign-in throttling ---------------------------------------------------------------


def failures_in_db(database: Database) -> int:
    with database.transaction(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(LoginFailure)) or 0)


def test_five_failures_throttle_the_account_and_the_password_is_not_even_checked(
    town: SmallTown, make_client: MakeClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client()
    for _ in range(5):
        response = sign_in(client, "member", "not the password")
        assert response.status_code == 400
        assert banner(response) == WRONG
    assert failures_in_db(database) == 5

    def must_not_run(*_args: Any) -> None:
        raise AssertionError("a throttled sign-in checked the password")

    monkeypatch.setattr("service.accounts.signin.authenticate", must_not_run)
    # The right password now: refused all the same, and nothing was checked.
    throttled = sign_in(client, "member", PASSWORD)
    assert throttled.status_code == 429
    match = THROTTLED.match(banner(throttled))
    assert match and 1 <= int(match.group(1)) <= 15
    assert 0 < int(throttled.headers["retry-after"]) <= 15 * 60
    assert SESSION_COOKIE not in throttled.cookies
    assert not signed_in(client)
    # A refused attempt is not counted again: the window ends on time.
    assert failures_in_db(database) == 5
    # Another account from the same address is not affected.
    monkeypatch.undo()
    assert sign_in(client, "member2", PASSWORD).status_code == 303


def test_an_unknown_username_is_throttled_exactly_like_a_known_one(
    town: SmallTown, make_client: MakeClient
) -> None:
    known, unknown = make_client(), make_client()
    for attempt in range(5):
        refused_known = sign_in(known, "member", f"guess {attempt}")
        refused_unknown = sign_in(unknown, "nobody-here", f"guess {attempt}")
        assert refused_known.status_code == refused_unknown.status_code == 400
        assert banner(refused_known) == banner(refused_unknown) == WRONG
    throttled_known = sign_in(known, "member", PASSWORD)
    throttled_unknown = sign_in(unknown, "nobody-here", PASSWORD)
    assert throttled_known.status_code == throttled_unknown.status_code == 429
    assert banner(throttled_known) == banner(throttled_unknown)
    assert THROTTLED.match(banner(throttled_known))


def test_changing_the_case_of_the_username_buys_no_more_guesses(
    town: SmallTown, make_client: MakeClient
) -> None:
    client = make_client()
    for typed in ("member", "Member", "MEMBER", " member", "mEMBER"):
        assert sign_in(client, typed, "wrong").status_code == 400
    assert sign_in(client, "Member", PASSWORD).status_code == 429


def test_a_success_starts_the_accounts_count_again(
    town: SmallTown, make_client: MakeClient
) -> None:
    client = make_client()
    for _ in range(4):
        assert sign_in(client, "member", "wrong").status_code == 400
    assert sign_in(client, "member", PASSWORD).status_code == 303
    for _ in range(4):
        assert sign_in(client, "member", "wrong").status_code == 400
    assert sign_in(client, "member", PASSWORD).status_code == 303


def test_the_throttle_lifts_when_the_pause_ends(
    town: SmallTown, make_client: MakeClient, database: Database
) -> None:
    client = make_client()
    for _ in range(5):
        sign_in(client, "member", "wrong")
    throttled = sign_in(client, "member", PASSWORD)
    assert throttled.status_code == 429
    assert banner(throttled) == "Too many failed sign-ins. Try again in 1 minute."
    with database.transaction() as session:
        session.execute(update(LoginFailure).values(at=utcnow() - timedelta(minutes=1, seconds=1)))
    assert sign_in(client, "member", PASSWORD).status_code == 303


def test_a_strangers_burst_does_not_lock_the_owner_out(
    town: SmallTown, make_client: MakeClient
) -> None:
    """Issue 15, item 14: twelve wrong passwords typed by anyone for ``secretary`` locked
    the real secretary out for 15 minutes, again and again. The stranger's address is
    paused; the secretary, from another address with no failures, signs in."""
    stranger, office = "203.0.113.66", "198.51.100.20"
    attacker = make_client(trusted_proxy=True)
    for _round in range(2):
        for attempt in range(12):
            response = sign_in(attacker, "secretary", f"guess {attempt}", forwarded_for=stranger)
            assert response.status_code in (400, 429)
        # The stranger is refused even with the right password...
        refused = sign_in(attacker, "secretary", PASSWORD, forwarded_for=stranger)
        assert refused.status_code == 429
        # ...and the secretary, in another browser elsewhere, is not.
        owner = make_client(trusted_proxy=True)
        signed = sign_in(owner, "secretary", PASSWORD, forwarded_for=office)
        assert signed.status_code == 303
        assert signed_in(owner)


def test_failures_past_the_limit_pause_longer_and_longer(
    town: SmallTown, make_client: MakeClient, database: Database
) -> None:
    client = make_client()
    waits = []
    for _ in range(4):
        for _attempt in range(5 if not waits else 1):
            assert sign_in(client, "member", "wrong").status_code == 400
        throttled = sign_in(client, "member", "wrong")
        assert throttled.status_code == 429
        waits.append(int(THROTTLED_MINUTES.search(banner(throttled)).group(1)))  # type: ignore[union-attr]
        # The pause is over: the failures moved back by it.
        with database.transaction() as session:
            for failure in session.scalars(select(LoginFailure)):
                failure.at -= timedelta(minutes=waits[-1])
    assert waits == [1, 2, 4, 8]


# The address limit lowered to 4 and the account limit raised, so only the address
# count is at work and each test stays short.
PER_ADDRESS = {"login_max_failures_per_address": 4, "login_max_failures_per_account": 100}


def test_an_address_trying_many_usernames_is_throttled(
    town: SmallTown, make_client: MakeClient
) -> None:
    client = make_client(**PER_ADDRESS)
    for attempt in range(4):
        assert sign_in(client, f"guess{attempt}", "wrong").status_code == 400
    throttled = sign_in(client, "member", PASSWORD)
    assert throttled.status_code == 429
    assert THROTTLED.match(banner(throttled))


def test_rotating_x_forwarded_for_without_a_trusted_proxy_does_not_reset_the_count(
    town: SmallTown, make_client: MakeClient
) -> None:
    # Without a trusted proxy the header is the client's own words: the socket's peer
    # is the address, whatever the header says.
    client = make_client(trusted_proxy=False, **PER_ADDRESS)
    for attempt in range(4):
        response = sign_in(client, f"guess{attempt}", "wrong", forwarded_for=f"10.0.0.{attempt}")
        assert response.status_code == 400
    throttled = sign_in(client, "member", PASSWORD, forwarded_for="10.9.9.9")
    assert throttled.status_code == 429


def test_rotating_the_client_sent_hops_behind_a_trusted_proxy_does_not_reset_the_count(
    town: SmallTown, make_client: MakeClient
) -> None:
    # The proxy appends the address it saw to whatever X-Forwarded-For the client sent:
    # only that last hop is the proxy's word; the hops before it are the client's.
    client = make_client(trusted_proxy=True, **PER_ADDRESS)
    attacker = "203.0.113.66"
    for attempt in range(4):
        sent = f"10.0.{attempt}.1, 172.16.0.{attempt}"
        response = sign_in(client, f"guess{attempt}", "wrong", forwarded_for=f"{sent}, {attacker}")
        assert response.status_code == 400
    throttled = sign_in(client, "member", PASSWORD, forwarded_for=f"10.77.0.1, {attacker}")
    assert throttled.status_code == 429
    # Someone else behind the same proxy (another last hop) signs in as usual.
    other = sign_in(client, "member", PASSWORD, forwarded_for="10.0.0.1, 198.51.100.9")
    assert other.status_code == 303


# --- 3. sessions --------------------------------------------------------------------------


def session_token(browser: Browser, name: str = SESSION_COOKIE) -> str:
    token = browser.client.cookies.get(name)
    assert token
    return token


def move_session(database: Database, token: str, **ago: timedelta) -> None:
    """Move a session's created_at / last_seen_at back by the given amounts."""
    now = utcnow()
    with database.transaction() as session:
        session.execute(
            update(WebSession)
            .where(WebSession.id == session_id_of(token))
            .values({column: now - delta for column, delta in ago.items()})
        )


def session_exists(database: Database, token: str) -> bool:
    with database.transaction(write=False) as session:
        return session.get(WebSession, session_id_of(token)) is not None


def test_signing_in_again_leaves_one_session_on_the_server(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    # Extends test_auth.py's rotation tests: the old session is gone from the table,
    # not only from the cookie jar.
    browser = english(make_browser)
    browser.login("member")
    first = session_token(browser)
    browser.login("member")
    second = session_token(browser)
    assert first != second
    assert not session_exists(database, first)
    assert session_exists(database, second)


def test_an_idle_session_ends_after_30_minutes(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    browser = english(make_browser)
    browser.login("member")
    token = session_token(browser)

    move_session(database, token, last_seen_at=timedelta(minutes=29))
    assert signed_in(browser.client)  # and the visit counts as activity
    with database.transaction(write=False) as session:
        record = session.get(WebSession, session_id_of(token))
        assert record is not None
        assert utcnow() - record.last_seen_at < timedelta(minutes=1)

    move_session(database, token, last_seen_at=timedelta(minutes=31))
    response = browser.client.get("/entries", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert not signed_in(browser.client)
    assert not session_exists(database, token)  # deleted at first sight


def test_the_idle_timeout_follows_its_setting(
    town: SmallTown, make_client: MakeClient, database: Database
) -> None:
    client = make_client(session_idle_minutes=5)
    browser = Browser(client)
    browser.login("member")
    token = session_token(browser)
    move_session(database, token, last_seen_at=timedelta(minutes=4))
    assert signed_in(client)
    move_session(database, token, last_seen_at=timedelta(minutes=6))
    assert not signed_in(client)


def test_a_session_ends_12_hours_after_sign_in_however_active(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    browser = english(make_browser)
    browser.login("member")
    token = session_token(browser)
    move_session(database, token, created_at=timedelta(hours=11, minutes=59))
    assert signed_in(browser.client)
    move_session(database, token, created_at=timedelta(hours=12, minutes=1))  # active now
    assert not signed_in(browser.client)
    assert browser.client.get("/me/points", follow_redirects=False).status_code == 303


def test_the_absolute_timeout_follows_its_setting(
    town: SmallTown, make_client: MakeClient, database: Database
) -> None:
    client = make_client(session_absolute_hours=1)
    browser = Browser(client)
    browser.login("member")
    token = session_token(browser)
    move_session(database, token, created_at=timedelta(minutes=59))
    assert signed_in(client)
    move_session(database, token, created_at=timedelta(minutes=61))
    assert not signed_in(client)


def test_a_timed_out_session_cannot_reach_the_password_page_either(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    with database.transaction() as session:
        session.execute(
            update(Account)
            .where(Account.id == town.account_ids["member"])
            .values(must_change_password=True)
        )
    browser = english(make_browser)
    browser.login("member")
    token = session_token(browser)
    assert browser.client.get("/account/password").status_code == 200
    move_session(database, token, last_seen_at=timedelta(minutes=31))
    response = browser.client.get("/account/password", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_the_office_ends_every_session_of_an_account_at_once(
    town: SmallTown, make_browser: Any, database: Database
) -> None:
    phone, laptop, admin = english(make_browser), english(make_browser), english(make_browser)
    phone.login("member")
    laptop.login("member")
    admin.login("admin")
    account_id = town.account_ids["member"]
    page = f"/admin/accounts/{account_id}"
    assert "End all sessions" in admin.client.get(page).text

    response = admin.submit(page, f"{page}/end-sessions", {})
    assert response.status_code == 303
    assert response.headers["location"] == f"{page}?done=sessions_ended"
    notice = admin.client.get(response.headers["location"]).text
    assert "Every session of the account ended at once" in notice

    # The very next request of each device finds it signed out.
    for device in (phone, laptop):
        assert not signed_in(device.client)
        entries = device.client.get("/entries", follow_redirects=False)
        assert entries.headers["location"].startswith("/login")
    assert signed_in(admin.client)
    # Not disabled: the member signs in again.
    phone.login("member")
    assert signed_in(phone.client)

    with database.transaction(write=False) as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.kind == "account.end_sessions")
        ).one()
    assert event.actor_id == town.account_ids["admin"]
    assert event.object_id == str(account_id)
    assert event.ip_address == "testclient"
    assert event.branch_id == town.jinwan
    assert json.loads(event.after or "{}") == {"sessions_ended": 2}
    assert admin.client.get("/admin/audit").status_code == 200  # the log still reads


def test_the_office_ending_its_own_sessions_keeps_the_one_it_acts_from(
    town: SmallTown, make_browser: Any
) -> None:
    here, elsewhere = english(make_browser), english(make_browser)
    here.login("admin")
    elsewhere.login("admin")
    page = f"/admin/accounts/{town.account_ids['admin']}"
    assert "End my other sessions" in here.client.get(page).text
    response = here.submit(page, f"{page}/end-sessions", {})
    assert response.headers["location"] == f"{page}?done=other_sessions_ended"
    assert signed_in(here.client)
    assert not signed_in(elsewhere.client)


def test_ending_the_sessions_of_no_account_is_a_404(town: SmallTown, make_browser: Any) -> None:
    admin = english(make_browser)
    admin.login("admin")
    response = admin.submit("/admin/accounts", "/admin/accounts/999999/end-sessions", {})
    assert response.status_code == 404


def set_cookies(response: Any) -> dict[str, str]:
    """Each Set-Cookie header by cookie name, lower-cased."""
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0]
        cookies[name] = header.lower()
    return cookies


def attributes(header: str) -> set[str]:
    return {part.strip() for part in header.split(";")[1:]}


def test_cookies_are_httponly_and_samesite_lax_without_https(
    town: SmallTown, client: TestClient[Litestar]
) -> None:
    page = client.get("/login")
    csrf = set_cookies(page)["jifen_csrf"]
    assert {"httponly", "samesite=lax", "path=/"} <= attributes(csrf)
    assert "secure" not in attributes(csrf)
    browser = Browser(client)
    signed = browser.login("member")
    session_cookie = set_cookies(signed)["jifen_session"]
    assert {"httponly", "samesite=lax", "path=/"} <= attributes(session_cookie)
    assert "secure" not in attributes(session_cookie)


def test_with_https_cookies_are_secure_host_prefixed_and_hsts_is_sent(
    town: SmallTown, make_client: MakeClient
) -> None:
    client = make_client(base_url=f"https://{HOST}", https=True)
    page = client.get("/login")
    cookies = set_cookies(page)
    assert "jifen_csrf" not in cookies
    csrf = cookies["__Host-jifen_csrf"]
    # __Host-: Secure, Path=/ and no Domain, or the browser drops the cookie.
    assert {"httponly", "samesite=lax", "secure", "path=/"} <= attributes(csrf)
    assert not any(part.startswith("domain") for part in attributes(csrf))
    assert page.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"

    signed = Browser(client).login("member")
    session_cookie = set_cookies(signed)["__Host-jifen_session"]
    assert {"httponly", "samesite=lax", "secure", "path=/"} <= attributes(session_cookie)
    assert not any(part.startswith("domain") for part in attributes(session_cookie))
    assert signed_in(client)

    signed_out = Browser(client).submit("/entries", "/logout", {})
    expired = set_cookies(signed_out)["__Host-jifen_session"]
    assert {"secure", "path=/", "max-age=0"} <= attributes(expired)
    assert not signed_in(client)


def test_without_https_there_is_no_hsts(client: TestClient[Litestar]) -> None:
    # Sent over plain HTTP, HSTS would be ignored at best and lock a test host at worst.
    for path in ("/login", "/no-such-page"):
        assert "strict-transport-security" not in client.get(path).headers


# --- 4. the Host header ----------------------------------------------------------------------

SECURITY_HEADERS = (
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:80",
        "127.0.0.1.evil.example",
        "testserver.local.evil.example",
        "evil.example@testserver.local",
        "[::1]:8000",
    ],
)
def test_a_request_for_another_host_is_refused_with_the_security_headers(
    town: SmallTown, client: TestClient[Litestar], host: str
) -> None:
    for path in ("/login", "/boards", "/api/me"):
        response = client.get(path, headers={"Host": host}, follow_redirects=False)
        assert response.status_code == 400, (path, host)
        for header in SECURITY_HEADERS:
            assert header in response.headers, (path, host, header)
        assert SESSION_COOKIE not in response.cookies


def test_a_refused_host_signs_nobody_in(town: SmallTown, client: TestClient[Litestar]) -> None:
    token = CSRF_FIELD.search(client.get("/login").text)
    assert token
    response = client.post(
        "/login",
        data={"username": "member", "password": PASSWORD, "_csrf_token": token.group(1)},
        headers={"Host": "evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert not signed_in(client)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:8000", "localhost:53187", "LOCALHOST", "testserver.local"]
)
def test_the_allowed_hosts_are_served_on_any_port(
    town: SmallTown, client: TestClient[Litestar], host: str
) -> None:
    assert client.get("/login", headers={"Host": host}).status_code == 200


def test_the_allowed_hosts_follow_their_setting(town: SmallTown, make_client: MakeClient) -> None:
    only_ours = make_client(allowed_hosts=["jifen.example.cn", "testserver.local"])
    assert only_ours.get("/login", headers={"Host": "jifen.example.cn"}).status_code == 200
    assert only_ours.get("/login", headers={"Host": "127.0.0.1"}).status_code == 400
    anything = make_client(allowed_hosts=["*"])
    assert anything.get("/login", headers={"Host": "evil.example"}).status_code == 200
