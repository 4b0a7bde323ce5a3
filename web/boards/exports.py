"""The boards as spreadsheets: CSV and XLSX downloads of the members board (town-wide or a
branch's) and the branches board of a month, a quarter or a year, the same lines as the
pages show (a published month's stored ones)."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.boards.exports import Table, branch_table, member_table, to_csv, to_xlsx
from service.boards.live import get_branch
from service.scoring.rules import Rulebook
from web.boards.common import Sort, checked_span, year_stars
from web.boards.stored import branch_members, publication_of, town_branches, town_members
from web.deps import Db, RecordId, Rules, current_period, sees_town_ranks
from web.guards import requires_login
from web.i18n import format_period
from web.i18n import gettext as _
from web.templating import Town, town_of

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def headings(table: Table) -> list[str]:
    names = {
        "rank": _("Rank"),
        "tied": _("Tied"),
        "name": _("Name"),
        "branch": _("Branch"),
        "points": _("Points"),
        "stars": _("Stars"),
        "kind": _("Kind"),
        "total": _("Total"),
        "members": _("Member count"),
        "per_member": _("Per member"),
        "participants": _("Members taking part"),
        "participation": _("Participation (%)"),
        "rank_total": _("Rank by total"),
        "rank_per_member": _("Rank per member"),
        "rank_participation": _("Rank by participation"),
    }
    return [names[key] for key in table.columns]


def title_lines(town: Town, what: str) -> list[str]:
    """The lines above an XLSX's headings: what the sheet is, under the town's name when
    there is one, and the committee that issues it."""
    lines = [_("%(town)s · %(what)s") % {"town": town.name, "what": what} if town.name else what]
    if town.committee:
        lines.append(town.committee)
    return lines


def download(
    request: Request[Any, Any, Any],
    table: Table,
    filename: str,
    kind: Literal["csv", "xlsx"],
    period: str,
    what: str,
) -> Response[bytes]:
    """``what``: the sheet's subject with its period, for people (the XLSX title)."""
    if kind == "csv":
        body, media_type = to_csv(headings(table), table), CSV_TYPE
    else:
        town = town_of(request)
        sheet = f"{town.name} {period}" if town.name else period
        lines = title_lines(town, what)
        body = to_xlsx(headings(table), table, sheet, lines, author=town.committee)
        media_type = XLSX_TYPE
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}.{kind}"'},
    )


class BoardExportsController(Controller):
    path = "/boards"
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    def _member_export(
        self,
        request: Request[Any, Any, Any],
        db: Session,
        rulebook: Rulebook,
        period: str,
        kind: Literal["csv", "xlsx"],
        branch_id: int | None = None,
        revision: str | None = None,
    ) -> Response[bytes]:
        span = checked_span(period)
        publication = publication_of(request, db, span, current_period(request), revision)
        period_name = format_period(span.key)
        if branch_id is None and not sees_town_ranks(request):
            # The town hides the town-wide ranking from this viewer: their branch's.
            principal: Principal | None = request.scope.get("user")
            branch_id = principal.member_branch_id if principal is not None else None
            if branch_id is None:
                raise NotFoundException()
        if branch_id is None:
            board = town_members(db, span, publication)
            filename = f"jifen-members-{span.key}"
            what = _("Party member points, %(period)s") % {"period": period_name}
        else:
            branch = get_branch(db, branch_id)
            board = branch_members(db, span, publication, branch_id)
            filename = f"jifen-branch-{branch_id}-members-{span.key}"
            what = _("Party member points of %(branch)s, %(period)s") % {
                "branch": branch.name,
                "period": period_name,
            }
        stars, _count = year_stars(request, rulebook, span, board.ranked)
        return download(request, member_table(board, stars), filename, kind, span.key, what)

    def _branch_export(
        self,
        request: Request[Any, Any, Any],
        db: Session,
        period: str,
        sort: Sort,
        kind: Literal["csv", "xlsx"],
        revision: str | None = None,
    ) -> Response[bytes]:
        span = checked_span(period)
        publication = publication_of(request, db, span, current_period(request), revision)
        board = town_branches(db, span, publication)
        what = _("Party branch points, %(period)s") % {"period": format_period(span.key)}
        table = branch_table(board, sort)
        return download(request, table, f"jifen-branches-{span.key}", kind, span.key, what)

    @get("/{period:str}/members.csv", sync_to_thread=True)
    def members_csv(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        period: FromPath[str],
        revision: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        return self._member_export(request, db, rulebook, period, "csv", None, revision)

    @get("/{period:str}/members.xlsx", sync_to_thread=True)
    def members_xlsx(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        period: FromPath[str],
        revision: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        return self._member_export(request, db, rulebook, period, "xlsx", None, revision)

    @get("/{period:str}/branches.csv", sync_to_thread=True)
    def branches_csv(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        period: FromPath[str],
        sort: FromQuery[Sort] = "total",
        revision: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        return self._branch_export(request, db, period, sort, "csv", revision)

    @get("/{period:str}/branches.xlsx", sync_to_thread=True)
    def branches_xlsx(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        period: FromPath[str],
        sort: FromQuery[Sort] = "total",
        revision: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        return self._branch_export(request, db, period, sort, "xlsx", revision)

    @get("/{period:str}/branches/{branch_id:str}/members.csv", sync_to_thread=True)
    def branch_members_csv(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        period: FromPath[str],
        branch_id: FromPath[RecordId],
        revision: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        return self._member_export(request, db, rulebook, period, "csv", branch_id, revision)

    @get("/{period:str}/branches/{branch_id:str}/members.xlsx", sync_to_thread=True)
    def branch_members_xlsx(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        period: FromPath[str],
        branch_id: FromPath[RecordId],
        revision: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        return self._member_export(request, db, rulebook, period, "xlsx", branch_id, revision)
