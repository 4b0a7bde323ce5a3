"""JSON for integrations: who I am, and the month boards. Points are decimal strings
with one place ("12.5"): exact, never floats.

Every status an operation can answer with is in the OpenAPI schema (``responses=``), with
the error body web/errors.py sends under /api; tests/functional/test_api_schemathesis.py
holds the API to it. The other operations are in entries.py and members.py; all are
mounted under /api by web/api/__init__.py, which also sets their guard.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter
from pydantic import BaseModel, Field

from service.boards.board import MemberBoard
from service.boards.live import branch_board, member_board
from service.boards.pages import board_counts, member_standing
from service.kernel.periods import PERIOD_REGEX
from web.api.common import READ_SECURITY, TOO_MANY_TOKENS, UNAUTHORIZED, ApiError
from web.deps import Actor, Db, checked_period, current_period, sees_town_ranks

# A month key. Only documented, not enforced by Litestar: the handler answers any other
# text with 404 (no such board), as it always has, rather than a 400.
PERIOD_PATTERN = PERIOD_REGEX
Period = Annotated[
    str,
    PathParameter(
        description="A month, YYYY-MM.",
        schema_extra={"pattern": PERIOD_PATTERN, "examples": ["2026-11"]},
    ),
]


NO_SUCH_MONTH = ResponseSpec(
    data_container=ApiError,
    description="Not a month (YYYY-MM).",
    generate_examples=False,
)


class MemberRef(BaseModel):
    id: int
    name: str
    branch_id: int | None
    branch_name: str | None


class MonthStanding(BaseModel):
    period: str = Field(examples=["2026-11"])
    points: str = Field(description="Points this month, one decimal place.", examples=["12.5"])
    rank: int | None = Field(
        description="Town-wide rank; null when not ranked (no points), or when the town "
        "hides town-wide ranks from members (JIFEN_HIDE_TOWN_RANKINGS)."
    )
    ranked_members: int
    branch_rank: int | None = Field(
        default=None, description="Rank within the member's branch; null when not ranked."
    )


class Me(BaseModel):
    username: str
    display_name: str
    roles: list[str]
    member: MemberRef | None
    month: MonthStanding | None


class MemberRow(BaseModel):
    rank: int
    tied: bool
    member_id: int
    name: str
    branch_id: int
    branch_name: str
    points: str


class MembersBoard(BaseModel):
    period: str
    scope: str = Field(
        default="town",
        description="town: every member ranked town-wide. branch: the town hides town-wide "
        "ranks from members (JIFEN_HIDE_TOWN_RANKINGS), so a member gets their own "
        "branch's members ranked within it.",
    )
    tie_order: str = "member code ascending"
    members: list[MemberRow]
    exempt: list[MemberRow] = Field(description="Exempt members, listed apart; rank is 0.")


class BranchRow(BaseModel):
    branch_id: int
    code: str
    name: str
    kind: str
    total: str
    members: int
    per_member: str
    participation_percent: str
    rank_total: int
    rank_per_member: int


class BranchesBoard(BaseModel):
    period: str
    tie_order: str = "branch code ascending"
    branches: list[BranchRow]


class ApiController(Controller):
    path = "/"
    tags = ["me and boards"]  # noqa: RUF012 - Litestar's class attribute

    @get(
        "/me",
        sync_to_thread=True,
        summary="Who I am, with my points and rank this month",
        security=READ_SECURITY,
        responses={401: UNAUTHORIZED, 429: TOO_MANY_TOKENS},
    )
    def me(self, request: Request[Any, Any, Any], db: Db, principal: Actor) -> Me:
        member = None
        month = None
        if principal.member_id is not None:
            member = MemberRef(
                id=principal.member_id,
                name=principal.display_name,
                branch_id=principal.member_branch_id,
                branch_name=principal.member_branch_name,
            )
            period = current_period(request)
            # The member's line and rank by index, and the board's count (board_count):
            # the town board of the month is not built for one member.
            standing = member_standing(db, period, principal.member_id)
            in_branch = (
                None
                if principal.member_branch_id is None
                else member_board(db, period, branch_id=principal.member_branch_id).standing(
                    principal.member_id
                )
            )
            month = MonthStanding(
                period=period,
                points=f"{standing.item.points:.1f}" if standing else "0.0",
                rank=standing.rank if standing and sees_town_ranks(request) else None,
                ranked_members=board_counts(db, period).ranked,
                branch_rank=in_branch.rank if in_branch else None,
            )
        return Me(
            username=principal.username,
            display_name=principal.display_name,
            roles=principal.role_names,
            member=member,
            month=month,
        )

    @get(
        "/boards/{period:str}/members",
        sync_to_thread=True,
        summary="Members ranked town-wide for a month (YYYY-MM)",
        description="Where the town hides town-wide ranks from members "
        "(JIFEN_HIDE_TOWN_RANKINGS), a member gets their own branch's members ranked "
        "within it (`scope`: branch).",
        security=READ_SECURITY,
        responses={401: UNAUTHORIZED, 429: TOO_MANY_TOKENS, 404: NO_SUCH_MONTH},
    )
    def board_members(
        self, request: Request[Any, Any, Any], db: Db, principal: Actor, period: Period
    ) -> MembersBoard:
        month = checked_period(period)
        scope = "town"
        if sees_town_ranks(request):
            board = member_board(db, month)
        else:
            # The town hides the town-wide ranking from members: their branch's.
            scope = "branch"
            branch_id = principal.member_branch_id
            board = (
                member_board(db, month, branch_id=branch_id)
                if branch_id is not None
                else MemberBoard(month, [], [], [])
            )

        def row(rank: int, tied: bool, line: Any) -> MemberRow:
            return MemberRow(
                rank=rank,
                tied=tied,
                member_id=line.member_id,
                name=line.name,
                branch_id=line.branch_id,
                branch_name=line.branch_name,
                points=f"{line.points:.1f}",
            )

        return MembersBoard(
            period=board.period,
            scope=scope,
            members=[row(r.rank, r.tied, r.item) for r in board.ranked],
            exempt=[row(0, False, line) for line in board.exempt],
        )

    @get(
        "/boards/{period:str}/branches",
        sync_to_thread=True,
        summary="Branches ranked by total and per member for a month (YYYY-MM)",
        security=READ_SECURITY,
        responses={401: UNAUTHORIZED, 429: TOO_MANY_TOKENS, 404: NO_SUCH_MONTH},
    )
    def board_branches(self, db: Db, period: Period) -> BranchesBoard:
        board = branch_board(db, checked_period(period))
        per_member_rank = {r.item.branch_id: r.rank for r in board.by_per_member}
        return BranchesBoard(
            period=board.period,
            branches=[
                BranchRow(
                    branch_id=r.item.branch_id,
                    code=r.item.code,
                    name=r.item.name,
                    kind=r.item.kind.value,
                    total=f"{r.item.total:.1f}",
                    members=r.item.members,
                    per_member=f"{r.item.per_member:.2f}",
                    participation_percent=f"{r.item.participation:.1f}",
                    rank_total=r.rank,
                    rank_per_member=per_member_rank[r.item.branch_id],
                )
                for r in board.by_total
            ],
        )
