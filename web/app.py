"""The Litestar application factory."""

from __future__ import annotations

import logging
from pathlib import Path

from litestar import Litestar, Router
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import MutableScopeHeaders, State
from litestar.middleware import DefineMiddleware
from litestar.middleware.allowed_hosts import AllowedHostsMiddleware
from litestar.response.base import ASGIResponse
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_400_BAD_REQUEST
from litestar.types import Receive, Scope, Send

from service.database import open_database
from service.kernel.config import Settings, get_settings, serving_problems
from service.kernel.logs import configure_unless_configured
from service.ledger.adoption import RulebookCache
from service.persistence.db import Database
from service.persistence.serving import ServingLock
from service.scoring.rules import Rulebook
from web import (
    accounts,
    achievements,
    admin,
    appraisals,
    audit,
    boards,
    branches,
    checkin,
    compliance,
    entries,
    groups,
    home,
    inbox,
    meetings,
    objections,
    ops,
    orgadmin,
    outbox,
    points,
    ratings,
    results,
    review,
    robots,
    roster,
    unsubscribe,
    warnings,
)
from web.api import api_router, openapi_config
from web.auth import SessionAuthMiddleware, session_cookie_name, trusts_proxy
from web.deps import DEPENDENCIES, TYPE_DECODERS
from web.errors import EXCEPTION_HANDLERS
from web.i18n import LocaleMiddleware
from web.observability import Observed, RequestMetrics
from web.readiness import SchemaGate, schema_check
from web.security import security_headers
from web.templating import template_config

STATIC_DIR = Path(__file__).resolve().parent / "static"
logger = logging.getLogger("jifen.web")
# The JSON API takes no CSRF token: its changes need an API token in the Authorization
# header, which a foreign page cannot make a browser send (web/guards.py
# requires_api_access refuses the session cookie for them).
# The probes and /metrics take no form and need no CSRF cookie either.
CSRF_EXEMPT = [r"^/api(/|$)", r"^/(healthz|readyz|metrics)$"]


def csrf_cookie_name(settings: Settings) -> str:
    # Like the session cookie: with __Host- the browser keeps it only if Secure, Path=/
    # and without Domain, so a sibling subdomain cannot plant a token of its choosing.
    return "__Host-jifen_csrf" if settings.https else "jifen_csrf"


