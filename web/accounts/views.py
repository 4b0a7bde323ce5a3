"""Signing in and out."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from service.accounts import authenticate, end_session, start_session
from service.config import Settings
from service.types import utcnow
from web.auth import expired_session_cookie, session_cookie
from web.deps import Db
from web.forms import first_value
from web.i18n import gettext as _
from web.notices import notice

FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


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


class AuthController(Controller):
    path = ""

    @get("/login", sync_to_thread=False)
    def login_form(
        self,
        request: Request[Any, Any, Any],
        next: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template | Redirect:
        if request.scope.get("user") is not None:
            return Redirect(safe_next(next), status_code=303)
        return Template(
            "accounts/login.html",
            context={
                "username": "",
                "next": safe_next(next),
                "error": None,
                "notice": notice(done),
            },
        )

    @post("/login", sync_to_thread=True)
    def login(self, request: Request[Any, Any, Any], db: Db, data: FormData) -> Template | Redirect:
        form = first_value(data)
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        target = safe_next(form.get("next"))
        account = authenticate(db, username, password) if username and password else None
        if account is None:
            # One message for unknown user and wrong password: don't reveal which exist.
            return Template(
                "accounts/login.html",
                context={
                    "username": username,
                    "next": target,
                    "notice": None,
                    "error": _("Wrong username or password."),
                },
                status_code=400,
            )
        settings: Settings = request.app.state.settings
        token = start_session(
            db,
            account,
            now=utcnow(),
            ip_address=request.client.host if request.client else "",
            user_agent=request.headers.get("user-agent", ""),
            replaces_token=request.scope.get("auth"),
        )
        return Redirect(target, status_code=303, cookies=[session_cookie(settings, token)])

    @post("/logout", sync_to_thread=True)
    def logout(self, request: Request[Any, Any, Any], db: Db) -> Redirect:
        token = request.scope.get("auth")
        if token:
            end_session(db, token)
        settings: Settings = request.app.state.settings
        return Redirect(
            "/login?done=signed_out",
            status_code=303,
            cookies=[expired_session_cookie(settings)],
        )
