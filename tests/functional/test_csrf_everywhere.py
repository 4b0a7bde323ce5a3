"""Every state change is a POST with a CSRF token, and nothing else changes state.

The routes come from the Litestar app itself (``app.routes``), so a route added later is
covered the day it exists:

- every POST route, posted by a visitor, a member and the office without a token, with
  a forged token, and with another session's valid token (in the form and in the
  header): 403, the "form has expired" page, and not one row of any table changed;
- except under /api, exempt from the CSRF token by design (web/app.py): its changes take
  an API token in the Authorization header, which no foreign page can make a browser
  send, and refuse the session cookie. There every one of those posts, and even one
  with this session's valid CSRF token, gets 401 and changes nothing: the cookie a
  forged request would carry authorises nothing;
- every GET route (and the permission matrix's GET rows with their query strings), as
  every role: not one row changed;
- no route answers PUT, PATCH, DELETE or TRACE (405) unless listed as deliberate, and
  OPTIONS changes nothing either.

"Not one row changed" is a digest of every table (row count and SHA-256 of the rows in
primary-key order), taken before and after. The helpers here (``route_table``,
``fill_path``, ``snapshot``) are shared with the other security tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import select

from service.persistence.db import Database
from service.persistence.models import Base
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown, raw_connection
from tests.functional.test_permission_matrix import (
    ANONYMOUS,
    GETS,
    POSTS,
    ROLES,
    Case,
    World,
    browser_for,
    build_world,
)

HOST = "testserver.local"
EXPIRED_EN = "This form has expired"
EXPIRED_ZH = "表单已过期"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Methods a route may answer besides GET and POST: HEAD (the static files) and OPTIONS
# (Litestar answers it for every route) only read.
READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})
# A route that deliberately takes PUT, PATCH or DELETE goes here with the reason;
# there is none: HTML forms only send GET and POST.
DELIBERATE_OTHER_METHODS: dict[tuple[str, str], str] = {}
OTHER_METHODS = ("PUT", "PATCH", "DELETE", "TRACE")

# Path parameters by name: the World id (tests/functional/test_permission_matrix.py) or
# a literal. A parameter not named here gets MISSING_ID (an int) or "x" (text): the CSRF
# check and the method check come before any lookup, so such a route is still covered
# (and its refusal for a missing object is the object-access test's business).
PARAMETERS: dict[str, str] = {
    "entry_id": "{pending_member}",
    "member_id": "{member}",
    "branch_id": "{jinwan}",
    "account_id": "{account_member2}",
    "org_id": "{org_jinwan}",
    "objection_id": "{objection}",
    "meeting_id": "{meeting_jinwan}",
    "leave_id": "{leave_member}",
    "appraisal_id": "{appraisal_jinwan}",
    "year": "2025",
    "case_id": "{case_member}",
    "band_period": "{band_period}",
    "period": "{last_month}",
    "step": "adopted",
    "round_id": "{rating_round}",
    "indicator": "{rated_indicator}",
    "file_path": "app.css",
    "path": "openapi.json",
}
MISSING_ID = "{nobody}"
# POST routes exempt from the CSRF token by design, with the status a post without one
# gets here. RFC 8058's one-click unsubscribe: a mail client posts it without ever
# loading a form, and the secret token in its address is its only authority (no cookie
# is read), so there is nothing for a forged request to borrow (web/unsubscribe/views.py).
# Filled with "x", an address that is no link's: each post is a 404 and changes nothing;
# tests/functional/test_unsubscribe_pages.py posts to a real link.
CSRF_EXEMPT_BY_DESIGN: dict[str, int] = {"/notify/unsubscribe/{token:str}/one-click": 404}


@pytest.fixture
def world(database: Database, town: SmallTown, rulebook: Rulebook) -> World:
    """The permission matrix's town: both branches' entries, suggestions, a published
    month with an objection, organisations, a disabled account."""
    return build_world(database, town, rulebook)


# --- the app's routes -------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    path: str  # as Litestar writes it: "/entries/{entry_id:int}/withdraw"
    methods: frozenset[str]
    parameters: dict[str, type]  # name → type of each path parameter

    def __str__(self) -> str:
        return self.path


def route_table(app: Litestar) -> list[Route]:
    """Every HTTP route of the app with its methods and path parameters."""
    table = []
    for route in app.routes:
        methods = frozenset(getattr(route, "methods", ()))
        if not methods:  # a websocket or ASGI mount: no HTTP methods to check
            continue
        parameters = {name: p.type for name, p in route.path_parameters.items()}
        table.append(Route(route.path, methods, parameters))
    return table


def fill_path(route: Route, world: World, chosen: dict[str, str] | None = None) -> str:
    """The route's path with each parameter replaced: ``chosen`` first, then
    PARAMETERS, then a missing id (or "x" for text)."""
    path = route.path
    for name, kind in route.parameters.items():
        template = (chosen or {}).get(name) or PARAMETERS.get(name)
        if template is None:
            template = MISSING_ID if kind is int else "x"
        full = next(part for part in _braced(path) if part.split(":")[0] == name)
        path = path.replace("{" + full + "}", world.fill(template))
    return path


def _braced(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def segments(path: str) -> list[str]:
    """Path segments, a parameter ("{branch_id:int}", "{jinwan}") as "*"."""
    path = path.split("?", 1)[0]
    return ["*" if part.startswith("{") else part for part in path.strip("/").split("/")]


def same_shape(route_path: str, case_path: str) -> bool:
    a, b = segments(route_path), segments(case_path)
    return len(a) == len(b) and all(x == y or "*" in (x, y) for x, y in zip(a, b, strict=True))


def matrix_case(method: str, route: Route) -> Case | None:
    """The permission matrix's row for this route, for its realistic form fields."""
    rows = POSTS if method == "POST" else GETS
    return next(
        (case for case in rows if case.method == method and same_shape(route.path, case.path)),
        None,
    )


