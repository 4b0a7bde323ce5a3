"""The JSON API, mounted at /api by web/app.py.

One router for every operation, so the guard and the error handlers cannot be left off
a new one: reads take the session cookie or an API token, changes an API token only
(web/guards.py ``requires_api_access``), and errors get the API's JSON bodies
(web/api/common.py).
"""

from __future__ import annotations

from litestar import Router

from web.api.common import EXCEPTION_HANDLERS
from web.api.entries import EntriesApiController, ReviewsApiController
from web.api.members import MembersApiController
from web.api.views import ApiController
from web.guards import requires_api_access


def api_router() -> Router:
    """A new router each time: Litestar binds a router's handlers to one app."""
    return Router(
        path="/api",
        route_handlers=[
            ApiController,
            EntriesApiController,
            ReviewsApiController,
            MembersApiController,
        ],
        guards=[requires_api_access],
        exception_handlers=EXCEPTION_HANDLERS,
    )
