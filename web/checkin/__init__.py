"""Check-in (签到): the secretary's rotating code screen, the member's check-in link,
and ticks on the attendance list."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.checkin.views import CheckinController

HANDLERS: list[ControllerRouterHandler] = [CheckinController]