# --- every table, before and after --------------------------------------------------------

# Columns that legitimately move on a request that changes nothing else: the sign-in
# middleware refreshes a session's last_seen_at (at most once a minute, see
# service/accounts/sessions.py TOUCH_INTERVAL) so idle sessions expire; that is the session
# working, not the request changing the town's records. An API token's last_used_at
# moves the same way with its use.
VOLATILE_COLUMNS = frozenset({("web_session", "last_seen_at"), ("api_token", "last_used_at")})


def snapshot(database: Database, *, skip_tables: Iterable[str] = ()) -> dict[str, str]:
    """Each table's row count and a SHA-256 of all its rows in primary-key order."""
    skipped = set(skip_tables)
    digests: dict[str, str] = {}
    with raw_connection(database) as connection:
        for table in Base.metadata.sorted_tables:
            if table.name in skipped:
                continue
            columns = [c for c in table.columns if (table.name, c.name) not in VOLATILE_COLUMNS]
            order = list(table.primary_key.columns) or columns
            rows = connection.execute(select(*columns).order_by(*order)).all()
            digest = hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()
            digests[table.name] = f"{len(rows)} rows {digest[:16]}"
    return digests


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return [
        f"{name}: {before[name]} → {after.get(name)}"
        for name in before
        if before[name] != after.get(name)
    ]


# --- every POST needs this session's token ------------------------------------------------


def post_routes(app: Litestar) -> list[Route]:
    return [route for route in route_table(app) if "POST" in route.methods]


def form_for(route: Route, world: World) -> tuple[dict[str, str], Any]:
    """Realistic fields (the matrix's row, when there is one) so a missing CSRF check
    would show as a change, not hide behind a form error."""
    case = matrix_case("POST", route)
    if case is None:
        return {}, None
    form = {key: world.fill(value) for key, value in case.form.items()}
    files = {"roster": ("roster.csv", case.upload, "text/csv")} if case.upload else None
    return form, files


