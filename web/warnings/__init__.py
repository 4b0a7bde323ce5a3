"""Bands (红黄榜) and warning cases (预警): the office's banding runs and red lists, the
case list and a case's page (talks, closing, the member's response)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.warnings.bands import BandsController
from web.warnings.cases import WarningsController

HANDLERS: list[ControllerRouterHandler] = [BandsController, WarningsController]
