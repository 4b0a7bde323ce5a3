"""The JSON API against its own OpenAPI schema, with schemathesis: generated requests,
valid and invalid, to every /api operation of the running app (in-process over ASGI),
authenticated with an API token (a secretary's: a member with a branch to review, so
every operation has something to do) and with a real session cookie taken from /login
(reads only: every change answers the cookie with a documented 401).

``call_and_validate`` runs schemathesis' default checks on every response: no 5xx
(not_a_server_error), a documented status code, the documented content type and
headers, a body that matches the documented schema, and in negative mode (data that
breaks the schema) a 4xx refusal (negative_data_rejection); in positive mode valid data
must not be refused as invalid (positive_data_acceptance).

The HTML pages are kept out of the OpenAPI document (web/app.py); the filter on /api
below only guards against one slipping in.

Declaring an entry and rejecting one can be refused with 422 for input that matches the
schema: the web form's checks (a rule in force on the date, a date not in the future,
a reason that is not blank) depend on the rules and the calendar, which a schema cannot
state. Those two operations accept 422 as a refusal of valid data; no other does.

Schemathesis' own pytest integration (``schema.parametrize`` with
``schemathesis.pytest.from_fixture``) breaks on pytest 9 (it reads ``Item._nodeid``), so
each operation's cases come from ``operation.as_strategy`` under a Hypothesis ``given``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from litestar import Litestar
from litestar.testing import TestClient
from litestar.types import ASGIApp, Receive, Scope, Send
from schemathesis.generation import GenerationMode

from service.kernel.config import Settings
from service.persistence.db import Database
from service.scoring.rules import Rulebook
from tests.conftest import Browser, SmallTown
from tests.functional.test_api_tokens import issue

# Enough to find a missing status code or a wrong type; the operations run in well under
# a minute.
MAX_EXAMPLES = 40
SESSION_COOKIE = "jifen_session"
# The operations the API has; a new one fails test_every_api_operation_is_run until it
# is named here (and so reviewed for what it should answer).
OPERATIONS = {
    "GET /api/me",
    "GET /api/boards/{period}/members",
    "GET /api/boards/{period}/branches",
    "GET /api/entries",
    "POST /api/entries",
    "GET /api/entries/{entry_id}",
    "GET /api/reviews",
    "POST /api/reviews/{entry_id}/approve",
    "POST /api/reviews/{entry_id}/reject",
    "GET /api/members",
    "GET /api/members/{member_id}",
    "GET /api/meetings",
    "POST /api/meetings",
    "GET /api/meetings/{meeting_id}/attendance",
    "POST /api/meetings/{meeting_id}/attendance",
    "GET /api/results",
    "GET /api/results/{kind}/{period}",
}
# Valid by the schema, refused by the domain's checks (see the module's docstring).
DOMAIN_CHECKED = (
    ("POST", "/api/entries"),
    ("POST", "/api/reviews/{entry_id}/reject"),
    ("POST", "/api/meetings"),
)
ACCEPTED_WITH_422 = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]


@pytest.fixture
def session_cookie(app: Litestar, town: SmallTown) -> str:
    """A signed-in member's session (a member has points, a rank and a branch)."""
    with TestClient(app=app) as client:
        Browser(client).login("member")
        token = client.cookies.get(SESSION_COOKIE)
    assert token
    return str(token)


def without_lifespan(app: Litestar) -> ASGIApp:
    """The app for schemathesis' in-process client, minus the lifespan.

    Schemathesis would start the app's lifespan in its own event loop thread and stop it
    in another task, which Litestar's shutdown refuses (an anyio cancel scope exited in
    the wrong task). The lifespan only disposes the database pool, which the fixtures
    own; an app that refuses the lifespan scope before reading from it is served
    without one.
    """

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if str(scope["type"]) == "lifespan":
            raise RuntimeError("no lifespan here")
        await app(scope, receive, send)

    return serve


@pytest.fixture
def bearer_headers(database: Database, town: SmallTown) -> dict[str, str]:
    """An API token of the town's secretary (a member too, and a reviewer of 金湾)."""
    return {"Authorization": f"Bearer {issue(database, town, 'secretary')}"}


