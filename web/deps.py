"""Dependencies every controller shares: the request transaction, the principal and the
rules; and what day and month it is in the town, which every feature's pages ask."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import date
from typing import Any

import anyio.to_thread
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.params import FromPath
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.config import Settings
from service.kernel.errors import InvalidInput
from service.kernel.numbers import parse_id
from service.kernel.periods import parse_period, period_of, town_today
from service.ledger.adoption import RulebookCache
from service.notify.inbox import header_count
from service.persistence.db import Database
from service.persistence.types import utcnow
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


def _count(database: Database, principal: Principal) -> int:
    with database.transaction(write=False) as session:
        return header_count(session, principal.account_id, principal.member_branch_id)


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
    # The page's own session, for the header's inbox count (web/templating.py); taken
    # back before the session ends, so an error page rendered afterwards never reopens
    # it (it counts in a transaction of its own).
    request.state.db_session = session
    try:
        yield session
    except BaseException:
        request.state.db_session = None
        await anyio.to_thread.run_sync(_finish, session, False)
        # The error page's header count, read here in a worker thread (a render on the
        # event loop must never wait for a connection: web/templating.py).
        principal = request.scope.get("user")
        if principal is not None:
            count = await anyio.to_thread.run_sync(_count, database, principal)
            request.scope["jifen_inbox_count"] = count  # type: ignore[typeddict-unknown-key]
        raise
    request.state.db_session = None
    await anyio.to_thread.run_sync(_finish, session, True)


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal: Principal | None = request.scope.get("user")
    if principal is None:
        raise NotAuthorizedException()
    return principal


def provide_rulebook(state: State) -> Rulebook:
    """The rulebook in force: the rules folder's versions (read at startup) and the ones
    adopted on the web, reloaded in this process when the adopted ones changed (one
    small query per request), so an adoption takes effect in every worker at once."""
    cache: RulebookCache = state.rulebook
    database: Database = state.database
    with database.transaction(write=False) as session:
        return cache.current(session)


def town_date(request: Request[Any, Any, Any]) -> date:
    """Today in the town's time zone (the settings'), not the server's."""
    settings: Settings = request.app.state.settings
    return town_today(utcnow(), settings.timezone)


def sees_town_ranks(request: Request[Any, Any, Any]) -> bool:
    """Whether the viewer sees town-wide ranks of members: always, unless the town hides
    them (``JIFEN_HIDE_TOWN_RANKINGS``); then only reviewers (a branch's secretary or
    instructor) and the office do. A member still sees ranks within a branch."""
    settings: Settings = request.app.state.settings
    if not settings.hide_town_rankings:
        return True
    principal: Principal | None = request.scope.get("user")
    return principal is not None and principal.is_reviewer


def current_period(request: Request[Any, Any, Any]) -> str:
    """The month it is in the town, as a period key ("2026-07")."""
    return period_of(town_date(request))


def checked_period(period: FromPath[str]) -> str:
    """A month key (the JSON API's boards are months), or 404."""
    try:
        return parse_period(period)
    except InvalidInput as exc:
        raise NotFoundException() from exc


class RecordId(int):
    """An id in an address: the route declares it ``{name:str}`` and the handler
    ``FromPath[RecordId]`` (or ``FromQuery``), so it is read by the kernel's one parser
    (service/kernel/numbers.py) through ``TYPE_DECODERS``. Litestar's own ``{name:str}``
    is int(): it reads ``٣`` and ``３`` as 3 and passes numbers no column holds, which
    reached the database as a 500."""


def decode_record_id(kind: type, value: Any) -> RecordId:
    number = parse_id(value)
    if number is None:
        # Litestar answers a value its decoder refuses with 400, naming the parameter.
        raise ValueError("not a record id")
    return RecordId(number)


def is_record_id(kind: Any) -> bool:
    return kind is RecordId


# Passed to the app (web/app.py): how Litestar reads the types above.
TYPE_DECODERS = [(is_record_id, decode_record_id)]


# Explicit markers: Litestar 3 stops inferring which parameters are dependencies.
Db = NamedDependency[Session]
Actor = NamedDependency[Principal]
Rules = NamedDependency[Rulebook]

DEPENDENCIES = {
    "db": Provide(provide_db),
    "principal": Provide(provide_principal, sync_to_thread=False),
    "rulebook": Provide(provide_rulebook, sync_to_thread=True),
}
