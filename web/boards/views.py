"""Boards: members in the town, branches, members within a branch; for a month, a
quarter (/boards/2026-Q3) or a year (/boards/2026); a print view for the notice board
and CSV / XLSX exports of every board.

A published month shows its stored board (PublishedMonth); an open month the live one,
marked as such. Quarter and year boards add the months' points.

A corrected month keeps every revision: the newest shows by default, an earlier one with
``?revision=N`` (marked as replaced), each with its digest and what changed from the
revision before. While a month's notice window is open, a signed-in member sees a link on
each line of the board to object to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.orm import Session

from service.accounts import Principal
from service.boards import (
    BoardPeriod,
    BranchBoard,
    BranchMetric,
    MemberBoard,
    SpanKind,
    branch_board,
    branch_trend,
    get_branch,
    max_stars,
    member_board,
    parse_board_period,
    points_by_group,
    public_stars,
    within_branch,
)
from service.charts import Chart, Datum, column_chart, horizontal_bars
from service.config import Settings
from service.errors import InvalidInput
from service.exports import Table, branch_table, member_table, to_csv, to_xlsx
from service.models import Branch
from service.periods import parse_period, period_of, shift_period, town_today
from service.publication import (
    PublishedMonth,
    RevisionDiff,
    RevisionInfo,
    diff_revisions,
    published_month,
    published_revision,
)
from service.scoring.rules import Rulebook
from service.types import utcnow
from web.auth import requires_login
from web.deps import Db, Rules
from web.i18n import gettext as _

PAGE_SIZE = 50
TOP_BRANCHES = 10
TREND_MONTHS = 12
Sort = Literal["total", "per_member", "participation"]

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def town_date(request: Request[Any, Any, Any]) -> date:
    settings: Settings = request.app.state.settings
    return town_today(utcnow(), settings.timezone)


def current_period(request: Request[Any, Any, Any]) -> str:
    return period_of(town_date(request))


def checked_period(period: FromPath[str]) -> str:
    """A month key (the JSON API's boards are months), or 404."""
    try:
        return parse_period(period)
    except InvalidInput as exc:
        raise NotFoundException() from exc


def checked_span(period: str) -> BoardPeriod:
    """A month, a quarter or a year, or 404."""
    try:
        return parse_board_period(period)
    except InvalidInput as exc:
        raise NotFoundException() from exc


@dataclass(frozen=True)
class Publication:
    """What the page says about publication: the month's stored board (the revision
    shown), or for a quarter or a year which of its months are published so far."""

    month: PublishedMonth | None
    published: tuple[str, ...]  # months of the span published so far
    open: tuple[str, ...]  # months of the span up to now not yet published

    def _info(self, revision: int) -> RevisionInfo | None:
        if self.month is None:
            return None
        return next((r for r in self.month.revisions if r.revision == revision), None)

    @property
    def newest(self) -> int | None:
        """The month's newest revision (the one in force)."""
        if self.month is None:
            return None
        return max([r.revision for r in self.month.revisions] + [self.month.revision])

    @property
    def replaced(self) -> bool:
        """The revision shown has been replaced by a later correction."""
        return self.month is not None and self.month.revision < (self.newest or 0)

    @property
    def replaces(self) -> RevisionInfo | None:
        """The revision the shown one replaces (None for a first publication)."""
        return None if self.month is None else self._info(self.month.revision - 1)

    @property
    def replaced_by(self) -> RevisionInfo | None:
        """The revision that replaced the shown one (None for the newest)."""
        return None if self.month is None else self._info(self.month.revision + 1)

    @property
    def query(self) -> str:
        """The query that keeps a replaced revision on the page's own links."""
        return f"revision={self.month.revision}" if self.month and self.replaced else ""


def _publication(
    db: Session, span: BoardPeriod, current: str, revision: int | None = None
) -> Publication:
    """``revision`` (months only): show that revision of the month's stored board
    instead of the newest; 404 when the month has no such revision."""
    now = utcnow()
    published: list[str] = []
    still_open: list[str] = []
    month: PublishedMonth | None = None
    if span.kind is SpanKind.MONTH and revision is not None:
        month = published_revision(db, span.key, revision, now=now)
        if month is None or span.key > current:
            raise NotFoundException()
        return Publication(month, (span.key,), ())
    for period in span.months:
        if period > current:
            break
        found = published_month(db, period, now=now)
        if found is None:
            still_open.append(period)
        else:
            published.append(period)
            month = found
    return Publication(
        month if span.kind is SpanKind.MONTH else None, tuple(published), tuple(still_open)
    )


def revision_diff(db: Session, publication: Publication) -> RevisionDiff | None:
    """What changed from the revision before to the one shown (corrections only)."""
    month, before = publication.month, publication.replaces
    if month is None or before is None:
        return None
    return diff_revisions(db, month.period, before.revision, month.revision)


def may_object(request: Request[Any, Any, Any], publication: Publication) -> bool:
    """Lines link to the objection form for a signed-in member while the month's notice
    window is open, on its newest revision (objections are to the board in force).
    The form checks again; this only keeps links away from people they would fail for."""
    principal: Principal | None = request.scope.get("user")
    month = publication.month
    return (
        principal is not None
        and principal.member_id is not None
        and month is not None
        and not month.final
        and not publication.replaced
    )


def publication_context(
    request: Request[Any, Any, Any], db: Session, publication: Publication
) -> dict[str, Any]:
    """What the board pages' banner and links need about the revision shown."""
    query = publication.query
    return {
        "publication": publication,
        "diff": revision_diff(db, publication),
        "can_object": may_object(request, publication),
        "rev_first": f"?{query}" if query else "",  # to start a query string
        "rev_more": f"&{query}" if query else "",  # to add to one
    }


def _nav(request: Request[Any, Any, Any], span: BoardPeriod) -> dict[str, Any]:
    current = current_period(request)
    following = span.shift(1)
    month_of_span = span.first if not span.contains(current) else current
    return {
        "span": span,
        "period": span.key,
        "previous_period": span.shift(-1).key,
        "next_period": following.key if following.first <= current else None,
        "is_current": span.contains(current),
        "month_key": month_of_span,
        "quarter_key": span.quarter if span.kind is not SpanKind.YEAR else None,
        "quarter_of_month": parse_board_period(month_of_span).quarter,
        "year_key": f"{span.year:04d}",
    }


def points_links(request: Request[Any, Any, Any], board: MemberBoard) -> frozenset[int]:
    """Members whose line links to their points page: only for viewers who may open it
    (a secretary or instructor of the member's branch, an admin). The page itself checks
    again; this only keeps links away from people they would fail for."""
    principal: Principal | None = request.scope.get("user")
    if principal is None or not principal.is_reviewer:
        return frozenset()
    lines = [ranked.item for ranked in board.ranked] + board.exempt + board.unscored
    return frozenset(
        line.member_id for line in lines if principal.can_review_branch(line.branch_id)
    )


def _page(items: list[Any], page: int) -> tuple[list[Any], int, int]:
    pages = max(1, -(-len(items) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    return items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], page, pages


def town_members(db: Session, span: BoardPeriod, publication: Publication) -> MemberBoard:
    if publication.month is not None:
        return publication.month.members
    return member_board(db, span.key)


def branch_members(
    db: Session, span: BoardPeriod, publication: Publication, branch_id: int
) -> MemberBoard:
    if publication.month is not None:
        return within_branch(publication.month.members, branch_id)
    return member_board(db, span.key, branch_id=branch_id)


def town_branches(db: Session, span: BoardPeriod, publication: Publication) -> BranchBoard:
    if publication.month is not None:
        return publication.month.branches
    return branch_board(db, span.key)


def year_stars(
    request: Request[Any, Any, Any], rulebook: Rulebook, span: BoardPeriod, board: MemberBoard
) -> tuple[dict[int, int] | None, int]:
    """Stars show on year boards only (the thresholds are on the yearly score)."""
    if span.kind is not SpanKind.YEAR:
        return None, 0
    today = town_date(request)
    return (
        public_stars(board, rulebook, span.year, as_of=today),
        max_stars(rulebook, span.year, as_of=today),
    )


# --- charts -------------------------------------------------------------------------


def group_chart(db: Session, rulebook: Rulebook, span: BoardPeriod) -> Chart:
    labels = {
        "basic": _("Basic"),
        "reward": _("Rewards"),
        "deduction": _("Deductions"),
        "adjustment": _("Adjustments"),
    }
    sums = points_by_group(db, rulebook, span.key)
    data = [
        Datum(labels[group.value], value)
        for group, value in sums.items()
        if value or group.value != "adjustment"
    ]
    return horizontal_bars(data)


def top_branches_chart(ranked: list[Any], metric: str) -> Chart:
    data = []
    for row in ranked[:TOP_BRANCHES]:
        line = row.item
        if metric == BranchMetric.PER_MEMBER:
            value = line.per_member
        elif metric == BranchMetric.PARTICIPATION:
            value = line.participation
        else:
            value = line.total
        data.append(Datum(f"{row.rank}. {line.name}", value))
    return horizontal_bars(data)


def trend_chart(db: Session, branch_id: int, span: BoardPeriod) -> tuple[Chart, list[str]]:
    months = [shift_period(span.last, -step) for step in range(TREND_MONTHS - 1, -1, -1)]
    values = branch_trend(db, branch_id, months)
    data = [
        Datum(month, value, short=str(int(month[5:7])))
        for month, value in zip(months, values, strict=True)
    ]
    return column_chart(data), months


# --- exports ------------------------------------------------------------------------


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


def download(
    table: Table, filename: str, kind: Literal["csv", "xlsx"], title: str
) -> Response[bytes]:
    if kind == "csv":
        body, media_type = to_csv(headings(table), table), CSV_TYPE
    else:
        body, media_type = to_xlsx(headings(table), table, title), XLSX_TYPE
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}.{kind}"'},
    )


