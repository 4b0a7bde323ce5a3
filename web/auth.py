"""Sign-in sessions on the web: the cookie, the middleware that resolves it, guards."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from service import audit
from service.accounts import Principal, end_session, resolve_session, touch_session
from service.config import Settings
from service.db import Database
from service.types import utcnow

SKIP_PREFIXES = ("/static/", "/favicon.ico")


def session_cookie_name(settings: Settings) -> str:
    # The __Host- prefix makes browsers refuse the cookie unless it is Secure, has
    # Path=/ and no Domain, so a sibling subdomain cannot plant or read it.
    return "__Host-jifen_session" if settings.https else "jifen_session"


def session_cookie(settings: Settings, token: str) -> Cookie:
    return Cookie(
        key=session_cookie_name(settings),
        value=token,
        path="/",
        httponly=True,
        secure=settings.https,
        samesite="lax",
    )


def expired_session_cookie(settings: Settings) -> Cookie:
    return Cookie(
        key=session_cookie_name(settings),
        value="",
        path="/",
        max_age=0,
        httponly=True,
        secure=settings.https,
        samesite="lax",
    )


def trusts_proxy(settings: Settings) -> bool:
    """Whether a reverse proxy in front of the app is trusted to say who the client is
    (``JIFEN_TRUSTED_PROXY``); without it X-Forwarded-For is ignored, since any client
    can send one."""
    return settings.trusted_proxy


def client_address(scope: Scope, *, trust_proxy: bool = False) -> str:
    """The client's address for the audit log and the sign-in throttle: the socket's
    peer, or, behind a trusted proxy, the address that proxy appended last to
    X-Forwarded-For. Never an earlier hop: those come from the client, which could
    rotate them to escape the throttle or to blame another address."""
    if trust_proxy:
        for key, value in scope.get("headers", []):
            if key == b"x-forwarded-for":
                hops = [hop.strip() for hop in value.decode("latin-1").split(",") if hop.strip()]
                if hops:
                    return hops[-1][:64]
    client = scope.get("client")
    if client:
        return str(client[0])[:64]
    return ""


class SessionAuthMiddleware:
    """Resolve the session cookie to a ``Principal`` in ``scope["user"]`` (or None), and
    name that account and the client's address as the author of every change the
    request makes (the audit log)."""

    def __init__(self, app: ASGIApp, database: Database, settings: Settings) -> None:
        self.app = app
        self.database = database
        self.cookie_name = session_cookie_name(settings)
        self.idle = timedelta(minutes=settings.session_idle_minutes)
        self.absolute = timedelta(hours=settings.session_absolute_hours)
        self.trust_proxy = trusts_proxy(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["user"] = None
        scope["auth"] = None
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(SKIP_PREFIXES):
            await self.app(scope, receive, send)
            return
        actor_id: int | None = None
        token = _cookie(scope, self.cookie_name)
        if token:
            principal, actor_id = await anyio.to_thread.run_sync(self._resolve, token)
            if principal is not None:
                scope["user"] = principal
                scope["auth"] = token
        address = client_address(scope, trust_proxy=self.trust_proxy)
        audit_token = audit.set_context(actor_id, address)
        try:
            await self.app(scope, receive, send)
        finally:
            audit.reset_context(audit_token)

    def _resolve(self, token: str) -> tuple[Principal | None, int | None]:
        """The signed-in principal and the account the request's changes are audited as
        (also for a session that may only change its password)."""
        now = utcnow()
        with self.database.transaction(write=False) as session:
            lookup = resolve_session(
                session, token, now=now, idle=self.idle, absolute=self.absolute
            )
        if lookup.needs_touch:
            with self.database.transaction() as session:
                touch_session(session, token, now)
        elif lookup.expired:
            # Timed out (or its account was disabled): refused above already; deleting it
            # at first sight keeps the table to live sessions.
            with self.database.transaction() as session:
                end_session(session, token)
        acting: Principal | None = lookup.principal or getattr(lookup, "password_change", None)
        return lookup.principal, acting.account_id if acting is not None else None


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope["headers"]:
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                cookie_name, _sep, cookie_value = part.strip().partition("=")
                if cookie_name == name and cookie_value:
                    return cookie_value
    return None


def requires_login(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.scope.get("user") is None:
        raise NotAuthorizedException()


def requires_reviewer(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    requires_login(connection, handler)
    principal: Principal = connection.scope["user"]
    if not principal.is_reviewer:
        raise PermissionDeniedException()


def requires_member(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    requires_login(connection, handler)
    principal: Principal = connection.scope["user"]
    if principal.member_id is None:
        raise PermissionDeniedException()
