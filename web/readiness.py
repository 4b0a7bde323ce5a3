"""Whether this process can serve: the database schema must be the one this release's
code expects. Started on a database whose schema is behind (an upgrade not run yet),
every page would fail on a missing table or column; instead each request gets a 503
that names the fix, and /readyz reports not ready (web/ops/views.py), until
``jifen db upgrade`` has run. ``jifen serve`` refuses to start on such a database in the
first place; this covers an app started another way, or a schema changed under it.
"""

from __future__ import annotations

import logging

import anyio.to_thread
from litestar.enums import ScopeType
from litestar.exceptions import ServiceUnavailableException
from litestar.types import ASGIApp, Receive, Scope, Send

from service.persistence.db import Database
from service.persistence.migrate import revision_of, schema_problem

logger = logging.getLogger("jifen.web")
# Answered whatever the schema: the probes say for themselves whether the process is
# alive and ready, and /metrics reports what it can.
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class NotReady(ServiceUnavailableException):
    """The database schema is not this release's (web/errors.py shows the fix)."""


def schema_check(database: Database) -> str | None:
    """Why ``database`` cannot be served by this release (None: it can)."""
    with database.transaction(write=False) as session:
        return schema_problem(revision_of(session.connection()))


class SchemaGate:
    """Refuses every request with 503 while the schema is not this release's; checks
    again on each request until it is, then never again (the code does not change
    under a running process, and ``jifen restore`` is refused while it serves)."""

    def __init__(self, app: ASGIApp, database: Database) -> None:
        self.app = app
        self.database = database
        self.ready = False
        self.logged = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.ready and scope["type"] == ScopeType.HTTP and scope["path"] not in OPS_PATHS:
            problem = await anyio.to_thread.run_sync(schema_check, self.database)
            if problem is not None:
                if not self.logged:  # once, not on every request
                    logger.error("not serving requests: %s", problem)
                    self.logged = True
                # The error page reads the principal; nobody is signed in on it.
                scope["user"] = None
                scope["auth"] = None
                raise NotReady(detail=problem)
            self.ready = True
        await self.app(scope, receive, send)
