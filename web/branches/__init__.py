"""A branch's pages for its reviewers (/branches): suggestions, deductions and
adjustments, and the branch's roster."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.branches.views import BranchesController, RosterController

HANDLERS: list[ControllerRouterHandler] = [BranchesController, RosterController]
