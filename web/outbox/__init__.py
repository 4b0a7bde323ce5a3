"""The office's outbox (/outbox): how many messages are in each state, and the
dead-letter list with its last errors and a retry per message or for all."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.outbox.views import OutboxController

HANDLERS: list[ControllerRouterHandler] = [OutboxController]
