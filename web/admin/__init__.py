"""The organisation office's checks (/admin: the ledger, the scoring rules) and its
publication pages (/admin/publication)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.admin.publication import PublicationController
from web.admin.rules import RulesController
from web.admin.views import AdminController

HANDLERS: list[ControllerRouterHandler] = [AdminController, RulesController, PublicationController]
