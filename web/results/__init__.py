"""The published results lists (/results): the red lists, the 优秀 members and the
branch stars, each with its print sheet and spreadsheet downloads."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.results.views import ResultsController

HANDLERS: list[ControllerRouterHandler] = [ResultsController]
