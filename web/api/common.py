"""What every /api operation shares: how it is authenticated, its error bodies and how
they are documented, and the parameters of a page of results.

Errors under /api are JSON ``{"status_code": ..., "detail": ...}`` (web/errors.py); the
handlers here add what an integration needs on top: the ``WWW-Authenticate`` challenge
on a 401, and ``extra`` naming each field of a 400 or 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, Response
from litestar.exceptions import NotAuthorizedException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import QueryParameter
from pydantic import BaseModel, Field

from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_
from service.kernel.numbers import ID_MAX
from service.kernel.periods import PERIOD_REGEX
from web.auth import WWW_AUTHENTICATE
from web.guards import TokenRequired
from web.i18n import activate_for_scope, gettext, render

AnyRequest = Request[Any, Any, Any]

# The OpenAPI security schemes (declared in web/api/openapi.py). Reads take either;
# changes take the bearer token only (web/guards.py requires_api_access says why).
BEARER = "bearer"
SESSION = "session"
READ_SECURITY: list[dict[str, list[str]]] = [{BEARER: []}, {SESSION: []}]
CHANGE_SECURITY: list[dict[str, list[str]]] = [{BEARER: []}]

SIGN_IN = N_("Send an API token (Authorization: Bearer jft_...) or sign in first.")
TOKEN_REQUIRED = N_(
    "Changes through the API need an API token (Authorization: Bearer jft_...); the "
    "session cookie of the web pages is not accepted for them."
)
INVALID_REQUEST = N_("The request does not match the API's schema; extra names each field.")
# The database's ids are 32-bit on PostgreSQL: a larger one is refused as a bad
# request (400) before any query, as any out-of-range parameter is.
MAX_ID = ID_MAX
# An id in a path (web.deps.RecordId: the kernel's parser enforces the bounds, msgspec
# cannot put them on an int subclass), documented as the integer it is.
ID_SCHEMA: dict[str, Any] = {
    "schema_extra": {"type": "integer", "minimum": 1, "maximum": ID_MAX, "format": "int32"}
}


class FieldProblem(BaseModel):
    key: str = Field(description="The field, parameter or body key.", examples=["quantity"])
    message: str = Field(examples=["Enter a number, e.g. 1 or 2.5."])


class ApiError(BaseModel):
    """The body of every error under /api (web/errors.py)."""

    status_code: int = Field(examples=[404])
    detail: str = Field(
        description="What went wrong, in the reader's language (Accept-Language).",
        examples=["No such entry."],
    )
    extra: list[FieldProblem] | None = Field(
        default=None, description="400 and 422: each field's problem."
    )


def _spec(description: str, status: int, detail: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=ApiError,
        description=description,
        generate_examples=False,
        examples=[Example(summary=detail, value={"status_code": status, "detail": detail})],
    )


UNAUTHORIZED = _spec(
    "No valid credentials: no API token and no session cookie, a token that is unknown, "
    "revoked or expired or whose account is disabled, or (for a change) the session "
    "cookie alone. Answered with `WWW-Authenticate: Bearer`.",
    401,
    "This API token is not valid: it is unknown, revoked or expired, or its account is "
    "disabled. Ask the organisation office for a new one.",
)
TOO_MANY_TOKENS = _spec(
    "This address sent too many API tokens that were not valid (the sign-in throttle): "
    "its requests are refused unchecked until `Retry-After` seconds have passed.",
    429,
    "Too many requests from this address with an API token that is not valid. Try again later.",
)
FORBIDDEN = _spec(
    "Authenticated, but this account may not do this (or not to this object).",
    403,
    "This entry belongs to a branch you do not review.",
)
NOT_FOUND = _spec("No such object.", 404, "No such entry.")
CONFLICT = _spec(
    "The object is not in a state that allows this; nothing was changed.",
    409,
    "This entry is no longer pending (now: approved); nothing was changed.",
)
UNPROCESSABLE = ResponseSpec(
    data_container=ApiError,
    description="Well-formed, but refused by the same checks as the web form; `extra` "
    "names each field.",
    generate_examples=False,
    examples=[
        Example(
            summary="A future date",
            value={
                "status_code": 422,
                "detail": "The date cannot be in the future.",
                "extra": [{"key": "activity_date", "message": "The date cannot be in the future."}],
            },
        )
    ],
)

# A page of results.
Limit = Annotated[
    int, QueryParameter(ge=1, le=100, description="How many items at most (1 to 100).")
]
Offset = Annotated[
    int,
    QueryParameter(
        ge=0, le=1_000_000_000, description="How many to skip: the previous page's `next_offset`."
    ),
]
# The months the kernel accepts (service/kernel/periods.py), as the schema says them.
MONTH_PATTERN = PERIOD_REGEX


class PageInfo(BaseModel):
    total: int = Field(description="Items matching the filters, on every page.", examples=[73])
    limit: int = Field(examples=[50])
    offset: int = Field(examples=[0])
    next_offset: int | None = Field(
        description="The offset of the next page; null on the last page.", examples=[50]
    )


# --- the error handlers of /api ----------------------------------------------------------


def _activate(request: AnyRequest) -> None:
    activate_for_scope(request.scope, request.app.state.settings.default_locale)


def not_authorized(request: AnyRequest, exc: NotAuthorizedException) -> Response[Any]:
    """401 with the RFC 6750 challenge, so a client knows a bearer token is expected."""
    _activate(request)
    detail = TOKEN_REQUIRED if isinstance(exc, TokenRequired) else SIGN_IN
    body = {"status_code": 401, "detail": gettext(detail)}
    return Response(
        body,
        status_code=401,
        media_type=MediaType.JSON,
        headers={"WWW-Authenticate": WWW_AUTHENTICATE},
    )


def invalid_request(request: AnyRequest, exc: ValidationException) -> Response[Any]:
    """400 for parameters or a body that break the schema, naming each field (Litestar's
    own messages: for the integration's developer, not for a member)."""
    _activate(request)
    problems: list[dict[str, str]] = []
    if isinstance(exc.extra, list):
        for item in exc.extra:
            if isinstance(item, dict):
                problems.append(
                    {"key": str(item.get("key", "")), "message": str(item.get("message", ""))}
                )
    body = {"status_code": 400, "detail": gettext(INVALID_REQUEST), "extra": problems}
    return Response(body, status_code=400, media_type=MediaType.JSON)


def invalid_input(request: AnyRequest, exc: InvalidInput) -> Response[Any]:
    """422 for input the domain refuses (the web form's checks), each field apart."""
    _activate(request)
    problems = [{"key": key, "message": render(message)} for key, message in exc.errors.items()]
    body = {
        "status_code": 422,
        "detail": "; ".join(problem["message"] for problem in problems),
        "extra": problems,
    }
    return Response(body, status_code=422, media_type=MediaType.JSON)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    NotAuthorizedException: not_authorized,
    ValidationException: invalid_request,
    InvalidInput: invalid_input,
}
