"""Every error becomes a friendly page (or JSON under /api), in one place."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
)
from sqlalchemy.exc import DataError

from service.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from service.i18n import N_, Message
from web.i18n import activate_for_scope, render
from web.i18n import gettext as _

logger = logging.getLogger("jifen.web")
AnyRequest = Request[Any, Any, Any]


def _is_api(request: AnyRequest) -> bool:
    return request.url.path.startswith("/api")


def _activate(request: AnyRequest) -> None:
    activate_for_scope(request.scope, request.app.state.settings.default_locale)


def _error_response(
    request: AnyRequest, status: int, title: str, detail: str | Message
) -> Response[Any]:
    """``title`` and ``detail`` are source strings, translated here once the request's
    locale is active."""
    _activate(request)
    title = _(title) if title else ""
    detail = render(detail) if isinstance(detail, Message) else _(detail)
    if _is_api(request):
        return Response(
            {"status_code": status, "detail": detail},
            status_code=status,
            media_type=MediaType.JSON,
        )
    return Template(
        template_name="error.html",
        context={"status": status, "title": title, "detail": detail},
        status_code=status,
    )


def not_authorized(request: AnyRequest, _exc: NotAuthorizedException) -> Response[Any]:
    if _is_api(request):
        return _error_response(request, 401, "", N_("Sign in first."))
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)


def forbidden(request: AnyRequest, exc: PermissionDeniedException) -> Response[Any]:
    if "csrf" in (exc.detail or "").lower():
        return _error_response(
            request,
            HTTP_403_FORBIDDEN,
            N_("This form has expired"),
            N_(
                "The page was open too long or was already submitted. Go back, reload the "
                "page and submit again."
            ),
        )
    return _error_response(
        request, HTTP_403_FORBIDDEN, N_("Not allowed"), N_("You do not have access to this page.")
    )


def not_found(request: AnyRequest, _exc: NotFoundException) -> Response[Any]:
    return _error_response(
        request,
        HTTP_404_NOT_FOUND,
        N_("Page not found"),
        N_("There is nothing at this address. Check the link or use the menu."),
    )


def domain_error(request: AnyRequest, exc: DomainError) -> Response[Any]:
    detail: str | Message = exc.message
    if isinstance(exc, NotFound):
        return _error_response(request, HTTP_404_NOT_FOUND, N_("Not found"), detail)
    if isinstance(exc, PermissionDenied):
        return _error_response(request, HTTP_403_FORBIDDEN, N_("Not allowed"), detail)
    if isinstance(exc, Conflict):
        return _error_response(request, HTTP_409_CONFLICT, N_("Nothing was changed"), detail)
    if isinstance(exc, InvalidInput):
        _activate(request)
        joined = "; ".join(render(message) for message in exc.errors.values())
        detail = Message("%(text)s", {"text": joined})
    return _error_response(request, HTTP_422_UNPROCESSABLE_ENTITY, N_("Check your input"), detail)


def http_error(request: AnyRequest, exc: HTTPException) -> Response[Any]:
    return _error_response(
        request,
        exc.status_code,
        N_("Request not accepted"),
        N_("The request could not be handled. Go back and try again."),
    )


def unstorable_input(request: AnyRequest, exc: Exception) -> Response[Any]:
    """Input the database refuses as a value: a NUL character in text on PostgreSQL, a
    number beyond a column's range (an id of 20 digits in the address). The request is
    at fault, not the server: a 400 like any other malformed request, never a 500, and
    nothing of the database's message reaches the page. Logged with the trace, since a
    form that lets such a value through deserves a check of its own."""
    logger.warning(
        "refused a value the database cannot store on %s %s",
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return _error_response(
        request,
        HTTP_400_BAD_REQUEST,
        N_("Request not accepted"),
        N_("The request could not be handled. Go back and try again."),
    )


def server_error(request: AnyRequest, exc: Exception) -> Response[Any]:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        N_("Something went wrong"),
        N_(
            "Your last action was not saved; what you saved before is safe. Try again in a "
            "moment; if it keeps happening, tell the organisation office."
        ),
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    NotAuthorizedException: not_authorized,
    PermissionDeniedException: forbidden,
    NotFoundException: not_found,
    DomainError: domain_error,
    HTTPException: http_error,
    # SQLAlchemy's DataError (PostgreSQL: NUL in text, integer out of range) and the
    # OverflowError SQLite's driver raises for an integer beyond 64 bits.
    DataError: unstorable_input,
    OverflowError: unstorable_input,
    Exception: server_error,
}
