"""A member's entries: declare with photo evidence, list, withdraw; and the photos."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.entries.views import EntriesController

HANDLERS: list[ControllerRouterHandler] = [EntriesController]
