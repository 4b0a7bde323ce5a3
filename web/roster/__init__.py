"""Route handlers of this feature, registered in web/app.py through HANDLERS."""

from __future__ import annotations

from typing import Any

from web.roster.views import RosterImportController, TransferController

# Controllers (or handlers) of this package; web/app.py registers every one.
HANDLERS: list[Any] = [RosterImportController, TransferController]
