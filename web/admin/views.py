"""The town organisation office's pages: the ledger check and the scoring rules with a
preview of a candidate ruleset. Admins only; everybody else gets 403.

Both checks only read. They open a read transaction of their own instead of the
request's, because a POST's request transaction is a write transaction (BEGIN IMMEDIATE
on SQLite) and would hold up every approval for as long as the check runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Template

from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_, Message
from service.kernel.periods import parse_period
from service.ledger.preview import Preview, PreviewLine, preview_ruleset
from service.ledger.verify import (
    DIFFERENCE_LABELS,
    REMEDY_LABELS,
    Difference,
    VerifyReport,
    verify_ledger,
)
from service.persistence.db import Database
from service.scoring.rules import Rulebook, RulesError, Ruleset, parse_ruleset
from web.deps import Rules, town_date
from web.forms import FormData, first_value
from web.guards import requires_admin
from web.i18n import gettext, render

AnyRequest = Request[Any, Any, Any]

# Names the pasted text in problem lines, where a file check names the file.
CANDIDATE_SOURCE = "candidate"
MAX_CANDIDATE_CHARS = 200_000
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


@dataclass(frozen=True)
class MonthPreview:
    period: str
    points_before: Any
    points_after: Any
    members_affected: int
    lines: list[PreviewLine]


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


def _months(preview: Preview) -> list[MonthPreview]:
    return [
        MonthPreview(
            period=total.period,
            points_before=total.points_before,
            points_after=total.points_after,
            members_affected=total.members_affected,
            lines=[line for line in preview.lines if line.period == total.period],
        )
        for total in preview.month_totals
    ]


def _rules_page(
    request: AnyRequest,
    rulebook: Rulebook,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problems: list[str] | None = None,
    preview: Preview | None = None,
    status_code: int = 200,
) -> Template:
    today = town_date(request)
    in_force = rulebook.in_force(today)
    return Template(
        "admin/rules.html",
        context={
            "rulesets": list(reversed(rulebook.rulesets)),
            "in_force": in_force.version if in_force else None,
            "today": today,
            "values": values or {},
            "errors": errors or {},
            "problems": problems or [],
            "preview": preview,
            "months": _months(preview) if preview else [],
            "max_chars": MAX_CANDIDATE_CHARS,
        },
        status_code=status_code,
    )


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

    @get("/rules", sync_to_thread=False)
    def rules(self, request: AnyRequest, rulebook: Rules) -> Template:
        return _rules_page(request, rulebook)

    @post("/rules/preview", sync_to_thread=True)
    def preview(self, request: AnyRequest, rulebook: Rules, data: FormData) -> Template:
        form = first_value(data)
        candidate_text = str(form.get("candidate", ""))
        month = str(form.get("month", "")).strip()
        values = {"candidate": candidate_text, "month": month}
        errors: dict[str, str] = {}
        if not candidate_text.strip():
            errors["candidate"] = render(Message(N_("Paste the candidate ruleset (TOML) here.")))
        elif len(candidate_text) > MAX_CANDIDATE_CHARS:
            errors["candidate"] = render(
                Message(
                    N_("This text is too long (at most %(max)s characters)."),
                    {"max": f"{MAX_CANDIDATE_CHARS:,}"},
                )
            )
        if month:
            try:
                parse_period(month)
            except InvalidInput as exc:
                errors["month"] = render(exc.errors["period"])
        if errors:
            return _rules_page(request, rulebook, values=values, errors=errors, status_code=422)
        try:
            candidate = parse_ruleset(candidate_text, CANDIDATE_SOURCE)
            with _database(request).transaction(write=False) as session:
                result = preview_ruleset(
                    session,
                    rulebook,
                    candidate,
                    months=[month] if month else None,
                    today=town_date(request),
                )
        except RulesError as exc:
            return _rules_page(
                request, rulebook, values=values, problems=exc.problems, status_code=422
            )
        return _rules_page(request, rulebook, values=values, preview=result)
