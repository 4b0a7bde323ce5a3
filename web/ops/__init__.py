"""For those who run the service: liveness (/healthz), readiness (/readyz) and metrics
(/metrics). None of them is a page for people, and none is in the API schema."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.ops.views import OpsController

HANDLERS: list[ControllerRouterHandler] = [OpsController]
