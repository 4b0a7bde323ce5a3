"""Members' objections to a line of a published board (/objections)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.objections.views import ObjectionsController

HANDLERS: list[ControllerRouterHandler] = [ObjectionsController]
