"""The office's roster import (/admin/import) and member transfers."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.roster.views import RosterImportController, TransferController

HANDLERS: list[ControllerRouterHandler] = [RosterImportController, TransferController]
