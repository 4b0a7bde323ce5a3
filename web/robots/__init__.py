"""Group robots (issue 19): a branch's 企业微信 / 钉钉 robots (/branches/{id}/robots, its
secretary and the office) and the town office's (/office/robots, the office). Addresses
are shown masked and secrets only as "set"; a form never echoes either back."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.robots.views import BranchRobotsController, OfficeRobotsController

HANDLERS: list[ControllerRouterHandler] = [BranchRobotsController, OfficeRobotsController]
