"""Meetings: the list, scheduling, a meeting's page, leave, closing, amendments, make-up."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.meetings.actions import MeetingActionsController
from web.meetings.photos import MeetingPhotosController
from web.meetings.views import MeetingsController

HANDLERS: list[ControllerRouterHandler] = [
    MeetingsController,
    MeetingActionsController,
    MeetingPhotosController,
]