def host_name(host_header: str) -> str:
    """The host of a Host header without its port, lower-cased ("[::1]:8000" → "::1")."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.partition(":")[0]


class AllowedHosts(AllowedHostsMiddleware):
    """Litestar's allowed-hosts check (its config and patterns), matching the host name
    without the port. Litestar 2.22 and later match the whole header, port included,
    so "127.0.0.1:8000" never matches an allowed "127.0.0.1" (litestar#4869) and every
    request to a server on a port would be refused."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allowed_hosts_regex is None:  # "*": any host
            await self.app(scope, receive, send)
            return
        host = host_name(MutableScopeHeaders(scope=scope).get("host") or "")
        if host and self.allowed_hosts_regex.fullmatch(host):
            await self.app(scope, receive, send)
            return
        response = ASGIResponse(
            body=b"Invalid host header", status_code=HTTP_400_BAD_REQUEST, media_type="text/plain"
        )
        await response(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    rulebook: Rulebook | None = None,
) -> Litestar:
    """Build the app. Refuses to start on invalid rule files (RulesError says why) and
    on settings that cannot serve (``jifen serve`` checks both before starting workers)."""
    settings = settings or get_settings()
    problems = serving_problems(settings)
    if problems:
        raise RuntimeError("; ".join(str(problem) for problem in problems))
    # The folder's versions; the ones adopted on the web join per request (web/deps.py).
    rules = RulebookCache(rulebook or Rulebook.from_directory(settings.rules_dir))
    # Who opens the database closes it: a database handed in (tests, the CLI's serve)
    # belongs to the caller, whose connections a shutdown here must not orphan.
    owned = database is None
    database = database or open_database(settings.database_url)
    # Handlers and format are the process's: ``jifen serve`` hands its logging config to
    # uvicorn (service/kernel/logs.py), a test keeps its own capture. Litestar's own
    # logging config is off: it would replace the root logger's handlers with its own.
    configure_unless_configured(settings)
    logging.getLogger("jifen").setLevel(settings.log_level)
    metrics = RequestMetrics()
    serving = ServingHooks(database, metrics) if owned else None

    # The HTML pages: forms for browsers, kept out of the OpenAPI document, which
    # describes the JSON API alone.
    pages = Router(
        path="/",
        include_in_schema=False,
        route_handlers=[
            *home.HANDLERS,
            *accounts.HANDLERS,
            *entries.HANDLERS,
            *review.HANDLERS,
            *boards.HANDLERS,
            *points.HANDLERS,
            *branches.HANDLERS,
            *admin.HANDLERS,
            *objections.HANDLERS,
            *achievements.HANDLERS,
            *orgadmin.HANDLERS,
            *roster.HANDLERS,
            *audit.HANDLERS,
            *ops.HANDLERS,
            *meetings.HANDLERS,
            *checkin.HANDLERS,
            *groups.HANDLERS,
            *compliance.HANDLERS,
            *results.HANDLERS,
            *appraisals.HANDLERS,
            *ratings.HANDLERS,
            *warnings.HANDLERS,
            *inbox.HANDLERS,
            *robots.HANDLERS,
            *outbox.HANDLERS,
            *unsubscribe.HANDLERS,
        ],
    )
    app = Litestar(
        route_handlers=[
            pages,
            api_router(),
            create_static_files_router(path="/static", directories=[STATIC_DIR]),
        ],
        dependencies=DEPENDENCIES,
        type_decoders=TYPE_DECODERS,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            # First, so a request naming another host touches nothing (not even the
            # session lookup): links built from the Host header cannot point elsewhere.
            DefineMiddleware(
                AllowedHosts, config=AllowedHostsConfig(allowed_hosts=list(settings.allowed_hosts))
            ),
            # Before the session lookup, which reads tables an old schema may lack.
            DefineMiddleware(SchemaGate, database=database),
            DefineMiddleware(
                LocaleMiddleware,
                default_locale=settings.default_locale,
                timezone=settings.timezone,
            ),
            DefineMiddleware(SessionAuthMiddleware, database=database, settings=settings),
        ],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name=csrf_cookie_name(settings),
            cookie_secure=settings.https,
            cookie_httponly=True,
            cookie_samesite="lax",
            exclude=CSRF_EXEMPT,
        ),
        template_config=template_config(lambda: rules.last, settings),
        openapi_config=openapi_config(session_cookie_name(settings)),
        state=State(
            {"settings": settings, "database": database, "rulebook": rules, "metrics": metrics}
        ),
        before_send=[security_headers(settings.https)],
        on_startup=[serving.start] if serving else [],
        on_shutdown=[serving.stop] if serving else [],
        debug=settings.debug,
        logging_config=None,
    )
    # Around the whole app, not as a route's middleware: 404s and refused hosts are
    # requests too, to be logged and counted (web/observability.py).
    app.asgi_handler = Observed(
        app.asgi_handler, trust_proxy=trusts_proxy(settings), metrics=metrics
    )
    return app


class ServingHooks:
    """What an app that opened its database does at startup and shutdown: it holds the
    database's serving lock (so ``jifen restore`` is refused while it serves), says in
    the log when the schema is not this release's, and closes what it opened."""

    def __init__(self, database: Database, metrics: RequestMetrics) -> None:
        self.database = database
        self.metrics = metrics
        self.lock: ServingLock | None = None

    def start(self) -> None:
        self.lock = ServingLock.acquire(self.database.engine)
        problem = schema_check(self.database)
        if problem is not None:
            logger.error("the app answers 503 until this is fixed: %s", problem)

    def stop(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        self.database.dispose()
        self.metrics.process_ended()
