"""A branch's achievements of a year (/achievements/{branch_id})."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.achievements.views import AchievementsController

HANDLERS: list[ControllerRouterHandler] = [AchievementsController]