@pytest.fixture
def api_app(database: Database, rulebook: Rulebook, database_url: str, tmp_path: Path) -> Litestar:
    """The app with the throttle off: schemathesis sends invalid tokens from one address
    by design, hundreds of them, which the throttle would soon answer with 429 (its
    pause is tested in test_api_tokens.py)."""
    from web.app import create_app

    settings = Settings(
        env="test",
        database_url=database_url,
        upload_dir=tmp_path / "uploads",
        login_max_failures_per_account=0,
        login_max_failures_per_address=0,
    )
    return create_app(settings, database=database, rulebook=rulebook)


@pytest.fixture
def api_schema(api_app: Litestar) -> Any:
    config = schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES},
            "operations": [
                {
                    "include-method": method,
                    "include-path": path,
                    "checks": {
                        "positive_data_acceptance": {"expected-statuses": ACCEPTED_WITH_422}
                    },
                }
                for method, path in DOMAIN_CHECKED
            ],
        }
    )
    schema = schemathesis.openapi.from_asgi(
        "/schema/openapi.json", without_lifespan(api_app), config=config
    )
    return schema.include(path_regex="^/api/")


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def has_parameters(operation: Any) -> bool:
    """Negative data needs something to break: a parameter or a body."""
    return any(True for _ in operation.iter_parameters()) or bool(operation.body)


def run_cases(
    operation: Any,
    mode: GenerationMode,
    cookies: dict[str, str],
    headers: dict[str, str] | None = None,
) -> int:
    """Run the generated cases of one operation; the number run (to prove it ran)."""
    ran = 0

    # Hypothesis' database would replay cases across runs and schemas; a fixed derandomised
    # run makes a failure reproduce on the next run too.
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case: Any) -> None:
        nonlocal ran
        ran += 1
        case.call_and_validate(cookies=cookies, headers=headers)

    check()
    return ran


def test_every_api_operation_is_run(api_schema: Any) -> None:
    assert {operation.label for operation in operations(api_schema)} == OPERATIONS


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_the_api_conforms_to_its_schema(
    api_schema: Any, session_cookie: str, mode: GenerationMode
) -> None:
    ran: dict[str, int] = {}
    for operation in operations(api_schema):
        if mode is GenerationMode.NEGATIVE and not has_parameters(operation):
            continue
        ran[operation.label] = run_cases(operation, mode, {SESSION_COOKIE: session_cookie})
    assert ran and all(ran.values()), ran


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_the_api_conforms_to_its_schema_with_a_token(
    api_schema: Any, bearer_headers: dict[str, str], mode: GenerationMode
) -> None:
    ran: dict[str, int] = {}
    for operation in operations(api_schema):
        if mode is GenerationMode.NEGATIVE and not has_parameters(operation):
            continue
        ran[operation.label] = run_cases(operation, mode, {}, bearer_headers)
    assert ran and all(ran.values()), ran
    if mode is GenerationMode.POSITIVE:
        assert set(ran) == OPERATIONS


def test_the_api_conforms_to_its_schema_when_signed_out(api_schema: Any, town: SmallTown) -> None:
    """Without a session every operation answers a documented 401 with the JSON error
    body, never a redirect to the sign-in page."""
    for operation in operations(api_schema):
        assert run_cases(operation, GenerationMode.POSITIVE, {}) > 0


def test_the_api_conforms_to_its_schema_with_a_revoked_token(
    api_schema: Any, database: Database, town: SmallTown
) -> None:
    """A token that no longer works gets the documented 401 everywhere."""
    from sqlalchemy import update

    from service.persistence.models import ApiToken
    from service.persistence.types import utcnow

    secret = issue(database, town, "secretary")
    with database.transaction() as session:
        session.execute(update(ApiToken).values(revoked_at=utcnow()))
    for operation in operations(api_schema):
        headers = {"Authorization": f"Bearer {secret}"}
        assert run_cases(operation, GenerationMode.POSITIVE, {}, headers) > 0