class BoardsController(Controller):
    path = "/boards"
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def current(
        self, request: Request[Any, Any, Any], db: Db, rulebook: Rules, page: FromQuery[int] = 1
    ) -> Template:
        return self._members(request, db, rulebook, current_period(request), page, None)

    @get("/{period:str}", sync_to_thread=True)
    def members(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        period: FromPath[str],
        page: FromQuery[int] = 1,
        revision: FromQuery[int | None] = None,
    ) -> Template:
        return self._members(request, db, rulebook, period, page, revision)

    @staticmethod
    def _members(
        request: Request[Any, Any, Any],
        db: Session,
        rulebook: Rulebook,
        period: str,
        page: int,
        revision: int | None,
    ) -> Template:
        span = checked_span(period)
        publication = _publication(db, span, current_period(request), revision)
        board = town_members(db, span, publication)
        stars, star_count = year_stars(request, rulebook, span, board)
        rows, page, pages = _page(board.ranked, page)
        return Template(
            "boards/members.html",
            context={
                "board": board,
                "rows": rows,
                "stars": stars,
                "max_stars": star_count,
                "linkable": points_links(request, board),
                "page": page,
                "pages": pages,
                **publication_context(request, db, publication),
                **_nav(request, span),
            },
        )

    @get("/{period:str}/branches", sync_to_thread=True)
    def branches(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        period: FromPath[str],
        sort: FromQuery[Sort] = "total",
        page: FromQuery[int] = 1,
        revision: FromQuery[int | None] = None,
    ) -> Template:
        span = checked_span(period)
        publication = _publication(db, span, current_period(request), revision)
        board = town_branches(db, span, publication)
        ranked = board.ranked_by(sort)
        ranks = {
            metric.value: {r.item.branch_id: r.rank for r in board.ranked_by(metric)}
            for metric in BranchMetric
        }
        rows, page, pages = _page(ranked, page)
        return Template(
            "boards/branches.html",
            context={
                "rows": rows,
                "ranks": ranks,
                "sort": sort,
                "page": page,
                "pages": pages,
                "headline": _headline(rulebook, span),
                "group_chart": group_chart(db, rulebook, span),
                "top_chart": top_branches_chart(ranked, sort),
                **publication_context(request, db, publication),
                **_nav(request, span),
            },
        )

    @get("/{period:str}/branches/{branch_id:int}", sync_to_thread=True)
    def branch_members(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        period: FromPath[str],
        branch_id: FromPath[int],
        revision: FromQuery[int | None] = None,
    ) -> Template:
        span = checked_span(period)
        branch: Branch = get_branch(db, branch_id)
        publication = _publication(db, span, current_period(request), revision)
        board = branch_members(db, span, publication, branch_id)
        stars, star_count = year_stars(request, rulebook, span, board)
        chart, trend_months = trend_chart(db, branch_id, span)
        return Template(
            "boards/branch.html",
            context={
                "branch": branch,
                "board": board,
                "stars": stars,
                "max_stars": star_count,
                "linkable": points_links(request, board),
                "trend_chart": chart,
                "trend_months": trend_months,
                **publication_context(request, db, publication),
                **_nav(request, span),
            },
        )

    @get("/{period:str}/print", sync_to_thread=True)
    def print_view(
        self, request: Request[Any, Any, Any], db: Db, rulebook: Rules, period: FromPath[str]
    ) -> Template:
        """The board for the notice board (公示栏), on A4 paper."""
        span = checked_span(period)
        publication = _publication(db, span, current_period(request))
        board = town_members(db, span, publication)
        branches = town_branches(db, span, publication)
        metric = _headline(rulebook, span)
        stars, star_count = year_stars(request, rulebook, span, board)
        return Template(
            "boards/print.html",
            context={
                "board": board,
                "branches": branches.ranked_by(metric),
                "metric": metric,
                "stars": stars,
                "max_stars": star_count,
                "publication": publication,
                "board_url": f"{str(request.base_url).rstrip('/')}/boards/{span.key}",
                "printed_on": town_date(request),
                **_nav(request, span),
            },
        )

    # Exports: the same boards as the pages, as spreadsheets.

    def _member_export(
        self,
        request: Request[Any, Any, Any],
        db: Session,
        rulebook: Rulebook,
        period: str,
        kind: Literal["csv", "xlsx"],
        branch_id: int | None = None,
        revision: int | None = None,
    ) -> Response[bytes]:
        span = checked_span(period)
        publication = _publication(db, span, current_period(request), revision)
        if branch_id is None:
            board = town_members(db, span, publication)
            filename = f"jifen-members-{span.key}"
        else:
            get_branch(db, branch_id)
            board = branch_members(db, span, publication, branch_id)
            filename = f"jifen-branch-{branch_id}-members-{span.key}"
        stars, _count = year_stars(request, rulebook, span, board)
        return download(member_table(board, stars), filename, kind, span.key)

    def _branch_export(
        self,
        request: Request[Any, Any, Any],
        db: Session,
        period: str,
        sort: Sort,
        kind: Literal["csv", "xlsx"],
        revision: int | None = None,
    ) -> Response[bytes]:
        span = checked_span(period)
        publication = _publication(db, span, current_period(request), revision)
        board = town_branches(db, span, publication)
        return download(branch_table(board, sort), f"jifen-branches-{span.key}", kind, span.key)

    @get("/{period:str}/members.csv", sync_to_thread=True)
    def members_csv(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        period: FromPath[str],
        revision: FromQuery[int | None] = None,
    ) -> Response[bytes]:
        return self._member_export(request, db, rulebook, period, "csv", None, revision)

    @get("/{period:str}/members.xlsx", sync_to_thread=True)
    def members_xlsx(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        period: FromPath[str],
        revision: FromQuery[int | None] = None,
    ) -> Response[bytes]:
        return self._member_export(request, db, rulebook, period, "xlsx", None, revision)

    @get("/{period:str}/branches.csv", sync_to_thread=True)
    def branches_csv(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        period: FromPath[str],
        sort: FromQuery[Sort] = "total",
        revision: FromQuery[int | None] = None,
    ) -> Response[bytes]:
        return self._branch_export(request, db, period, sort, "csv", revision)

    @get("/{period:str}/branches.xlsx", sync_to_thread=True)
    def branches_xlsx(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        period: FromPath[str],
        sort: FromQuery[Sort] = "total",
        revision: FromQuery[int | None] = None,
    ) -> Response[bytes]:
        return self._branch_export(request, db, period, sort, "xlsx", revision)

    @get("/{period:str}/branches/{branch_id:int}/members.csv", sync_to_thread=True)
    def branch_members_csv(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        period: FromPath[str],
        branch_id: FromPath[int],
        revision: FromQuery[int | None] = None,
    ) -> Response[bytes]:
        return self._member_export(request, db, rulebook, period, "csv", branch_id, revision)

    @get("/{period:str}/branches/{branch_id:int}/members.xlsx", sync_to_thread=True)
    def branch_members_xlsx(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        period: FromPath[str],
        branch_id: FromPath[int],
        revision: FromQuery[int | None] = None,
    ) -> Response[bytes]:
        return self._member_export(request, db, rulebook, period, "xlsx", branch_id, revision)


def _headline(rulebook: Rulebook, span: BoardPeriod) -> str:
    """The metric the ruleset in force at the span's end names as the headline."""
    last = span.last
    day = date(int(last[:4]), int(last[5:7]), 1)
    ruleset = rulebook.in_force(day) or rulebook.latest
    return ruleset.headline_metric.value
