"""Dependencies every controller shares: the request transaction and the principal."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import anyio.to_thread
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.persistence.db import Database
from service.scoring.rules import Rulebook

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _finish(session: Session, ok: bool) -> None:
    try:
        if ok:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def provide_db(
    state: State, request: Request[Any, Any, Any]
) -> AsyncGenerator[Session, None]:
    """One transaction per request, committed after the handler and the template render
    succeed, before the response is sent; rolled back on any exception. Reads use a
    deferred transaction, state changes a write transaction (BEGIN IMMEDIATE on SQLite).
    """
    database: Database = state.database
    factory = database.reader if request.method in SAFE_METHODS else database.writer
    session = factory()
    try:
        yield session
    except BaseException:
        await anyio.to_thread.run_sync(_finish, session, False)
        raise
    await anyio.to_thread.run_sync(_finish, session, True)


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal: Principal | None = request.scope.get("user")
    if principal is None:
        raise NotAuthorizedException()
    return principal


def provide_rulebook(state: State) -> Rulebook:
    rulebook: Rulebook = state.rulebook
    return rulebook


# Explicit markers: Litestar 3 stops inferring which parameters are dependencies.
Db = NamedDependency[Session]
Actor = NamedDependency[Principal]
Rules = NamedDependency[Rulebook]

DEPENDENCIES = {
    "db": Provide(provide_db),
    "principal": Provide(provide_principal, sync_to_thread=False),
    "rulebook": Provide(provide_rulebook, sync_to_thread=False),
}
