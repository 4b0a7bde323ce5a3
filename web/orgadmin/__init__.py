"""The office's people administration: branches, organisations, members, accounts
and their API tokens (/admin/...)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.orgadmin.views import OrgAdminController

HANDLERS: list[ControllerRouterHandler] = [OrgAdminController]
