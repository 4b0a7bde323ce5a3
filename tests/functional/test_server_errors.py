"""An unexpected exception is a generic 500: a friendly page (JSON under /api), never a
stack trace, an SQL statement, a file path or the exception's message; debug is off
unless JIFEN_DEBUG says otherwise.

The failing routes are registered on the app the tests build (``Litestar.register``), so
they go through the same middleware, dependencies and exception handlers as every real
route, and web/app.py knows nothing about them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from litestar import Litestar, get, post
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from service.kernel.config import Settings
from service.persistence.db import Database
from service.persistence.models import AuditEvent
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown
from tests.functional.test_csrf_everywhere import fill_path, route_table
from tests.functional.test_permission_matrix import World, browser_for, build_world, today
from web.deps import Db

HOST = "testserver.local"
# What the exceptions below carry: none of it may reach the response.
SECRET_MESSAGE = "secret detail: password_hash of account 7 at /work/main/service/x.py"
SQL_IN_MESSAGE = "SELECT password_hash FROM account WHERE username = 'admin'"
LEAKS = (
    "Traceback",
    'File "',
    ".py",
    "/work/",
    "site-packages",
    "SELECT",
    "password_hash",
    "no_such_table",
    "sqlalchemy",
    "OperationalError",
    "ProgrammingError",
    "RuntimeError",
    "secret detail",
)
FRIENDLY = {
    "en": ("Something went wrong", "Your last action was not saved"),
    "zh_CN": ("出错了",),
}


@get("/boom", sync_to_thread=False, include_in_schema=False)
def boom() -> str:
    raise RuntimeError(SECRET_MESSAGE)


@get("/boom/sql", sync_to_thread=False, include_in_schema=False)
def boom_sql() -> str:
    raise OperationalError(SQL_IN_MESSAGE, {"username": "admin"}, Exception("disk I/O error"))


@get("/boom/database", sync_to_thread=True, include_in_schema=False)
def boom_database(db: Db) -> str:
    """A real database error: the driver's message names the table and quotes the SQL."""
    db.execute(text("SELECT password_hash FROM no_such_table"))
    return "unreachable"


@post("/boom/write", sync_to_thread=True, include_in_schema=False)
def boom_write(db: Db) -> str:
    """A change, then a failure in the same request: the change must not be kept."""
    db.add(AuditEvent(kind="test.boom", object_type="test", object_id="1"))
    db.flush()
    raise RuntimeError(SECRET_MESSAGE)


@post("/boom/locked", sync_to_thread=False, include_in_schema=False)
def boom_locked() -> str:
    """What SQLite raises when another writer held the lock for the whole busy timeout."""
    raise OperationalError(SQL_IN_MESSAGE, {}, Exception("database is locked"))


@get("/api/boom", sync_to_thread=False, include_in_schema=False)
def api_boom() -> str:
    raise RuntimeError(SECRET_MESSAGE)


@get("/api/boom/database", sync_to_thread=True, include_in_schema=False)
def api_boom_database(db: Db) -> str:
    db.execute(text("SELECT password_hash FROM no_such_table"))
    return "unreachable"


FAILING = (boom, boom_sql, boom_database, boom_write, boom_locked, api_boom, api_boom_database)
HTML_PATHS = ("/boom", "/boom/sql", "/boom/database")
API_PATHS = ("/api/boom", "/api/boom/database")


@pytest.fixture
def app(fresh_app: Litestar) -> Litestar:
    """Overrides conftest's shared app: every client here talks to an app of the test's
    own with the failing routes added."""
    for handler in FAILING:
        fresh_app.register(handler)
    return fresh_app


@pytest.fixture
def failing_app(app: Litestar) -> Litestar:
    return app


@pytest.fixture
def client(failing_app: Litestar) -> Iterator[TestClient[Litestar]]:
    """Overrides conftest's client: the same, on the app with the failing routes. The
    test client re-raises server errors by default; a browser sees the 500 instead."""
    with TestClient(app=failing_app, raise_server_exceptions=False) as test_client:
        yield test_client


def assert_no_leak(body: str) -> None:
    for leak in LEAKS:
        assert leak not in body, f"the 500 response shows {leak!r}:\n{body}"
    assert not re.search(r"line \d+", body), body


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
@pytest.mark.parametrize("path", HTML_PATHS)
def test_an_unexpected_error_is_a_generic_page(
    town: SmallTown, browser: Browser, client: TestClient[Litestar], path: str, locale: str
) -> None:
    browser.login("member")
    client.cookies.set("jifen_lang", locale, domain=HOST)
    response = client.get(path)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    for phrase in FRIENDLY[locale]:
        assert phrase in response.text
    assert_no_leak(response.text)
    # The error page is still one of ours: security headers, a way back.
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert 'href="/"' in response.text


