"""Live month boards: members in the town, branches, members within a branch."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.orm import Session

from service.accounts import Principal
from service.boards import MemberBoard, branch_board, get_branch, member_board
from service.config import Settings
from service.errors import InvalidInput
from service.periods import parse_period, period_of, shift_period, town_today
from service.types import utcnow
from web.auth import requires_login
from web.deps import Db

PAGE_SIZE = 50


def current_period(request: Request[Any, Any, Any]) -> str:
    settings: Settings = request.app.state.settings
    return period_of(town_today(utcnow(), settings.timezone))


def checked_period(period: FromPath[str]) -> str:
    try:
        return parse_period(period)
    except InvalidInput as exc:
        raise NotFoundException() from exc


def _nav(request: Request[Any, Any, Any], period: FromPath[str]) -> dict[str, Any]:
    return {
        "period": period,
        "previous_period": shift_period(period, -1),
        "next_period": shift_period(period, 1),
        "is_current": period == current_period(request),
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


class BoardsController(Controller):
    path = "/boards"
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def current(
        self, request: Request[Any, Any, Any], db: Db, page: FromQuery[int] = 1
    ) -> Template:
        return self._members(request, db, current_period(request), page)

    @get("/{period:str}", sync_to_thread=True)
    def members(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        period: FromPath[str],
        page: FromQuery[int] = 1,
    ) -> Template:
        return self._members(request, db, checked_period(period), page)

    @staticmethod
    def _members(request: Request[Any, Any, Any], db: Session, period: str, page: int) -> Template:
        board = member_board(db, period)
        rows, page, pages = _page(board.ranked, page)
        return Template(
            "boards/members.html",
            context={
                "board": board,
                "rows": rows,
                "linkable": points_links(request, board),
                "page": page,
                "pages": pages,
                **_nav(request, period),
            },
        )

    @get("/{period:str}/branches", sync_to_thread=True)
    def branches(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        period: FromPath[str],
        sort: FromQuery[Literal["total", "per_member"]] = "total",
        page: FromQuery[int] = 1,
    ) -> Template:
        period = checked_period(period)
        board = branch_board(db, period)
        ranked = board.by_total if sort == "total" else board.by_per_member
        other = board.by_per_member if sort == "total" else board.by_total
        other_rank = {r.item.branch_id: r.rank for r in other}
        rows, page, pages = _page(ranked, page)
        return Template(
            "boards/branches.html",
            context={
                "rows": rows,
                "other_rank": other_rank,
                "sort": sort,
                "page": page,
                "pages": pages,
                **_nav(request, period),
            },
        )

    @get("/{period:str}/branches/{branch_id:int}", sync_to_thread=True)
    def branch_members(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        period: FromPath[str],
        branch_id: FromPath[int],
    ) -> Template:
        period = checked_period(period)
        branch = get_branch(db, branch_id)
        board = member_board(db, period, branch_id=branch_id)
        return Template(
            "boards/branch.html",
            context={
                "branch": branch,
                "board": board,
                "linkable": points_links(request, board),
                **_nav(request, period),
            },
        )
