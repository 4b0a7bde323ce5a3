"""Who is asking: the session cookie of the web pages, the API tokens of integrations
(``Authorization: Bearer jft_...``, under /api only), and the middleware that resolves
either to a ``Principal``; and ``safe_next``, where a page may send the browser after
signing in or switching language. The guards that read the principal are in
web/guards.py."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import timedelta

import anyio.to_thread
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.response.base import ASGIResponse
from litestar.types import ASGIApp, Receive, Scope, Send

from service.accounts import throttle
from service.accounts.api_tokens import (
    record_refused_token,
    resolve_token,
    token_pause,
    touch_token,
)
from service.accounts.principal import Principal
from service.accounts.sessions import end_session, resolve_session, touch_session
from service.audit.capture import reset_context, set_context
from service.kernel.config import Settings
from service.kernel.i18n import N_
from service.persistence.db import Database
from service.persistence.types import utcnow
from web.i18n import gettext

# No session lookup: static files, and the probes and metrics, which must answer
# without the database (/healthz) or check it themselves.
SKIP_PREFIXES = ("/static/", "/favicon.ico", "/healthz", "/readyz", "/metrics")
API_PREFIX = "/api"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# RFC 6750: how a client learns which scheme to use, and why its token was refused.
WWW_AUTHENTICATE = 'Bearer realm="jifen"'
INVALID_TOKEN_CHALLENGE = 'Bearer realm="jifen", error="invalid_token"'  # noqa: S105
INVALID_REQUEST_CHALLENGE = 'Bearer realm="jifen", error="invalid_request"'
INVALID_TOKEN = N_(
    "This API token is not valid: it is unknown, revoked or expired, or its account is "
    "disabled. Ask the organisation office for a new one."
)
OTHER_SCHEME = N_("The API takes API tokens only: send Authorization: Bearer jft_...")
TOKEN_THROTTLED = N_(
    "Too many requests from this address with an API token that is not valid. Try again later."
)


@dataclass(frozen=True)
class BearerAuth:
    """``scope["auth"]`` of a request authenticated by an API token (a session's is its
    cookie token, a string): the guard of state-changing API calls asks for this."""

    token_id: int


def is_api_path(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


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


def safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after sign-in is a phishing aid.

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so a
    slash, a tab and "/evil.example" would become "//evil.example": refuse them all.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if any(ch in target for ch in "\\\t\r\n") or not target.isprintable():
        return "/"
    return target


def trusts_proxy(settings: Settings) -> bool:
    """Whether a reverse proxy in front of the app is trusted to say who the client is
    (``JIFEN_TRUSTED_PROXY``); without it X-Forwarded-For is ignored, since any client
    can send one."""
    return settings.trusted_proxy


def client_address(scope: Scope, *, trust_proxy: bool = False) -> str:
    """The client's address for the audit log, the sign-in throttle, the access log and
    the metrics allow-list: the socket's peer, or, behind a trusted proxy, the address
    that proxy appended last to X-Forwarded-For (or its X-Real-IP when it sends no
    X-Forwarded-For). Never an earlier hop: those come from the client, which could
    rotate them to escape the throttle or to blame another address."""
    if trust_proxy:
        real_ip = ""
        for key, value in scope.get("headers", []):
            if key == b"x-forwarded-for":
                hops = [hop.strip() for hop in value.decode("latin-1").split(",") if hop.strip()]
                if hops:
                    return hops[-1][:64]
            elif key == b"x-real-ip":
                real_ip = value.decode("latin-1").strip()
        if real_ip:
            return real_ip[:64]
    client = scope.get("client")
    if client:
        return str(client[0])[:64]
    return ""


class SessionAuthMiddleware:
    """Resolve the session cookie, or under /api a bearer token, to a ``Principal`` in
    ``scope["user"]`` (or None), and name that account and the client's address as the
    author of every change the request makes (the audit log).

    A request under /api that sends an Authorization header is judged by it alone: a
    bearer token that is not valid, or another scheme (Basic...), gets 401 here, even
    when a valid session cookie comes along, so a client never acts as someone other
    than its credentials say and never learns that a wrong credential was ignored.
    Elsewhere the header is ignored: the pages are for browsers and their sessions."""

    def __init__(self, app: ASGIApp, database: Database, settings: Settings) -> None:
        self.app = app
        self.database = database
        self.cookie_name = session_cookie_name(settings)
        self.idle = timedelta(minutes=settings.session_idle_minutes)
        self.absolute = timedelta(hours=settings.session_absolute_hours)
        self.trust_proxy = trusts_proxy(settings)
        self.limits = throttle.Limits.from_settings(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["user"] = None
        scope["auth"] = None
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(SKIP_PREFIXES):
            await self.app(scope, receive, send)
            return
        actor_id: int | None = None
        address = client_address(scope, trust_proxy=self.trust_proxy)
        authorization = _authorization(scope) if is_api_path(scope["path"]) else None
        if authorization is not None:
            scheme, _sep, credentials = authorization.partition(" ")
            if scheme.lower() != "bearer":
                await _refuse(scope, receive, send, OTHER_SCHEME, INVALID_REQUEST_CHALLENGE)
                return
            principal, token_id, wait = await anyio.to_thread.run_sync(
                self._resolve_bearer, credentials.strip(), address
            )
            if wait is not None:
                await _too_many(scope, receive, send, wait)
                return
            if principal is None or token_id is None:
                await _refuse(scope, receive, send, INVALID_TOKEN, INVALID_TOKEN_CHALLENGE)
                return
            scope["user"] = principal
            scope["auth"] = BearerAuth(token_id)
            actor_id = principal.account_id
        elif token := _cookie(scope, self.cookie_name):
            principal, actor_id = await anyio.to_thread.run_sync(self._resolve, token)
            if principal is not None:
                scope["user"] = principal
                scope["auth"] = token
        audit_token = set_context(actor_id, address)
        try:
            await self.app(scope, receive, send)
        finally:
            reset_context(audit_token)

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

    def _resolve_bearer(
        self, secret: str, address: str
    ) -> tuple[Principal | None, int | None, timedelta | None]:
        """The token's principal and id; or, while the address is paused for sending
        too many refused tokens, how long it waits (the token is not looked at)."""
        now = utcnow()
        with self.database.transaction(write=False) as session:
            wait = token_pause(session, address, now=now, limits=self.limits)
            if wait is not None:
                return None, None, wait
            lookup = resolve_token(session, secret, now=now)
        if lookup.principal is None or lookup.token_id is None:
            with self.database.transaction() as session:
                record_refused_token(session, address, now=now)
            return None, None, None
        if lookup.needs_touch:
            with self.database.transaction() as session:
                touch_token(session, lookup.token_id, now)
        return lookup.principal, lookup.token_id, None


def _authorization(scope: Scope) -> str | None:
    """The Authorization header, stripped ("" when empty), or None without one."""
    for key, value in scope["headers"]:
        if key == b"authorization":
            return value.decode("latin-1").strip()
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, detail: str, challenge: str) -> None:
    """401 for credentials that are not (or no longer) valid, in the JSON shape of every
    API error (web/errors.py), with the RFC 6750 challenge."""
    body = json.dumps({"status_code": 401, "detail": gettext(detail)}, ensure_ascii=False)
    response = ASGIResponse(
        body=body.encode(),
        status_code=401,
        media_type="application/json",
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
    )
    await response(scope, receive, send)


async def _too_many(scope: Scope, receive: Receive, send: Send, wait: timedelta) -> None:
    """429 for an address paused by the throttle, in the JSON shape of every API error,
    with Retry-After in seconds."""
    body = json.dumps({"status_code": 429, "detail": gettext(TOKEN_THROTTLED)}, ensure_ascii=False)
    response = ASGIResponse(
        body=body.encode(),
        status_code=429,
        media_type="application/json",
        headers={"Retry-After": str(math.ceil(wait.total_seconds())), "Cache-Control": "no-store"},
    )
    await response(scope, receive, send)


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope["headers"]:
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                cookie_name, _sep, cookie_value = part.strip().partition("=")
                if cookie_name == name and cookie_value:
                    return cookie_value
    return None
