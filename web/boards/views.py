"""Boards: members in the town, branches, members within a branch; for a month, a
quarter (/boards/2026-Q3) or a year (/boards/2026); a print view for the notice board
and CSV / XLSX exports of every board. The town board's exempt members with points are
not ranked: they are listed on pages of their own (/boards/2026-07/exempt?page=2), and
the board's pages say how many there are.

A published month shows its stored board, its lines read a page at a time; an open
month the live one, marked as such. Quarter and year boards add the months' points.

A corrected month keeps every revision: the newest shows by default, an earlier one with
``?revision=N`` (marked as replaced), each with its digest and what changed from the
revision before. While a month's notice window is open, a signed-in member sees a link on
each line of the board to object to it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, TypeVar

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.boards.board import (
    BoardPeriod,
    BranchBoard,
    BranchMetric,
    MemberBoard,
    MemberLine,
    SpanKind,
    parse_board_period,
)
from service.boards.branch_pages import BranchPage, branch_page
from service.boards.exports import Table, branch_table, member_table, to_csv, to_xlsx
from service.boards.live import (
    branch_board,
    branch_trend,
    get_branch,
    max_stars,
    member_board,
    points_by_group,
    public_stars,
)
from service.boards.pages import (
    ExemptPage,
    MemberPage,
    exempt_page,
    exempt_page_of,
    member_page,
)
from service.kernel.errors import InvalidInput
from service.kernel.periods import shift_period
from service.persistence.models import Branch
from service.persistence.models import Publication as PublicationRow
from service.persistence.pagination import page_number
from service.persistence.types import utcnow
from service.publication.chain import publication_intact
from service.publication.diff import RevisionDiff, diff_revisions
from service.publication.stored import (
    PublishedCounts,
    PublishedHeader,
    PublishedMonth,
    RevisionInfo,
    published_branch_members,
    published_branch_page,
    published_counts,
    published_header,
    published_member_page,
    published_revision,
)
from service.scoring.charts import Chart, Datum, column_chart, horizontal_bars
from service.scoring.ranking import Ranked
from service.scoring.rules import Rulebook
from web.deps import Db, Rules, current_period, town_date
from web.guards import requires_login
from web.i18n import gettext as _

TOP_BRANCHES = 10
TREND_MONTHS = 12
Sort = Literal["total", "per_member", "participation"]

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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

    month: PublishedHeader | None
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


# --- what a stored revision's lines say, worked out once per revision ----------------

# A stored board never changes (the ORM refuses it), so what is worked out from its lines
# (its digest still holds, its counts) is kept per app for a while rather than re-read
# from every line on every page view: a city's board has 100,000 lines. A line changed
# behind the app's back shows as "does not hold" at the latest this long after.
STORED_CHECK_SECONDS = 300.0
V = TypeVar("V")


class StoredBoards:
    """Per app: results worked out from stored revisions, by publication and digest."""

    def __init__(self, seconds: float = STORED_CHECK_SECONDS) -> None:
        self.seconds = seconds
        self._entries: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._working: dict[tuple[Any, ...], threading.Lock] = {}

    def get(self, key: tuple[Any, ...], compute: Callable[[], V]) -> V:
        """The remembered value, or ``compute()``'s: worked out by one request at a time
        (the others wait for it rather than each re-reading every line)."""
        value: V
        with self._lock:
            found = self._entries.get(key)
            if found is not None and time.monotonic() - found[0] < self.seconds:
                value = found[1]
                return value
            working = self._working.setdefault(key, threading.Lock())
        with working:
            with self._lock:
                found = self._entries.get(key)
            if found is not None and time.monotonic() - found[0] < self.seconds:
                value = found[1]
                return value
            value = compute()
            with self._lock:
                if len(self._entries) > 256:
                    self._entries.clear()
                self._entries[key] = (time.monotonic(), value)
                self._working.pop(key, None)
        return value

    def intact(self, session: Session, publication: PublicationRow) -> bool:
        return self.get(
            ("intact", publication.id, publication.digest),
            lambda: publication_intact(session, publication),
        )

    def counts(self, session: Session, month: PublishedHeader) -> PublishedCounts:
        return self.get(
            ("counts", month.publication_id, month.digest),
            lambda: published_counts(session, month.publication_id),
        )


_stored_lock = threading.Lock()
STORED_BOARDS = "jifen_stored_boards"


def published_month(session: Session, period: str, *, now: datetime) -> PublishedHeader | None:
    """The newest revision of a month as the board pages show it: what the page says
    about it, the lines being read a page at a time. Whether its stored lines still
    hold is remembered per app (``StoredBoards``, handed over in ``session.info``)."""
    boards: StoredBoards | None = session.info.get(STORED_BOARDS)
    return published_header(
        session, period, None, now=now, check=boards.intact if boards is not None else None
    )


def stored_boards(request: Request[Any, Any, Any]) -> StoredBoards:
    state = request.app.state
    with _stored_lock:
        found = state.get("stored_boards")
        if found is None:
            found = StoredBoards()
            state["stored_boards"] = found
    boards: StoredBoards = found
    return boards


def _publication(
    request: Request[Any, Any, Any],
    db: Session,
    span: BoardPeriod,
    current: str,
    revision: int | None = None,
) -> Publication:
    """``revision`` (months only): show that revision of the month's stored board
    instead of the newest; 404 when the month has no such revision."""
    now = utcnow()
    boards = stored_boards(request)
    db.info[STORED_BOARDS] = boards
    published: list[str] = []
    still_open: list[str] = []
    month: PublishedHeader | None = None
    if span.kind is SpanKind.MONTH and revision is not None:
        month = published_header(db, span.key, revision, now=now, check=boards.intact)
        if month is None or span.key > current:
            raise NotFoundException()
        return Publication(month, (span.key,), ())
    if span.kind is SpanKind.MONTH:
        if span.key <= current:
            month = published_month(db, span.key, now=now)
            (published if month is not None else still_open).append(span.key)
        return Publication(month, tuple(published), tuple(still_open))
    # A quarter or a year adds live figures; the page says which months are published.
    for period in span.months:
        if period > current:
            break
        found = published_month(db, period, now=now)
        (published if found is not None else still_open).append(period)
    return Publication(None, tuple(published), tuple(still_open))


def revision_diff(db: Session, publication: Publication) -> RevisionDiff | None:
    """What changed from the revision before to the one shown (corrections only)."""
    month, before = publication.month, publication.replaces
    if month is None or before is None:
        return None
    return diff_revisions(db, month.period, before.revision, month.revision)


def cached_revision_diff(
    request: Request[Any, Any, Any], db: Session, publication: Publication
) -> RevisionDiff | None:
    """``revision_diff``, worked out once per pair of stored revisions."""
    month, before = publication.month, publication.replaces
    if month is None or before is None:
        return None
    return stored_boards(request).get(
        ("diff", before.digest, month.digest), lambda: revision_diff(db, publication)
    )


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
        "diff": cached_revision_diff(request, db, publication),
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


def board_lines(board: MemberBoard) -> list[MemberLine]:
    return [ranked.item for ranked in board.ranked] + board.exempt + board.unscored


def _stored(db: Session, publication: Publication) -> PublishedMonth:
    """The whole stored revision shown (prints and exports list every line)."""
    month = publication.month
    assert month is not None
    stored = published_revision(db, month.period, month.revision, now=utcnow())
    assert stored is not None
    return stored


def town_members(db: Session, span: BoardPeriod, publication: Publication) -> MemberBoard:
    """The whole members board (prints and exports)."""
    if publication.month is not None:
        return _stored(db, publication).members
    return member_board(db, span.key)


def town_member_page(
    request: Request[Any, Any, Any],
    db: Session,
    span: BoardPeriod,
    publication: Publication,
    page: int,
) -> MemberPage:
    """One page of the members board: stored lines of a published month, or live."""
    month = publication.month
    if month is not None:
        counts = stored_boards(request).counts(db, month)
        return published_member_page(db, month.publication_id, span.key, page, counts)
    return member_page(db, span.key, page)


def town_exempt_page(
    request: Request[Any, Any, Any],
    db: Session,
    span: BoardPeriod,
    publication: Publication,
    page: int,
) -> ExemptPage:
    """One page of the members board's exempt members with points: a published month's
    stored lines (read once per revision, as the board page's counts), or live."""
    month = publication.month
    if month is not None:
        return exempt_page_of(span.key, stored_boards(request).counts(db, month).exempt, page)
    return exempt_page(db, span.key, page)


def branch_members(
    db: Session, span: BoardPeriod, publication: Publication, branch_id: int
) -> MemberBoard:
    month = publication.month
    if month is not None:
        return published_branch_members(db, month.publication_id, span.key, branch_id)
    return member_board(db, span.key, branch_id=branch_id)


def town_branches(db: Session, span: BoardPeriod, publication: Publication) -> BranchBoard:
    """The whole branches board (prints and exports)."""
    if publication.month is not None:
        return _stored(db, publication).branches
    return branch_board(db, span.key)


def town_branch_page(
    db: Session,
    span: BoardPeriod,
    publication: Publication,
    metric: str,
    page: int,
    *,
    other_ranks: bool = True,
) -> BranchPage:
    """``other_ranks``: also the shown branches' ranks by the other metrics (a live
    board works them out from every branch's keys; a stored board has them)."""
    month = publication.month
    if month is not None:
        return published_branch_page(db, month.publication_id, span.key, metric, page)
    return branch_page(db, span.key, metric, page, other_ranks=other_ranks)


def year_stars(
    request: Request[Any, Any, Any],
    rulebook: Rulebook,
    span: BoardPeriod,
    ranked: Iterable[Ranked[MemberLine]],
) -> tuple[dict[int, int] | None, int]:
    """Stars show on year boards only (the thresholds are on the yearly score)."""
    if span.kind is not SpanKind.YEAR:
        return None, 0
    today = town_date(request)
    return (
        public_stars(ranked, rulebook, span.year, as_of=today),
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
        revision: FromQuery[int | None] = None,
    ) -> Template:
        return self._members(request, db, rulebook, period, page_number(page), revision)

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
        publication = _publication(request, db, span, current_period(request), revision)
        board = town_member_page(request, db, span, publication, page)
        stars, star_count = year_stars(request, rulebook, span, board.rows)
        return Template(
            "boards/members.html",
            context={
                "board": board,
                "rows": board.rows,
                "stars": stars,
                "max_stars": star_count,
                "linkable": points_links(request, board.lines),
                "exempt_count": board.exempt_members,
                "page": board.page,
                "pages": board.pages,
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
        revision: FromQuery[int | None] = None,
    ) -> Template:
        """The members board's exempt members with points, unranked, by member number:
        on pages of their own rather than under every page of the board."""
        span = checked_span(period)
        publication = _publication(request, db, span, current_period(request), revision)
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
        revision: FromQuery[int | None] = None,
    ) -> Template:
        span = checked_span(period)
        publication = _publication(request, db, span, current_period(request), revision)
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
        publication = _publication(request, db, span, current_period(request), revision)
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
        publication = _publication(request, db, span, current_period(request))
        board = town_members(db, span, publication)
        branches = town_branches(db, span, publication)
        metric = _headline(rulebook, span)
        stars, star_count = year_stars(request, rulebook, span, board.ranked)
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
        publication = _publication(request, db, span, current_period(request), revision)
        if branch_id is None:
            board = town_members(db, span, publication)
            filename = f"jifen-members-{span.key}"
        else:
            get_branch(db, branch_id)
            board = branch_members(db, span, publication, branch_id)
            filename = f"jifen-branch-{branch_id}-members-{span.key}"
        stars, _count = year_stars(request, rulebook, span, board.ranked)
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
        publication = _publication(request, db, span, current_period(request), revision)
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
