"""Crafted numbers and periods never give a 500: every route of the app (``app.routes``,
so a route added later is walked the day it exists), with each path parameter, each
query parameter and each field of its form replaced in turn by a value that looks like
a number or a period and is none: digits of other scripts that ``str.isdigit()`` passes
and ``int()`` refuses (``²``, ``①``) or reads (``٣``, ``３``), zero, a negative, a number
no database column holds, and periods of the year 0 that ``date()`` refuses.

A refusal (400, 404, 422, a redirect) is the right answer; the one parser of ids,
numbers and periods (service/kernel/numbers.py, service/kernel/periods.py) gives it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from litestar import Litestar

from service.persistence.db import Database
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown
from tests.functional.test_csrf_everywhere import (
    Route,
    fill_path,
    matrix_case,
    route_table,
)
from tests.functional.test_permission_matrix import World, browser_for, build_world

CRAFTED = (
    "²",
    "①",
    "٣",
    "３",
    "0",
    "-1",
    "99999999999999999999",
    "0000-01",
    "0001",
    "0000-Q1",
    "0001-01",
    "9999-12",
)
# Query parameters the pages read (besides those a handler declares, found from its
# signature): filters, pages, the line an objection is about, the year of a page.
KNOWN_QUERY = (
    "page",
    "period",
    "member",
    "branch",
    "entry",
    "year",
    "revision",
    "size",
    "from",
    "to",
    "since",
    "until",
    "account",
    "thumb",
    "limit",
    "offset",
    "branch_id",
)
# Forms the permission matrix does not post (its rows need no fields for them).
EXTRA_FORMS = {
    "/admin/accounts/{account_id:str}/tokens": {"name": "对接系统", "days": "30"},
}
# Not the app's: Litestar's static files and the OpenAPI viewer.
SKIPPED_PREFIXES = ("/static", "/schema")
# What a handler's signature names that is not a query parameter.
NOT_QUERY = frozenset(
    {"request", "db", "principal", "rulebook", "data", "scope", "state", "headers", "cookies"}
)


def who_for(path: str) -> str:
    """The role that gets past the route's guard, so the handler itself is reached."""
    for prefix, role in (
        ("/objections", "member"),
        ("/entries", "member"),
        ("/me/", "member"),
        ("/branches", "secretary"),
        ("/review", "secretary"),
        ("/members", "secretary"),
    ):
        if path.startswith(prefix):
            return role
    return "admin"


def declared_query(app: Litestar, route: Route, method: str) -> list[str]:
    for handler_route in app.routes:
        if handler_route.path != route.path:
            continue
        for handler in getattr(handler_route, "route_handlers", ()):
            if method in handler.http_methods:
                names = handler.parsed_fn_signature.parameters
                return [n for n in names if n not in NOT_QUERY and n not in route.parameters]
    return []


def crafted_paths(route: Route, world: World) -> Iterator[str]:
    for name in route.parameters:
        for value in CRAFTED:
            yield fill_path(route, world, {name: quote(value)})


def walked(app: Litestar) -> list[Route]:
    return [r for r in route_table(app) if not r.path.startswith(SKIPPED_PREFIXES)]


@pytest.fixture
def world(database: Database, town: SmallTown, rulebook: Rulebook) -> World:
    return build_world(database, town, rulebook)


def _failures(responses: Iterator[tuple[str, Any]]) -> list[str]:
    return [
        f"{label}: {response.status_code}"
        for label, response in responses
        if response.status_code >= 500
    ]


def test_no_get_route_fails_on_crafted_values(
    app: Litestar, world: World, make_browser: Any
) -> None:
    browsers: dict[str, Browser] = {}

    def browser(role: str) -> Browser:
        if role not in browsers:
            browsers[role] = browser_for(make_browser, role)[0]
        return browsers[role]

    def requests() -> Iterator[tuple[str, Any]]:
        for route in walked(app):
            if "GET" not in route.methods:
                continue
            client = browser(who_for(route.path)).client
            paths = list(crafted_paths(route, world))
            base = fill_path(route, world)
            case = matrix_case("GET", route)
            if case is not None and "?" in case.path:
                base = world.fill(case.path).split("?")[0]
            # Each parameter the handler declares on its own; every other known one at
            # once (one request per value, not one per name and value: fast enough to run
            # with the rest of the suite).
            for value in CRAFTED:
                for name in declared_query(app, route, "GET"):
                    paths.append(f"{base}?{urlencode({name: value})}")
                paths.append(f"{base}?{urlencode(dict.fromkeys(KNOWN_QUERY, value))}")
            for path in paths:
                yield f"GET {path}", client.get(path, follow_redirects=False)

    failures = _failures(requests())
    assert not failures, "\n".join(failures)


def test_no_post_route_fails_on_crafted_values(
    app: Litestar, world: World, make_browser: Any
) -> None:
    tokens: dict[str, tuple[Browser, str]] = {}

    def browser(role: str) -> tuple[Browser, str]:
        if role not in tokens:
            tokens[role] = browser_for(make_browser, role)
        return tokens[role]

    def requests() -> Iterator[tuple[str, Any]]:
        for route in walked(app):
            if "POST" not in route.methods or route.path.startswith(("/login", "/logout", "/lang")):
                continue
            client, token = browser(who_for(route.path))
            case = matrix_case("POST", route)
            form = {k: world.fill(v) for k, v in case.form.items()} if case else {}
            form = {**EXTRA_FORMS.get(route.path, {}), **form}
            base = fill_path(route, world)
            for path in crafted_paths(route, world):
                yield (
                    f"POST {path}",
                    client.client.post(
                        path, data={**form, "_csrf_token": token}, follow_redirects=False
                    ),
                )
            for value in CRAFTED:
                changed = [{name: value} for name in sorted(form)]
                changed.append(dict.fromkeys(KNOWN_QUERY, value))
                for fields in changed:
                    yield (
                        f"POST {base} {fields}",
                        client.client.post(
                            base,
                            data={**form, **fields, "_csrf_token": token},
                            follow_redirects=False,
                        ),
                    )

    failures = _failures(requests())
    assert not failures, "\n".join(failures)
