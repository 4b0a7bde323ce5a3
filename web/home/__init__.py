"""The front door (each person's home page), the language switch and a health check."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.home.views import HomeController

HANDLERS: list[ControllerRouterHandler] = [HomeController]
