"""The audit log for the organisation office (/admin/audit)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.audit.views import AuditController

HANDLERS: list[ControllerRouterHandler] = [AuditController]
