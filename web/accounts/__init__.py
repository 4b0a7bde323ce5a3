"""Signing in and out, and choosing a new password (/login, /logout, /account/password)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.accounts.views import AuthController, PasswordController

HANDLERS: list[ControllerRouterHandler] = [AuthController, PasswordController]
