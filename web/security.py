"""Security headers on every response.

Applied with an app-level ``before_send`` hook rather than a middleware: Litestar runs
middleware only for matched routes, so 404s, 405s and CSRF refusals would go out
without the headers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# The OpenAPI viewer loads its scripts and styles from a CDN; its own pages get a
# policy that allows them and nothing more.
SCHEMA_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net "
    "https://unpkg.com; style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net "
    "https://unpkg.com https://fonts.googleapis.com; img-src 'self' data: https:; "
    "font-src https://fonts.gstatic.com; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def security_headers(https: bool) -> Callable[[Message, Scope], Coroutine[Any, Any, None]]:
    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        path: str = scope.get("path", "")
        headers["Content-Security-Policy"] = SCHEMA_CSP if path.startswith("/schema") else CSP
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["X-Frame-Options"] = "DENY"
        if https:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"

    return before_send
