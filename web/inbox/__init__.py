"""Telling people (issue 19), the pages of one's own: the inbox (/inbox) and one's
notification preferences (/me/notifications)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.inbox.preferences import PreferencesController
from web.inbox.views import InboxController

HANDLERS: list[ControllerRouterHandler] = [InboxController, PreferencesController]
