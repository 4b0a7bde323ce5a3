"""Stopping the weekly digest from its email: the link's confirmation page and form,
and the one-click unsubscribe that mail clients post (RFC 8058). No sign-in: the link's
token is the key (service/notify/unsubscribe.py)."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.unsubscribe.views import UnsubscribeController

HANDLERS: list[ControllerRouterHandler] = [UnsubscribeController]
