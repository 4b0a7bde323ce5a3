"""The JSON API for integrations, mounted at /api by web/app.py through ``api_router()``
rather than with the pages."""

from __future__ import annotations

from litestar import Router
from litestar.types import ControllerRouterHandler

from web.api.common import EXCEPTION_HANDLERS
from web.api.entries import EntriesApiController, ReviewsApiController
from web.api.meetings import MeetingsApiController
from web.api.members import MembersApiController
from web.api.openapi import openapi_config
from web.api.results import ResultsApiController
from web.api.views import ApiController
from web.guards import requires_api_access

__all__ = ["HANDLERS", "api_router", "openapi_config"]

HANDLERS: list[ControllerRouterHandler] = [
    ApiController,
    EntriesApiController,
    ReviewsApiController,
    MembersApiController,
    MeetingsApiController,
    ResultsApiController,
]


def api_router() -> Router:
    """Every API operation under one router, so the guard and the error handlers cannot
    be left off a new one: reads take the session cookie or an API token, changes an
    API token only (web/guards.py ``requires_api_access``), and errors get the API's
    JSON bodies (web/api/common.py).

    A new router each time: Litestar binds a router's handlers to one app."""
    return Router(
        path="/api",
        route_handlers=HANDLERS,
        guards=[requires_api_access],
        exception_handlers=EXCEPTION_HANDLERS,
    )
