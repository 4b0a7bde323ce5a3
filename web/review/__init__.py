"""The reviewers' queue (/review): single decisions and approving many at once."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.review.views import ReviewController

HANDLERS: list[ControllerRouterHandler] = [ReviewController]