def is_api(route: Route) -> bool:
    """Under /api: changes take an API token, never the session cookie (web/auth.py)."""
    return route.path.startswith("/api/")


def cookie_refused(response: Any) -> bool:
    """The JSON 401 of an API change the session cookie cannot authorise."""
    return (
        response.status_code == 401
        and response.headers.get("content-type", "").startswith("application/json")
        and response.json().get("status_code") == 401
    )


def forged(token: str) -> str:
    """The session's own token with its last character changed: well-formed, wrong MAC."""
    return token[:-1] + ("0" if token[-1] != "0" else "1")


@pytest.mark.parametrize("role", [ANONYMOUS, "member", "admin"])
def test_every_post_refuses_a_missing_or_foreign_token(
    role: str, app: Litestar, world: World, make_browser: Any, database: Database
) -> None:
    browser, token = browser_for(make_browser, role)
    _stranger, foreign = browser_for(make_browser, "secretary")
    assert foreign != token
    routes = post_routes(app)
    assert len(routes) >= 30, [str(r) for r in routes]  # the app's forms, not an empty list
    attempts: dict[str, dict[str, str]] = {
        "no token": {},
        "an empty token": {"_csrf_token": ""},
        "a forged token": {"_csrf_token": forged(token)},
        "a made-up token": {"_csrf_token": "x" * 64},
        "another session's token": {"_csrf_token": foreign},
    }
    wrong: list[str] = []
    for route in routes:
        path = fill_path(route, world)
        form, files = form_for(route, world)
        before = snapshot(database)
        responses = {
            name: browser.client.post(
                path, data={**form, **extra}, files=files, follow_redirects=False
            )
            for name, extra in attempts.items()
        }
        # The token in the header (as a script would send it) is checked the same way.
        responses["another session's token in the header"] = browser.client.post(
            path,
            data=form,
            files=files,
            headers={"x-csrftoken": foreign},
            follow_redirects=False,
        )
        for name, response in responses.items():
            if route.path in CSRF_EXEMPT_BY_DESIGN:
                if response.status_code != CSRF_EXEMPT_BY_DESIGN[route.path]:
                    wrong.append(f"POST {path} with {name}: {response.status_code}")
            elif is_api(route):
                if not cookie_refused(response):
                    wrong.append(f"POST {path} with {name}: {response.status_code}")
            elif response.status_code != 403 or EXPIRED_EN not in response.text:
                wrong.append(f"POST {path} with {name}: {response.status_code}")
        wrong.extend(
            f"POST {path} changed {change}" for change in changed(before, snapshot(database))
        )
    assert not wrong, f"as {role}:\n" + "\n".join(wrong)

    # The control: the same posts with this session's own token get past the CSRF check
    # (whatever the route then decides), so the refusals above were the token's doing.
    # Under /api a valid CSRF token changes nothing: the cookie still authorises no change.
    for route in routes:
        form, files = form_for(route, world)
        before = snapshot(database)
        response = browser.client.post(
            fill_path(route, world),
            data={**form, "_csrf_token": token},
            files=files,
            follow_redirects=False,
        )
        if is_api(route):
            assert cookie_refused(response), f"POST {route} as {role}: {response.status_code}"
            assert not changed(before, snapshot(database)), f"POST {route} changed something"
        else:
            assert EXPIRED_EN not in response.text, f"POST {route} refused a valid token"


def test_only_the_listed_routes_skip_the_csrf_check(app: Litestar) -> None:
    """A handler that opts out of the CSRF check (opt exclude_from_csrf) must be listed
    above with its reason."""
    exempt = {
        route.path
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        if handler.opt.get("exclude_from_csrf")
    }
    assert exempt == set(CSRF_EXEMPT_BY_DESIGN)


