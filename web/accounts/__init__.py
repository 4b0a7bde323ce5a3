"""Signing in and out, choosing a new password (/login, /logout, /account/password), and
members' accounts in bulk with their printable handout (/account-sheets/new)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.accounts.sheets import AccountSheetController
from web.accounts.views import AuthController, PasswordController

HANDLERS: list[ControllerRouterHandler] = [
    AuthController,
    PasswordController,
    AccountSheetController,
]
