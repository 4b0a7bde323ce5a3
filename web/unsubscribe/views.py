"""/notify/unsubscribe/{token}: the digest email's unsubscribe link.

- GET shows whose digest it stops and a form (with the CSRF token, as the sign-in form
  has for a visitor who is not signed in); POST does it and says so.
- POST …/one-click is what a mail client's own "unsubscribe" button sends (RFC 8058:
  the List-Unsubscribe header's address, body ``List-Unsubscribe=One-Click``). It has
  no CSRF token and cannot have one: the client never loaded a form. It is exempt from
  the CSRF check because CSRF is an attack on ambient authority (a browser's cookies)
  and this route uses none: the secret 43-character token in the address is the only
  authority, and whoever can make a request to that address already knows it. It still
  demands the RFC's body, so a link prefetcher's stray POST without it changes nothing,
  and it can only do what the confirmation form does (digest kinds to inbox only).
  GET on it (a client that opens the address in a browser) goes to the page.

An unknown token is a 404 page that says the link is not valid; nothing tells whether
an account exists.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from service.kernel.errors import NotFound
from service.kernel.i18n import N_, Message
from service.notify.unsubscribe import subscriber, unsubscribe
from service.persistence.types import utcnow
from web.deps import Db

PAGE = "/notify/unsubscribe/{token:str}"
UNKNOWN = N_(
    "This unsubscribe link is not valid: it may be incomplete or from an old email. "
    "Sign in and change your notification settings instead."
)
# The token is in the address: no cache keeps the page (and the app's Referrer-Policy,
# same-origin, keeps it from other sites).
PRIVATE = {"Cache-Control": "private, no-store"}
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # secrets.token_urlsafe's alphabet


def _unknown() -> NotFound:
    return NotFound(Message(UNKNOWN))


class UnsubscribeController(Controller):
    path = ""

    @get(PAGE, sync_to_thread=True)
    def confirm(self, db: Db, token: FromPath[str]) -> Template:
        who = subscriber(db, token)
        if who is None:
            raise _unknown()
        return Template(
            "unsubscribe/confirm.html",
            context={"who": who, "token": token, "done": False},
            headers=PRIVATE,
        )

    @post(PAGE, sync_to_thread=True, status_code=200)
    def stop(self, db: Db, token: FromPath[str]) -> Template:
        who = subscriber(db, token)
        if who is None:
            raise _unknown()
        changed = unsubscribe(db, token, now=utcnow())
        return Template(
            "unsubscribe/confirm.html",
            context={"who": who, "token": token, "done": True, "changed": changed},
            headers=PRIVATE,
        )

    @get(PAGE + "/one-click", sync_to_thread=True)
    def one_click_page(self, token: FromPath[str]) -> Redirect:
        # Only a token's characters go into the Location header.
        if not TOKEN_SHAPE.fullmatch(token):
            raise _unknown()
        return Redirect(f"/notify/unsubscribe/{token}", status_code=303, headers=PRIVATE)

    @post(PAGE + "/one-click", status_code=200, opt={"exclude_from_csrf": True})
    async def one_click(
        self, request: Request[Any, Any, Any], db: Db, token: FromPath[str]
    ) -> Response[str]:
        # RFC 8058 allows the body URL-encoded or as multipart/form-data; request.form()
        # reads either (a handler's typed body takes one encoding only).
        form = await request.form()
        if form.get("List-Unsubscribe") != "One-Click":
            return Response(
                "Send List-Unsubscribe=One-Click (RFC 8058).\n",
                status_code=400,
                media_type="text/plain",
                headers=PRIVATE,
            )
        changed = await anyio.to_thread.run_sync(
            functools.partial(unsubscribe, db, token, now=utcnow())
        )
        if changed is None:
            raise _unknown()
        return Response("Unsubscribed.\n", media_type="text/plain", headers=PRIVATE)