def test_the_expired_page_speaks_the_default_language(
    world: World, make_browser: Any, database: Database
) -> None:
    browser, _token = browser_for(make_browser, "member")
    browser.client.cookies.delete("jifen_lang", domain=HOST)
    before = snapshot(database)
    response = browser.client.post(
        world.fill("/entries/{pending_member}/withdraw"), data={}, follow_redirects=False
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert EXPIRED_ZH in response.text and EXPIRED_EN not in response.text
    assert 'href="/"' in response.text  # a way back
    assert not changed(before, snapshot(database))


# --- GET never changes state ---------------------------------------------------------------

# Tables a GET may write to by design, with the reason: none. Failed sign-ins
# (login_failure) are written by POST /login and POST /account/password, and by an API
# request whose bearer token is refused (whatever its method: the pages' GETs here send
# none); the throttle prunes old ones only when recording a new failure.
GET_MAY_WRITE: tuple[str, ...] = ()


def get_paths(app: Litestar, world: World) -> list[str]:
    """Every GET route filled with real ids, plus the matrix's GET rows (the same pages
    with their query strings and the other branch's ids)."""
    paths = [fill_path(route, world) for route in route_table(app) if "GET" in route.methods]
    paths += [world.fill(case.path) for case in GETS]
    return list(dict.fromkeys(paths))


@pytest.mark.parametrize("role", ROLES)
def test_no_get_changes_state(
    role: str, app: Litestar, world: World, make_browser: Any, database: Database
) -> None:
    browser, _token = browser_for(make_browser, role)
    paths = get_paths(app, world)
    assert len(paths) >= 80, paths
    wrong: list[str] = []
    before = snapshot(database, skip_tables=GET_MAY_WRITE)
    for path in paths:
        status = browser.client.get(path, follow_redirects=False).status_code
        assert status < 500, f"GET {path} as {role}: {status}"
        after = snapshot(database, skip_tables=GET_MAY_WRITE)
        wrong.extend(f"GET {path} changed {change}" for change in changed(before, after))
        before = after
    assert not wrong, f"as {role}:\n" + "\n".join(wrong)


# --- no other state-changing method ---------------------------------------------------------


def test_routes_take_only_get_and_post(app: Litestar) -> None:
    """What the app declares: every method beyond GET and POST is a read (HEAD,
    OPTIONS), unless listed in DELIBERATE_OTHER_METHODS with its reason."""
    extra = [
        f"{method} {route}"
        for route in route_table(app)
        for method in sorted(route.methods - READ_ONLY - {"POST"})
        if (method, route.path) not in DELIBERATE_OTHER_METHODS
    ]
    assert not extra, "routes taking a state-changing method other than POST:\n" + "\n".join(extra)


def test_other_methods_are_refused_and_change_nothing(
    app: Litestar, world: World, make_browser: Any, database: Database
) -> None:
    """Sent for real to every route as the office, with a valid token in the header so
    the CSRF check is not what refuses them: 405 each, and not one row changed.
    OPTIONS changes nothing either."""
    browser, token = browser_for(make_browser, "admin")
    wrong = []
    before = snapshot(database)
    routes = route_table(app)
    for route in routes:
        path = fill_path(route, world)
        for method in OTHER_METHODS:
            if (method, route.path) in DELIBERATE_OTHER_METHODS:
                continue
            response = browser.client.request(
                method, path, headers={"x-csrftoken": token}, follow_redirects=False
            )
            if response.status_code != 405:
                wrong.append(f"{method} {path}: {response.status_code}")
        # Litestar answers OPTIONS itself (204; 403 where the controller's guard
        # refuses the role, e.g. /objections for the office): a read either way.
        options = browser.client.request("OPTIONS", path, follow_redirects=False)
        if options.status_code not in (204, 403):
            wrong.append(f"OPTIONS {path}: {options.status_code}")
    after = snapshot(database)
    wrong.extend(f"changed {change}" for change in changed(before, after))
    assert not wrong, "\n".join(wrong)
