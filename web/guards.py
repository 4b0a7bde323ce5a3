"""Every route guard: who may reach a page or an API operation at all.

Each reads the principal the middleware (web/auth.py) put in ``scope["user"]`` and
refuses with 401 (nobody signed in) or 403 (signed in, without the role). They only keep
people away from whole pages; the services check each object again.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from service.accounts.principal import Principal
from web.auth import READ_METHODS, BearerAuth

Connection = ASGIConnection[Any, Any, Any, Any]


class TokenRequired(NotAuthorizedException):
    """A state-changing API call without an API token (signed out, or with the session
    cookie alone)."""


def requires_login(connection: Connection, _: BaseRouteHandler) -> None:
    if connection.scope.get("user") is None:
        raise NotAuthorizedException()


def requires_member(connection: Connection, handler: BaseRouteHandler) -> None:
    requires_login(connection, handler)
    principal: Principal = connection.scope["user"]
    if principal.member_id is None:
        raise PermissionDeniedException()


def requires_reviewer(connection: Connection, handler: BaseRouteHandler) -> None:
    requires_login(connection, handler)
    principal: Principal = connection.scope["user"]
    if not principal.is_reviewer:
        raise PermissionDeniedException()


def requires_admin(connection: Connection, handler: BaseRouteHandler) -> None:
    requires_login(connection, handler)
    principal: Principal = connection.scope["user"]
    if not principal.is_admin:
        raise PermissionDeniedException()


def requires_api_access(connection: Connection, _: BaseRouteHandler) -> None:
    """The guard of /api: reads take a session or a token; changes take a token only.

    A browser sends the session cookie with any request a foreign page makes it send
    (a form posted cross-site, a fetch with credentials), so a change the cookie could
    authorise would be open to cross-site request forgery. Those pages cannot set an
    Authorization header, and /api is exempt from the CSRF token check (web/app.py), so
    the token is what protects every API change."""
    if connection.scope.get("method") not in READ_METHODS and not isinstance(
        connection.scope.get("auth"), BearerAuth
    ):
        raise TokenRequired()
    requires_login(connection, _)
