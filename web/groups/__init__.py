"""A branch's party groups (党小组) and meeting organisers; members' calendar feeds."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.groups.views import CalendarController, GroupsController

HANDLERS: list[ControllerRouterHandler] = [GroupsController, CalendarController]
