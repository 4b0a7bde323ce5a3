"""Boards: members in the town, branches, members within a branch; for a month, a
quarter (/boards/2026-Q3) or a year (/boards/2026); and a print view for the notice
board (their CSV / XLSX exports are in exports.py). The town board's exempt members with
points are not ranked: they are listed on pages of their own
(/boards/2026-07/exempt?page=2), and the board's pages say how many there are.

A published month shows its stored board, its lines read a page at a time (stored.py);
an open month the live one, marked as such. Quarter and year boards add the months'
points.

A corrected month keeps every revision: the newest shows by default, an earlier one with
``?revision=N`` (marked as replaced), each with its digest and what changed from the
revision before. While a month's notice window is open, a signed-in member sees a link on
each line of the board to object to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.boards.board import (
    BoardPeriod,
    BranchMetric,
    MemberBoard,
    MemberLine,
    SpanKind,
    parse_board_period,
)
from service.boards.live import branch_trend, get_branch, points_by_group
from service.boards.pages import MemberPage
from service.kernel.periods import shift_period
from service.persistence.models import Branch, PublicationKind
from service.persistence.pagination import page_number
from service.persistence.types import utcnow
from service.publication.result_views import latest_list, stars_of
from service.scoring.charts import Chart, Datum, column_chart, horizontal_bars
from service.scoring.rules import Rulebook
from web.boards.common import Sort, checked_span, year_stars
from web.boards.stored import (
    Publication,
    branch_members,
    publication_context,
    publication_of,
    town_branch_page,
    town_branches,
    town_exempt_page,
    town_member_page,
    town_members,
)
from web.deps import Db, RecordId, Rules, current_period, sees_town_ranks, town_date
from web.guards import requires_login
from web.i18n import gettext as _
from web.templating import town_of

TOP_BRANCHES = 10


@dataclass(frozen=True)
class Scope:
    """The branch whose ranking the members board shows instead of the town's."""

    branch_id: int | None
    branch_name: str | None


TREND_MONTHS = 12


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


def points_links(request: Request[Any, Any, Any], lines: Iterable[MemberLine]) -> frozenset[int]:
    """Members whose line links to their points page: only for viewers who may open it
    (a secretary or instructor of the member's branch, an admin). The page itself checks
    again; this only keeps links away from people they would fail for."""
    principal: Principal | None = request.scope.get("user")
    if principal is None or not principal.is_reviewer:
        return frozenset()
    return frozenset(
        line.member_id for line in lines if principal.can_review_branch(line.branch_id)
    )


def results_blocks(db: Session) -> dict[str, Any]:
    """The newest published branch stars (its top branches) and red list, for the
    board pages' short block linking to them (web/results)."""
    now = utcnow()
    return {
        "latest_stars": latest_list(db, PublicationKind.BRANCH_STARS, now=now),
        "latest_red": latest_list(db, PublicationKind.RED_LIST, now=now, top=0),
        "stars_of": stars_of,
    }


def ranking_scope(request: Request[Any, Any, Any]) -> Scope | None:
    """None: the viewer sees the town-wide member ranking. Else the town hides it from
    them (JIFEN_HIDE_TOWN_RANKINGS) and the members board ranks their own branch (no
    branch: no member ranking at all)."""
    if sees_town_ranks(request):
        return None
    principal: Principal | None = request.scope.get("user")
    if principal is None or principal.member_branch_id is None:
        return Scope(None, None)
    return Scope(principal.member_branch_id, principal.member_branch_name)


def own_branch_page(
    db: Session, span: BoardPeriod, publication: Publication, scope: Scope
) -> MemberPage:
    """The members board as one page of the viewer's branch, ranked within it (a branch
    is small enough for one page); its exempt members are on the branch's own page."""
    if scope.branch_id is None:
        return MemberPage(span.key, [], 0, [], 0, 1, 1)
    board = branch_members(db, span, publication, scope.branch_id)
    return MemberPage(span.key, board.ranked, len(board.ranked), [], board.without_points, 1, 1, 0)


def board_lines(board: MemberBoard) -> list[MemberLine]:
    return [ranked.item for ranked in board.ranked] + board.exempt + board.unscored


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


