"""The boards of a month, a quarter or a year (/boards): pages, the print view and
the spreadsheet exports."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.boards.exports import BoardExportsController
from web.boards.views import BoardsController

HANDLERS: list[ControllerRouterHandler] = [BoardsController, BoardExportsController]
