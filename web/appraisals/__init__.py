"""The annual appraisal (民主评议党员): the list of a year's sheets, a branch's sheet (fill,
submit, approve or return), its A4 print, and the office's publication of the 优秀 list."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from web.appraisals.views import AppraisalsController

HANDLERS: list[ControllerRouterHandler] = [AppraisalsController]
