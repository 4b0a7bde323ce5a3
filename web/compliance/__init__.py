"""Compliance (组织生活开展情况): meetings held against the yearly requirement."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.compliance.views import ComplianceController

HANDLERS: list[ControllerRouterHandler] = [ComplianceController]
