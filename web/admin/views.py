"""The town organisation office's pages: the start page and the ledger check (the
scoring rules are web/admin/rules.py). Admins only; everybody else gets 403.

The check only reads. It opens a read transaction of their own instead of the
request's, because a POST's request transaction is a write transaction (BEGIN IMMEDIATE
on SQLite) and would hold up every approval for as long as the check runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Template

from service.ledger.verify import (
    DIFFERENCE_LABELS,
    REMEDY_LABELS,
    Difference,
    VerifyReport,
    verify_ledger,
)
from service.persistence.db import Database
from service.scoring.rules import Ruleset
from web.deps import Rules, town_date
from web.guards import requires_admin
from web.i18n import gettext

AnyRequest = Request[Any, Any, Any]

# A badly broken ledger can differ in thousands of places; the page shows the first ones
# and says how many there are (the command prints them all).
SHOWN_DIFFERENCES = 500


def _database(request: AnyRequest) -> Database:
    database: Database = request.app.state.database
    return database


@dataclass(frozen=True)
class DifferenceRow:
    label: str
    difference: Difference


def _verify_context(report: VerifyReport) -> dict[str, Any]:
    rows = report.ledger_lines + report.summary_rows
    return {
        "report": report,
        "rows": [
            DifferenceRow(gettext(DIFFERENCE_LABELS[d.kind]), d)
            for d in report.differences[:SHOWN_DIFFERENCES]
        ],
        "hidden": max(0, len(report.differences) - SHOWN_DIFFERENCES),
        "remedies": [gettext(REMEDY_LABELS[remedy]) for remedy in report.remedies],
        "seconds": f"{report.seconds:.2f}",
        "rate": f"{rows / report.seconds if report.seconds > 0 else rows:,.0f}",
    }


class AdminController(Controller):
    path = "/admin"
    guards = [requires_admin]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=False)
    def index(self, request: AnyRequest, rulebook: Rules) -> Template:
        in_force: Ruleset | None = rulebook.in_force(town_date(request))
        return Template("admin/index.html", context={"in_force": in_force})

    @get("/ledger", sync_to_thread=False)
    def ledger(self) -> Template:
        return Template("admin/ledger.html", context={"report": None})

    @post("/ledger/verify", sync_to_thread=True)
    def verify(self, request: AnyRequest, rulebook: Rules) -> Template:
        with _database(request).transaction(write=False) as session:
            report = verify_ledger(session, rulebook)
        return Template("admin/ledger.html", context=_verify_context(report))
