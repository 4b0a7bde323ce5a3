"""Signing in and out, and choosing a new password.

An account with an initial or reset password (``must_change_password``) gets a session
at sign-in, but that session signs in nothing else: ``resolve_session`` gives every
other page no principal, so they send the browser to /login, and /login forwards it to
/account/password until a new password is set.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from service.accounts import throttle
from service.accounts.passwords import MIN_PASSWORD_LENGTH, change_password
from service.accounts.principal import Principal
from service.accounts.sessions import end_session, prune_sessions, resolve_session, start_session
from service.accounts.signin import sign_in
from service.kernel.config import Settings
from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_
from service.persistence.types import utcnow
from web.auth import (
    client_address,
    expired_session_cookie,
    safe_next,
    session_cookie,
    session_cookie_name,
)
from web.deps import Db
from web.forms import FormData, domain_field_errors, first_value
from web.i18n import gettext as _
from web.i18n import ngettext
from web.notices import notice

PASSWORD_PAGE = "/account/password"  # noqa: S105 - a path, not a password
PASSWORD_NOTICES = {
    "changed": N_("Your new password is set."),
    "required": N_("Choose a new password before you continue."),
}


def _cookie_token(request: Request[Any, Any, Any]) -> str | None:
    settings: Settings = request.app.state.settings
    token = request.cookies.get(session_cookie_name(settings))
    return token or None


def pending_password_change(request: Request[Any, Any, Any], db: Session) -> Principal | None:
    """The account behind the browser's session when it must choose a new password
    first (the sign-in middleware gives such a session no principal)."""
    if request.scope.get("user") is not None:
        return None
    token = _cookie_token(request)
    if not token:
        return None
    settings: Settings = request.app.state.settings
    lookup = resolve_session(
        db,
        token,
        now=utcnow(),
        idle=timedelta(minutes=settings.session_idle_minutes),
        absolute=timedelta(hours=settings.session_absolute_hours),
    )
    return lookup.password_change


def _password_page_for(target: str) -> str:
    if target == "/":
        return f"{PASSWORD_PAGE}?done=required"
    return f"{PASSWORD_PAGE}?done=required&next={quote(target, safe='')}"


def _login_refused(
    username: str,
    target: str,
    message: str,
    status_code: int,
    *,
    retry_after: timedelta | None = None,
) -> Template:
    headers = {"Retry-After": str(math.ceil(retry_after.total_seconds()))} if retry_after else None
    return Template(
        "accounts/login.html",
        context={"username": username, "next": target, "notice": None, "error": message},
        status_code=status_code,
        headers=headers,
    )


class AuthController(Controller):
    path = ""

    @get("/login", sync_to_thread=True)
    def login_form(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        next: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template | Redirect:
        if request.scope.get("user") is not None:
            return Redirect(safe_next(next), status_code=303)
        if done != "signed_out" and pending_password_change(request, db) is not None:
            return Redirect(_password_page_for(safe_next(next)), status_code=303)
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
        settings: Settings = request.app.state.settings
        address = client_address(request.scope, trust_proxy=settings.trusted_proxy)
        now = utcnow()
        attempt = sign_in(
            db,
            username,
            password,
            address=address,
            now=now,
            limits=throttle.Limits.from_settings(settings),
        )
        if attempt.wait is not None:
            # Refused before the password was checked: a throttled guess learns nothing,
            # right or wrong. Counted by the username as typed, so the same message comes
            # whether or not the account exists.
            minutes = throttle.minutes_to_wait(attempt.wait)
            message = ngettext(
                "Too many failed sign-ins. Try again in %(num)s minute.",
                "Too many failed sign-ins. Try again in %(num)s minutes.",
                minutes,
            ) % {"num": minutes}
            return _login_refused(username, target, message, 429, retry_after=attempt.wait)
        account = attempt.account
        if account is None:
            # One message for unknown user and wrong password: don't reveal which exist.
            return _login_refused(username, target, _("Wrong username or password."), 400)
        prune_sessions(
            db,
            now=now,
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_absolute_hours),
        )
        token = start_session(
            db,
            account,
            now=now,
            ip_address=address,
            user_agent=request.headers.get("user-agent", ""),
            replaces_token=request.scope.get("auth") or _cookie_token(request),
        )
        if account.must_change_password:
            target = _password_page_for(target)
        return Redirect(target, status_code=303, cookies=[session_cookie(settings, token)])

    @post("/logout", sync_to_thread=True)
    def logout(self, request: Request[Any, Any, Any], db: Db) -> Redirect:
        token = request.scope.get("auth") or _cookie_token(request)
        if token:
            end_session(db, token)
        settings: Settings = request.app.state.settings
        return Redirect(
            "/login?done=signed_out",
            status_code=303,
            cookies=[expired_session_cookie(settings)],
        )


def _password_form(
    principal: Principal,
    target: str,
    *,
    forced: bool,
    notice_text: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return Template(
        "accounts/password.html",
        context={
            "account": principal,
            "forced": forced,
            "next": target,
            "min_length": MIN_PASSWORD_LENGTH,
            "notice": notice_text,
            "errors": errors or {},
        },
        status_code=status_code,
    )


class PasswordController(Controller):
    """/account/password: forced after an initial or reset password, open any time to a
    signed-in person."""

    path = PASSWORD_PAGE

    def _who(self, request: Request[Any, Any, Any], db: Session) -> tuple[Principal, bool]:
        principal: Principal | None = request.scope.get("user")
        if principal is not None:
            return principal, False
        pending = pending_password_change(request, db)
        if pending is None:
            raise NotAuthorizedException()
        return pending, True

    @get("/", sync_to_thread=True)
    def form(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        next: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        principal, forced = self._who(request, db)
        return _password_form(
            principal, safe_next(next), forced=forced, notice_text=notice(done, PASSWORD_NOTICES)
        )

    @post("/", sync_to_thread=True)
    def change(
        self, request: Request[Any, Any, Any], db: Db, data: FormData
    ) -> Template | Redirect:
        principal, forced = self._who(request, db)
        form = first_value(data)
        target = safe_next(form.get("next"))
        settings: Settings = request.app.state.settings
        try:
            change_password(
                db,
                principal.account_id,
                str(form.get("current", "")),
                str(form.get("new", "")),
                str(form.get("confirmation", "")),
                address=client_address(request.scope, trust_proxy=settings.trusted_proxy),
                now=utcnow(),
                limits=throttle.Limits.from_settings(settings),
                keep_session_id=principal.session_id,
            )
        except InvalidInput as exc:
            # Committed as it is: nothing but the throttle's count and the audit line
            # of a wrong current password was written, and those must stay.
            return _password_form(
                principal,
                target,
                forced=forced,
                errors=domain_field_errors(exc),
                status_code=422,
            )
        if forced and target != "/":
            return Redirect(target, status_code=303)
        return Redirect(f"{PASSWORD_PAGE}?done=changed", status_code=303)
