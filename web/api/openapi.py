"""The OpenAPI document of /api (/schema): what the API is for, how it authenticates and
its conventions. It describes the JSON API alone; the HTML pages are kept out of it."""

from __future__ import annotations

from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from web.api.common import BEARER, SESSION

API_DESCRIPTION = """Entries, reviews, members and the month boards of the 党员积分服务, for
integrations.

**Authentication.** Send an API token: `Authorization: Bearer jft_...`. The organisation
office issues tokens to an account (on the account's page, or `jifen tokens issue`); a
token acts as that account with its roles, and stops working when revoked, expired, or
while the account is disabled. Reads (GET) also accept the session cookie of a signed-in
browser; changes (POST) accept only a token, never the cookie. A missing or invalid
token gets 401 with `WWW-Authenticate: Bearer`.

**Conventions.** Points and quantities are decimal strings with one place (`"12.5"`),
never floats. Lists come in pages: `limit` (1 to 100) and `offset`, with `total` and
`next_offset` in the answer. Errors are `{"status_code", "detail"}` in the language of
`Accept-Language` (Chinese by default), with `extra` naming each field of a 400 or 422.
Photos are added and viewed on the web pages only."""


def openapi_config(session_cookie: str) -> OpenAPIConfig:
    """``session_cookie``: the name of the session cookie reads may send instead of a
    token (it depends on the settings: web/auth.py ``session_cookie_name``)."""
    return OpenAPIConfig(
        title="Jifen API",
        version="0.2.0",
        description=API_DESCRIPTION,
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="jft_...",
                    description="An API token the organisation office issued to an "
                    "account. Required for every change (POST).",
                ),
                SESSION: SecurityScheme(
                    type="apiKey",
                    name=session_cookie,
                    security_scheme_in="cookie",
                    description="The session cookie of a browser signed in at /login. "
                    "Reads (GET) only.",
                ),
            }
        ),
    )
