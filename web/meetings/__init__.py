"""Meetings: the list, scheduling, a meeting's page, leave, closing, amendments, make-up."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

HANDLERS: list[ControllerRouterHandler] = []
