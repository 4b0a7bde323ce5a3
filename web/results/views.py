"""Published results lists: /results (every list, by kind), /results/{kind}/{period}
(its lines in rank order, paged, with its digest and notice window), its A4 print
sheet (``/print``) and its downloads (``/list.csv``, ``/list.xlsx``). The kinds in
addresses are ``red_list``, ``excellent`` and ``branch_stars``; a kind or period not
published is 404.

The lists are public notices: every signed-in user sees them, as the month boards."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.orm import Session

from service.boards.exports import Table, to_csv, to_xlsx
from service.kernel.spreadsheet import Cell
from service.persistence.models import PublicationKind
from service.persistence.pagination import page_number
from service.persistence.types import utcnow
from service.publication.result_views import (
    ListHeader,
    list_header,
    list_page,
    result_kind,
    results_index,
    stars_of,
    whole_list,
)
from service.publication.results import ResultLine
from web.deps import Db, town_date
from web.guards import requires_login
from web.i18n import format_period
from web.i18n import gettext as _
from web.templating import town_of

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def kind_names() -> dict[str, str]:
    """Each kind's name for people, in the request's language."""
    return {
        PublicationKind.RED_LIST.value: _("Red list"),
        PublicationKind.EXCELLENT.value: _("Excellent party members"),
        PublicationKind.BRANCH_STARS.value: _("Star-rated branches"),
    }


def _header(db: Session, kind: str, period: str) -> ListHeader:
    """The published list an address names, its chain checked, or 404."""
    found = result_kind(kind)
    header = None if found is None else list_header(db, found, period, now=utcnow())
    if header is None:
        raise NotFoundException()
    return header


def _number(text: str) -> Cell:
    """A stored value ("12.5") as a number for spreadsheets; kept as text otherwise."""
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError):
        return text


def result_table(header: ListHeader, lines: list[ResultLine]) -> Table:
    if header.kind is PublicationKind.BRANCH_STARS:
        columns: tuple[str, ...] = ("rank", "branch", "stars", "total")
        rows: tuple[tuple[Cell, ...], ...] = tuple(
            (line.rank, line.name, stars_of(line), _number(line.value)) for line in lines
        )
    else:
        columns = ("rank", "name", "branch", "points")
        rows = tuple(
            (line.rank, line.name, line.branch_name, _number(line.value)) for line in lines
        )
    return Table(columns, rows)


def headings(header: ListHeader, table: Table) -> list[str]:
    value_name = {
        PublicationKind.RED_LIST: _("Points"),
        PublicationKind.EXCELLENT: _("Score"),
        PublicationKind.BRANCH_STARS: _("Rating score"),
    }[header.kind]
    names = {
        "rank": _("Rank"),
        "name": _("Name"),
        "branch": _("Branch"),
        "stars": _("Stars"),
        "points": value_name,
        "total": value_name,
    }
    return [names[key] for key in table.columns]


def list_title(header: ListHeader) -> str:
    return _("%(list)s, %(period)s") % {
        "list": kind_names()[header.kind.value],
        "period": format_period(header.period),
    }


class ResultsController(Controller):
    path = "/results"
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def index(self, db: Db) -> Template:
        index = results_index(db, now=utcnow())
        return Template(
            "results/index.html",
            context={
                "index": [(kind.value, lists) for kind, lists in index.items()],
                "kind_names": kind_names(),
            },
        )

    @get("/{kind:str}/{period:str}", sync_to_thread=True)
    def show(
        self,
        db: Db,
        kind: FromPath[str],
        period: FromPath[str],
        page: FromQuery[str | None] = None,
    ) -> Template:
        header = _header(db, kind, period)
        lines = list_page(db, header, page_number(page))
        return Template(
            "results/list.html",
            context={
                "header": header,
                "lines": lines,
                "title": list_title(header),
                "kind_names": kind_names(),
                "stars_of": stars_of,
                "base": f"/results/{header.kind.value}/{header.period}",
            },
        )

    @get("/{kind:str}/{period:str}/print", sync_to_thread=True)
    def print_view(
        self, request: Request[Any, Any, Any], db: Db, kind: FromPath[str], period: FromPath[str]
    ) -> Template:
        """The list for the notice board (公示栏), on A4 paper."""
        header = _header(db, kind, period)
        path = f"/results/{header.kind.value}/{header.period}"
        return Template(
            "results/print.html",
            context={
                "header": header,
                "lines": whole_list(db, header),
                "title": list_title(header),
                "stars_of": stars_of,
                "base": path,
                "list_url": town_of(request).absolute_url(request, path),
                "printed_on": town_date(request),
            },
        )

    def _download(
        self,
        request: Request[Any, Any, Any],
        db: Session,
        kind: str,
        period: str,
        extension: Literal["csv", "xlsx"],
    ) -> Response[bytes]:
        header = _header(db, kind, period)
        table = result_table(header, whole_list(db, header))
        filename = f"jifen-{header.kind.value.replace('_', '-')}-{header.period}"
        if extension == "csv":
            body, media_type = to_csv(headings(header, table), table), CSV_TYPE
        else:
            town = town_of(request)
            what = list_title(header)
            lines = [
                _("%(town)s · %(what)s") % {"town": town.name, "what": what} if town.name else what
            ]
            if town.committee:
                lines.append(town.committee)
            sheet = f"{town.name} {header.period}" if town.name else header.period
            body = to_xlsx(headings(header, table), table, sheet, lines, author=town.committee)
            media_type = XLSX_TYPE
        return Response(
            body,
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}.{extension}"'},
        )

    @get("/{kind:str}/{period:str}/list.csv", sync_to_thread=True)
    def csv(
        self, request: Request[Any, Any, Any], db: Db, kind: FromPath[str], period: FromPath[str]
    ) -> Response[bytes]:
        return self._download(request, db, kind, period, "csv")

    @get("/{kind:str}/{period:str}/list.xlsx", sync_to_thread=True)
    def xlsx(
        self, request: Request[Any, Any, Any], db: Db, kind: FromPath[str], period: FromPath[str]
    ) -> Response[bytes]:
        return self._download(request, db, kind, period, "xlsx")