class BoardsController(Controller):
    path = "/boards"
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def current(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        page: FromQuery[str | None] = None,
    ) -> Template:
        return self._members(
            request, db, rulebook, current_period(request), page_number(page), None
        )

    @get("/{period:str}", sync_to_thread=True)
    def members(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        period: FromPath[str],
        page: FromQuery[str | None] = None,
        revision: FromQuery[str | None] = None,
    ) -> Template:
        return self._members(request, db, rulebook, period, page_number(page), revision)

    @staticmethod
    def _members(
        request: Request[Any, Any, Any],
        db: Session,
        rulebook: Rulebook,
        period: str,
        page: int,
        revision: str | None,
    ) -> Template:
        span = checked_span(period)
        publication = publication_of(request, db, span, current_period(request), revision)
        scope = ranking_scope(request)
        if scope is None:
            board = town_member_page(request, db, span, publication, page)
        else:
            board = own_branch_page(db, span, publication, scope)
        stars, star_count = year_stars(request, rulebook, span, board.rows)
        return Template(
            "boards/members.html",
            context={
                "branch_scope": scope,
                "board": board,
                "rows": board.rows,
                "stars": stars,
                "max_stars": star_count,
                "linkable": points_links(request, board.lines),
                "exempt_count": board.exempt_members,
                "page": board.page,
                "pages": board.pages,
                **results_blocks(db),
                **publication_context(request, db, publication),
                **_nav(request, span),
            },
        )

    @get("/{period:str}/exempt", sync_to_thread=True)
    def exempt(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        period: FromPath[str],
        page: FromQuery[str | None] = None,
        revision: FromQuery[str | None] = None,
    ) -> Template:
        """The members board's exempt members with points, unranked, by member number:
        on pages of their own rather than under every page of the board."""
        span = checked_span(period)
        publication = publication_of(request, db, span, current_period(request), revision)
        board = town_exempt_page(request, db, span, publication, page_number(page))
        return Template(
            "boards/exempt.html",
            context={
                "board": board,
                "lines": board.lines,
                "linkable": points_links(request, board.lines),
                "page": board.page,
                "pages": board.pages,
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
        page: FromQuery[str | None] = None,
        revision: FromQuery[str | None] = None,
    ) -> Template:
        span = checked_span(period)
        publication = publication_of(request, db, span, current_period(request), revision)
        board = town_branch_page(db, span, publication, sort, page_number(page))
        top = (
            board.rows
            if board.page == 1
            else town_branch_page(db, span, publication, sort, 1, other_ranks=False).rows
        )
        return Template(
            "boards/branches.html",
            context={
                "rows": board.rows,
                "ranks": board.ranks,
                "sort": sort,
                "page": board.page,
                "pages": board.pages,
                "headline": _headline(rulebook, span),
                "group_chart": group_chart(db, rulebook, span),
                "top_chart": top_branches_chart(top, sort),
                **results_blocks(db),
                **publication_context(request, db, publication),
                **_nav(request, span),
            },
        )

    @get("/{period:str}/branches/{branch_id:str}", sync_to_thread=True)
    def branch_members(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        rulebook: Rules,
        period: FromPath[str],
        branch_id: FromPath[RecordId],
        revision: FromQuery[str | None] = None,
    ) -> Template:
        span = checked_span(period)
        branch: Branch = get_branch(db, branch_id)
        publication = publication_of(request, db, span, current_period(request), revision)
        board = branch_members(db, span, publication, branch_id)
        stars, star_count = year_stars(request, rulebook, span, board.ranked)
        chart, trend_months = trend_chart(db, branch_id, span)
        return Template(
            "boards/branch.html",
            context={
                "branch": branch,
                "board": board,
                "stars": stars,
                "max_stars": star_count,
                "linkable": points_links(request, board_lines(board)),
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
        publication = publication_of(request, db, span, current_period(request))
        scope = ranking_scope(request)
        if scope is None:
            board = town_members(db, span, publication)
        elif scope.branch_id is None:
            board = MemberBoard(span.key, [], [], [])
        else:
            board = branch_members(db, span, publication, scope.branch_id)
        branches = town_branches(db, span, publication)
        metric = _headline(rulebook, span)
        stars, star_count = year_stars(request, rulebook, span, board.ranked)
        return Template(
            "boards/print.html",
            context={
                "branch_scope": scope,
                "board": board,
                "branches": branches.ranked_by(metric),
                "metric": metric,
                "stars": stars,
                "max_stars": star_count,
                "publication": publication,
                "board_url": town_of(request).absolute_url(request, f"/boards/{span.key}"),
                "printed_on": town_date(request),
                **_nav(request, span),
            },
        )


def _headline(rulebook: Rulebook, span: BoardPeriod) -> str:
    """The metric the ruleset in force at the span's end names as the headline."""
    last = span.last
    day = date(int(last[:4]), int(last[5:7]), 1)
    ruleset = rulebook.in_force(day) or rulebook.latest
    return ruleset.headline_metric.value
