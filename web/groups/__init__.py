"""A branch's party groups (党小组) and meeting organisers; members' calendar feeds."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

HANDLERS: list[ControllerRouterHandler] = []