def test_an_unexpected_error_is_generic_for_an_anonymous_visitor(
    client: TestClient[Litestar],
) -> None:
    client.cookies.set("jifen_lang", "en", domain=HOST)
    response = client.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert_no_leak(response.text)


@pytest.mark.parametrize("path", API_PATHS)
def test_an_unexpected_api_error_is_generic_json(
    town: SmallTown, browser: Browser, client: TestClient[Litestar], path: str
) -> None:
    browser.login("member")
    client.cookies.set("jifen_lang", "en", domain=HOST)
    response = client.get(path)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"status_code", "detail"}
    assert body["status_code"] == 500
    assert body["detail"].startswith("Your last action was not saved")
    assert_no_leak(response.text)


def test_a_database_failure_before_the_handler_is_generic_too(
    town: SmallTown,
    browser: Browser,
    client: TestClient[Litestar],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database gone while the sign-in middleware resolves the session cookie (before
    any handler runs): the same generic page, on a real route."""
    browser.login("member")
    client.cookies.set("jifen_lang", "en", domain=HOST)

    def database_down(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError(SQL_IN_MESSAGE, {}, Exception("could not connect to server"))

    monkeypatch.setattr("web.auth.resolve_session", database_down)
    for path in ("/entries", "/api/me"):
        response = client.get(path)
        assert response.status_code == 500, path
        assert_no_leak(response.text)


def test_a_locked_database_is_a_busy_page_to_retry_not_a_500(
    town: SmallTown, browser: Browser, client: TestClient[Litestar]
) -> None:
    # A writer that outlasts SQLite's busy timeout: the request saved nothing and can
    # simply be sent again, so it says so (and when), and is no server fault.
    browser.login("member")
    client.cookies.set("jifen_lang", "en", domain=HOST)
    response = browser.submit("/", "/boom/locked", {})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "The service is busy; nothing was saved. Try again in a few seconds." in response.text
    assert_no_leak(response.text)


def test_a_failed_request_keeps_none_of_its_changes(
    town: SmallTown, browser: Browser, client: TestClient[Litestar], database: Database
) -> None:
    browser.login("admin")
    response = browser.submit("/boards", "/boom/write", {})
    assert response.status_code == 500
    assert_no_leak(response.text)
    with database.transaction(write=False) as session:
        kinds = session.scalars(text("SELECT kind FROM audit_event")).all()
    assert "test.boom" not in kinds


def test_the_error_is_logged_for_the_operator(
    town: SmallTown, client: TestClient[Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    """What the visitor does not see, the log has: the path and the exception."""
    with caplog.at_level("ERROR", logger="jifen.web"):
        assert client.get("/boom").status_code == 500
    record = next(r for r in caplog.records if r.name == "jifen.web")
    assert "/boom" in record.getMessage()
    assert record.exc_info is not None and SECRET_MESSAGE in str(record.exc_info[1])


def test_the_error_line_carries_the_request_id_the_visitor_got(
    town: SmallTown, client: TestClient[Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    """The id in the failed response's X-Request-ID finds the error and its access line."""
    with caplog.at_level("INFO", logger="jifen"):
        response = client.get("/boom")
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    error = next(r for r in caplog.records if r.name == "jifen.web")
    access = next(r for r in caplog.records if r.name == "jifen.access")
    assert error.request_id == request_id  # type: ignore[attr-defined]
    assert access.request_id == request_id  # type: ignore[attr-defined]
    assert access.status == 500  # type: ignore[attr-defined]


# --- input the database cannot store ----------------------------------------------------

# Values a form or an address can carry that a database column cannot: a NUL character
# (PostgreSQL refuses it in text), numbers past 64 bits (SQLite's driver overflows) and
# past 32 bits (PostgreSQL's integer columns), a very long text.
HOSTILE_TEXT = ("a\x00b", "x" * 5000, "%_\\'\"--")
HOSTILE_NUMBERS = ("9" * 20, str(2**63), str(2**31), "-1", "0")


def query_parameters(route_path: str, app: Litestar) -> list[str]:
    """The query parameters the GET handler of a route declares."""
    route = next(r for r in app.routes if r.path == route_path and isinstance(r, HTTPRoute))
    return [
        name
        for handler in route.route_handlers
        if "GET" in handler.http_methods
        for name, field in handler.parsed_fn_signature.parameters.items()
        if type(field.kwarg_definition).__name__ == "QueryParameter"
    ]


@pytest.fixture
def world(database: Database, town: SmallTown, rulebook: Rulebook) -> World:
    return build_world(database, town, rulebook)


@pytest.mark.parametrize("role", ["member", "admin"])
def test_hostile_values_in_addresses_are_never_a_500(
    role: str, failing_app: Litestar, world: World, make_browser: Any
) -> None:
    """Every GET route, each of its query parameters and each integer id in its path
    given values a database cannot store: refused (4xx) or shown, never a 500."""
    browser, _token = browser_for(make_browser, role)
    wrong = []
    requests = 0
    for route in route_table(failing_app):
        if "GET" not in route.methods or route.path.startswith(("/static", "/schema", "/boom")):
            continue
        if route.path.startswith("/api/boom"):
            continue
        path = fill_path(route, world)
        for name in query_parameters(route.path, failing_app):
            for hostile in (*HOSTILE_TEXT, *HOSTILE_NUMBERS):
                response = browser.client.get(path, params={name: hostile}, follow_redirects=False)
                requests += 1
                if response.status_code >= 500:
                    wrong.append(f"GET {path}?{name}={hostile[:24]!r}: {response.status_code}")
        for name, kind in route.parameters.items():
            for hostile in HOSTILE_NUMBERS if kind is int else HOSTILE_TEXT[:1]:
                target = fill_path(route, world, {name: quote(hostile, safe="")})
                response = browser.client.get(target, follow_redirects=False)
                requests += 1
                if response.status_code >= 500:
                    wrong.append(f"GET {target[:80]}: {response.status_code}")
    assert requests > 200
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("role", "form_page", "action", "fields"),
    [
        (
            "member",
            "/entries/new",
            "/entries/new",
            {"rule_id": "volunteer", "quantity": "1", "description": "扶老人\x00过马路"},
        ),
        ("admin", "/admin/branches/new", "/admin/branches/new", {"code": "B\x009", "name": "x"}),
        (
            "admin",
            "/admin/accounts/new",
            "/admin/accounts/new",
            {"username": "nul-user", "display_name": "a\x00b", "password": "initial-password-1"},
        ),
    ],
)
def test_a_nul_character_in_a_form_is_never_a_500(
    role: str,
    form_page: str,
    action: str,
    fields: dict[str, str],
    world: World,
    make_browser: Any,
) -> None:
    """Stored on SQLite, refused (400) on PostgreSQL; a generic page either way."""
    browser, _token = browser_for(make_browser, role)
    data = {"activity_date": today().isoformat(), "kind": "single", **fields}
    response = browser.submit(form_page, action, data)
    assert response.status_code in (303, 400), response.status_code
    if response.status_code == 400:
        assert "Request not accepted" in response.text
        assert_no_leak(response.text)


