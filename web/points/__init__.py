"""A member's points explained line by line (/me/points, /members/{id}/points)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.points.views import PointsController

HANDLERS: list[ControllerRouterHandler] = [PointsController]
