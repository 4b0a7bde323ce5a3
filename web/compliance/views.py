"""Compliance (组织生活开展情况) for the office, instructors and secretaries: each branch's
meetings held per type against the yearly requirement, those behind, the attendance
rate; as a page (/compliance) and as CSV and XLSX downloads."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery
from litestar.response import Template

from service.boards.exports import Table, to_csv, to_xlsx
from service.kernel.numbers import parse_int
from service.kernel.spreadsheet import Cell
from service.meetings.compliance import (
    ComplianceRow,
    compliance_page,
    compliance_table,
    requirements,
)
from service.meetings.views import kind_label
from service.persistence.pagination import page_number
from service.scoring.rules import Rulebook
from web.deps import Actor, Db, Rules, town_date
from web.guards import requires_reviewer
from web.i18n import gettext as _
from web.i18n import render
from web.templating import town_of

AnyRequest = Request[Any, Any, Any]
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A type that does not apply to the branch (party group meetings without a group).
NOT_APPLICABLE = "—"
# Meetings came to Jifen in 2026; earlier years are not pages.
FIRST_YEAR = 2000


def _year(text: str | None, today: date) -> int:
    """The year asked for (this year when none); 404 for anything else or the future."""
    if text is None or not text.strip():
        return today.year
    year = parse_int(text, low=FIRST_YEAR, high=today.year)
    if year is None:
        raise NotFoundException()
    return year


def _behind(text: str | None) -> bool:
    return (text or "").strip() in {"1", "on", "yes", "true"}


def _kinds(rulebook: Rulebook, year: int, as_of: date) -> list[tuple[str, str]]:
    """The required types of ``year`` with their names, in table order."""
    return [(r.kind, render(kind_label(r.kind))) for r in requirements(rulebook, year, as_of=as_of)]


def _table(rows: list[ComplianceRow], kinds: list[tuple[str, str]]) -> tuple[list[str], Table]:
    """Headings and rows of the downloads: one line per branch."""
    headings = [_("Branch code"), _("Branch")]
    columns = ["code", "branch"]
    for kind, label in kinds:
        headings += [
            _("%(type)s: held") % {"type": label},
            _("%(type)s: due by now") % {"type": label},
            _("%(type)s: required this year") % {"type": label},
        ]
        columns += [f"{kind}_held", f"{kind}_due", f"{kind}_required"]
    headings += [
        _("Meetings held (all types)"),
        _("Attendances"),
        _("Expected attendances"),
        _("Attendance rate (%)"),
        _("Behind"),
    ]
    columns += ["held_total", "attended", "expected", "participation", "behind"]
    lines: list[tuple[Cell, ...]] = []
    for row in rows:
        cells: list[Cell] = [row.branch_code, row.branch_name]
        for kind, _label in kinds:
            counts = row.kind(kind)
            if counts is None:
                cells += [0, 0, 0]
            elif not counts.applies:  # party group meetings at a branch without a group
                cells += [counts.held, NOT_APPLICABLE, NOT_APPLICABLE]
            else:
                cells += [counts.held, counts.due_so_far, counts.required]
        cells += [
            row.held_total,
            row.attended,
            row.expected,
            row.attendance_rate,
            _("yes") if row.behind else "",
        ]
        lines.append(tuple(cells))
    return headings, Table(tuple(columns), tuple(lines))


class ComplianceController(Controller):
    path = "/"
    guards = [requires_reviewer]  # noqa: RUF012 - Litestar's class attribute

    @get("/compliance", sync_to_thread=True)
    def table(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        year: FromQuery[str | None] = None,
        behind: FromQuery[str | None] = None,
        page: FromQuery[str | None] = None,
    ) -> Template:
        today = town_date(request)
        shown = _year(year, today)
        only_behind = _behind(behind)
        result, behind_count = compliance_page(
            db,
            principal,
            rulebook,
            shown,
            as_of=today,
            behind_only=only_behind,
            page=page_number(page),
        )
        query = {"year": str(shown)} | ({"behind": "1"} if only_behind else {})
        return Template(
            "compliance/table.html",
            context={
                "year": shown,
                "as_of": min(today, date(shown, 12, 31)),
                "only_behind": only_behind,
                "result": result,
                "behind_count": behind_count,
                "kinds": _kinds(rulebook, shown, today),
                "export_query": "?" + urlencode(query),
                "previous_year": shown - 1 if shown > FIRST_YEAR else None,
                "next_year": shown + 1 if shown < today.year else None,
            },
        )

    def _download(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        year: str | None,
        behind: str | None,
        kind: Literal["csv", "xlsx"],
    ) -> Response[bytes]:
        today = town_date(request)
        shown = _year(year, today)
        only_behind = _behind(behind)
        rows = compliance_table(
            db, principal, rulebook, shown, as_of=today, behind_only=only_behind
        )
        headings, table = _table(rows, _kinds(rulebook, shown, today))
        filename = f"jifen-compliance-{shown}{'-behind' if only_behind else ''}.{kind}"
        if kind == "csv":
            body, media_type = to_csv(headings, table), CSV_TYPE
        else:
            town = town_of(request)
            what = _("Meetings held by the branches, %(year)s (as of %(day)s)") % {
                "year": shown,
                "day": min(today, date(shown, 12, 31)).isoformat(),
            }
            lines = [
                _("%(town)s · %(what)s") % {"town": town.name, "what": what} if town.name else what
            ]
            if town.committee:
                lines.append(town.committee)
            body = to_xlsx(headings, table, str(shown), lines, author=town.committee)
            media_type = XLSX_TYPE
        return Response(
            body,
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @get("/compliance.csv", sync_to_thread=True)
    def csv(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        year: FromQuery[str | None] = None,
        behind: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        return self._download(request, db, principal, rulebook, year, behind, "csv")

    @get("/compliance.xlsx", sync_to_thread=True)
    def xlsx(
        self,
        request: AnyRequest,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        year: FromQuery[str | None] = None,
        behind: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        return self._download(request, db, principal, rulebook, year, behind, "xlsx")
