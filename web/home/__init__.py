"""The front door (each person's home page), and the language switch."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.home.views import HomeController

HANDLERS: list[ControllerRouterHandler] = [HomeController]
