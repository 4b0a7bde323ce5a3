"""Every error becomes a friendly page (or JSON under /api), in one place."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from hmac import compare_digest
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import MediaType, Request, Response
from litestar.datastructures import Cookie, UploadFile
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.middleware.csrf import CSRF_SECRET_LENGTH, generate_csrf_hash, generate_csrf_token
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.utils.scope.state import ScopeState
from sqlalchemy.exc import DataError, OperationalError

from service.kernel.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.kernel.logs import REQUEST_ID
from web.i18n import activate_for_scope, render
from web.i18n import gettext as _
from web.readiness import NotReady

logger = logging.getLogger("jifen.web")
AnyRequest = Request[Any, Any, Any]


def _is_api(request: AnyRequest) -> bool:
    return request.url.path.startswith("/api")


def _activate(request: AnyRequest) -> None:
    activate_for_scope(request.scope, request.app.state.settings.default_locale)


def _error_response(
    request: AnyRequest, status: int, title: str, detail: str | Message | Rendered
) -> Response[Any]:
    """``title`` and ``detail`` are source strings, translated here once the request's
    locale is active; a ``Rendered`` detail is already in that language."""
    _activate(request)
    title = _(title) if title else ""
    if isinstance(detail, Rendered):
        detail = detail.text
    else:
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


@dataclass(frozen=True)
class Rendered:
    """Text already translated (messages joined for one page), not a catalog source."""

    text: str


def not_authorized(request: AnyRequest, _exc: NotAuthorizedException) -> Response[Any]:
    if _is_api(request):
        return _error_response(request, 401, "", N_("Sign in first."))
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)


# --- a form refused for its CSRF token ---------------------------------------------------

# Never shown again nor carried into the new form: passwords, and the refused token.
_SECRET_FIELD = re.compile(r"password|^(current|new|confirmation|_csrf_token)$")
# The fields a person types, by name, with the label the page shows them under; only
# these are shown. Every other field (ids, periods, ``next``) is carried along unseen.
_TYPED_FIELDS = {
    "description": N_("What happened"),
    "quantity": N_("Quantity"),
    "activity_date": N_("Date of the activity"),
    "reason": N_("Reason"),
    "text": N_("What is wrong with this line?"),
    "answer": N_("Answer"),
    "note": N_("Note (e.g. the transfer letter's number)"),
    "candidate": N_("Candidate ruleset (TOML)"),
    "name": N_("Name"),
    "display_name": N_("Display name"),
    "username": N_("Username"),
    "owner_name": N_("Owner or legal representative"),
    "phone": N_("Mobile phone"),
    "points": N_("Points (manual adjustment only)"),
    "day": N_("Date"),
}
_LONG_TEXT = 60
_EXPIRED_TITLE = N_("This form has expired")
_EXPIRED_DETAIL = N_(
    "The page was open too long or was already submitted. Go back, reload the page and "
    "submit again."
)


@dataclass(frozen=True)
class TypedField:
    name: str
    label: str
    value: str

    @property
    def long(self) -> bool:
        return "\n" in self.value or len(self.value) > _LONG_TEXT


@dataclass(frozen=True)
class ExpiredForm:
    """What the expired-form page offers for a post from one of our own pages: the text
    the person typed, and (when the post had no password or file in it) a new form to
    the same address, with a fresh token, that sends it again."""

    action: str
    typed: list[TypedField]
    hidden: list[tuple[str, str]]  # the other fields, sent again as they came
    can_resend: bool
    back: str | None
    multipart: bool  # sent again the way it came (the entry form takes photos)


def _posted_form(request: AnyRequest) -> dict[str, Any]:
    """The form the CSRF check read (Litestar keeps it on the scope); empty when it read
    none (a token in a header, or a body that was not a form)."""
    form = ScopeState.from_scope(request.scope).form
    return form if isinstance(form, dict) else {}


def _from_this_site(request: AnyRequest) -> bool:
    """The browser says the post came from one of our own pages. A post from another
    site must not come back as a ready-made form the person could send with one click:
    that would hand the forged request the token it lacked."""
    host = request.headers.get("host", "")
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site == "same-origin"
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value:
            return bool(host) and urlsplit(value).netloc == host
    return False


def _back_link(request: AnyRequest) -> str | None:
    """The page the form was on (the Referer), when it is one of ours."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.headers.get("host") or not referer.path.startswith("/"):
        return None
    if referer.path.startswith("//"):
        return None
    return referer.path + (f"?{referer.query}" if referer.query else "")


def expired_form(request: AnyRequest) -> ExpiredForm | None:
    """None for a post from another site: nothing of it is shown or offered again (the
    page would otherwise show a stranger's text as the person's own)."""
    if not _from_this_site(request):
        return None
    posted = _posted_form(request)
    typed: list[TypedField] = []
    hidden: list[tuple[str, str]] = []
    secret_or_file = False
    for name, raw in posted.items():
        values = raw if isinstance(raw, list) else [raw]
        for value in values:
            if isinstance(value, UploadFile):
                secret_or_file = secret_or_file or bool(value.filename)
                continue
            if _SECRET_FIELD.search(name):
                secret_or_file = secret_or_file or (name != "_csrf_token" and bool(value))
                continue
            text = str(value)
            if name in _TYPED_FIELDS and not isinstance(raw, list):
                typed.append(TypedField(name, _(_TYPED_FIELDS[name]), text))
            else:
                hidden.append((name, text))
    action = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return ExpiredForm(
        action=action,
        typed=typed,
        hidden=hidden,
        can_resend=not secret_or_file,
        back=_back_link(request),
        multipart=request.content_type[0] == "multipart/form-data",
    )