# --- debug -----------------------------------------------------------------------------


def test_debug_is_off_by_default(
    monkeypatch: pytest.MonkeyPatch, database: Database, rulebook: Rulebook, database_url: str
) -> None:
    from web.app import create_app

    monkeypatch.delenv("JIFEN_DEBUG", raising=False)
    settings = Settings(database_url=database_url)
    assert settings.debug is False
    assert create_app(settings, database=database, rulebook=rulebook).debug is False
    for env in ("development", "test", "production"):
        assert Settings(env=env, database_url=database_url).debug is False


@pytest.mark.parametrize("value", ["true", "1"])
def test_debug_only_when_explicitly_enabled(
    monkeypatch: pytest.MonkeyPatch,
    database: Database,
    rulebook: Rulebook,
    database_url: str,
    value: str,
) -> None:
    from web.app import create_app

    monkeypatch.setenv("JIFEN_DEBUG", value)
    settings = Settings(database_url=database_url)
    assert settings.debug is True
    assert create_app(settings, database=database, rulebook=rulebook).debug is True


@pytest.mark.parametrize("value", ["false", "0", ""])
def test_debug_stays_off_when_the_variable_says_so(
    monkeypatch: pytest.MonkeyPatch, database_url: str, value: str
) -> None:
    monkeypatch.setenv("JIFEN_DEBUG", value)
    if value == "":
        # An empty variable is not a boolean; pydantic refuses it rather than guess.
        with pytest.raises(ValueError):
            Settings(database_url=database_url)
        return
    assert Settings(database_url=database_url).debug is False


def test_the_app_under_test_runs_without_debug(app: Litestar) -> None:
    assert app.debug is False
