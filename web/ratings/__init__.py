"""Branch ratings (星级支部): rounds, each branch's sheet with its self-assessment and
audit, and the office's publication of the stars."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.ratings.views import RatingsController

HANDLERS: list[ControllerRouterHandler] = [RatingsController]