def _fresh_csrf_token(request: AnyRequest) -> tuple[str, Cookie | None]:
    """A token the next post will pass with: the browser's CSRF cookie when it is a
    valid one (the refused form carried an older token), else a new token and its
    cookie. The page's own forms (sign out, language, sending again) use it."""
    config = request.app.csrf_config
    assert config is not None  # the app always has one (web/app.py)
    cookie = request.cookies.get(config.cookie_name, "")
    secret, signature = cookie[:CSRF_SECRET_LENGTH], cookie[CSRF_SECRET_LENGTH:]
    if signature and compare_digest(signature, generate_csrf_hash(secret, config.secret)):
        return cookie, None
    token = generate_csrf_token(config.secret)
    return token, Cookie(
        key=config.cookie_name,
        value=token,
        path=config.cookie_path,
        secure=config.cookie_secure,
        httponly=config.cookie_httponly,
        samesite=config.cookie_samesite,
        domain=config.cookie_domain,
    )


def form_expired(request: AnyRequest) -> Response[Any]:
    """403 for a refused CSRF token: says the form expired and keeps what was typed."""
    if _is_api(request):
        return _error_response(request, HTTP_403_FORBIDDEN, _EXPIRED_TITLE, _EXPIRED_DETAIL)
    _activate(request)
    token, cookie = _fresh_csrf_token(request)
    ScopeState.from_scope(request.scope).csrf_token = token
    form = expired_form(request)
    return Template(
        template_name="error.html",
        context={
            "status": HTTP_403_FORBIDDEN,
            "title": _(_EXPIRED_TITLE),
            "detail": _(_EXPIRED_DETAIL),
            "expired": form,
        },
        status_code=HTTP_403_FORBIDDEN,
        cookies=[cookie] if cookie else [],
    )


def forbidden(request: AnyRequest, exc: PermissionDeniedException) -> Response[Any]:
    if "csrf" in (exc.detail or "").lower():
        return form_expired(request)
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
    detail: str | Message | Rendered = exc.message
    if isinstance(exc, NotFound):
        return _error_response(request, HTTP_404_NOT_FOUND, N_("Not found"), detail)
    if isinstance(exc, PermissionDenied):
        return _error_response(request, HTTP_403_FORBIDDEN, N_("Not allowed"), detail)
    if isinstance(exc, Conflict):
        return _error_response(request, HTTP_409_CONFLICT, N_("Nothing was changed"), detail)
    if isinstance(exc, InvalidInput):
        _activate(request)
        detail = Rendered("; ".join(render(message) for message in exc.errors.values()))
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


# How long a client is told to wait after SQLite stayed locked for its busy timeout.
BUSY_RETRY_SECONDS = 5


def database_busy(request: AnyRequest, exc: OperationalError) -> Response[Any]:
    """SQLite answers "database is locked" when another writer held the lock for the
    whole busy timeout: the request wrote nothing and may simply be sent again, so it
    gets a 503 saying so (with Retry-After), not the 500 of a fault. Any other
    operational error is a fault."""
    if "database is locked" not in str(exc):
        return server_error(request, exc)
    logger.warning("database busy on %s %s: %s", request.method, request.url.path, exc)
    response = _error_response(
        request,
        HTTP_503_SERVICE_UNAVAILABLE,
        N_("Busy for a moment"),
        N_("The service is busy; nothing was saved. Try again in a few seconds."),
    )
    response.headers["Retry-After"] = str(BUSY_RETRY_SECONDS)
    return response


def not_ready(request: AnyRequest, _exc: NotReady) -> Response[Any]:
    # What the operator must do is in the log (web/readiness.py); the page tells people
    # to come back.
    return _error_response(
        request,
        HTTP_503_SERVICE_UNAVAILABLE,
        N_("Not available yet"),
        N_(
            "The service is being updated and is not ready yet. Try again later; if it "
            "lasts, tell the organisation office."
        ),
    )


def server_error(request: AnyRequest, exc: Exception) -> Response[Any]:
    # The request id is the one the visitor's response carries (X-Request-ID): what
    # they report leads to this line.
    logger.exception(
        "unhandled error on %s %s",
        request.method,
        request.url.path,
        exc_info=exc,
        extra={"request_id": REQUEST_ID.get()},
    )
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
    NotReady: not_ready,
    HTTPException: http_error,
    # SQLAlchemy's DataError (PostgreSQL: NUL in text, integer out of range) and the
    # OverflowError SQLite's driver raises for an integer beyond 64 bits.
    DataError: unstorable_input,
    OverflowError: unstorable_input,
    OperationalError: database_busy,
    Exception: server_error,
}
