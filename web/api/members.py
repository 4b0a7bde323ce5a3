"""Members through the API: the reviewers' lists of their branches' members, and one
member with this month's points and rank."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import PathParameter, QueryParameter

from service.overview.api import member_detail, visible_members
from web.api.common import (
    FORBIDDEN,
    ID_SCHEMA,
    MAX_ID,
    MONTH_PATTERN,
    NOT_FOUND,
    READ_SECURITY,
    TOO_MANY_TOKENS,
    UNAUTHORIZED,
    Limit,
    Offset,
)
from web.api.schemas import NO_NUL, MemberDetailOut, MemberOut, MembersPage
from web.deps import Actor, Db, RecordId, current_period, sees_town_ranks

MemberId = Annotated[RecordId, PathParameter(description="The member's id.", **ID_SCHEMA)]


class MembersApiController(Controller):
    path = "/members"
    tags = ["members"]  # noqa: RUF012 - Litestar's class attribute

    @get(
        "/",
        sync_to_thread=True,
        summary="Members of the branches I oversee",
        description="By member number. A secretary or instructor sees the members of their "
        "branches, the office every member; members who only declare entries get 403. "
        "`q` matches the member number or name; `branch_id` keeps one branch (403 for a "
        "branch not overseen).",
        security=READ_SECURITY,
        responses={401: UNAUTHORIZED, 429: TOO_MANY_TOKENS, 403: FORBIDDEN},
    )
    def list_members(
        self,
        db: Db,
        principal: Actor,
        q: Annotated[
            str | None,
            QueryParameter(
                max_length=60, pattern=NO_NUL, description="Part of a member number or name."
            ),
        ] = None,
        branch_id: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_ID, description="Only this branch's members.")
        ] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> MembersPage:
        result = visible_members(
            db, principal, query=q or "", branch_id=branch_id, limit=limit, offset=offset
        )
        return MembersPage(
            items=[MemberOut.of(member) for member in result.items],
            total=result.total,
            limit=result.limit,
            offset=result.offset,
            next_offset=result.next_offset,
        )

    @get(
        "/{member_id:str}",
        sync_to_thread=True,
        summary="One member, with the month's points and town-wide rank",
        description="For the member, the reviewers of the member's branch and the office "
        "(the same people who see the member's points page); 403 for anyone else. The "
        "month is the current one unless `period` names another. Where the town hides "
        "town-wide ranks from members (JIFEN_HIDE_TOWN_RANKINGS), a member gets no rank.",
        security=READ_SECURITY,
        responses={401: UNAUTHORIZED, 429: TOO_MANY_TOKENS, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def get_member(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        principal: Actor,
        member_id: MemberId,
        period: Annotated[
            str | None, QueryParameter(pattern=MONTH_PATTERN, description="A month, YYYY-MM.")
        ] = None,
    ) -> MemberDetailOut:
        detail = member_detail(db, principal, member_id, period=period or current_period(request))
        if not sees_town_ranks(request):
            # The town hides town-wide ranks from members (JIFEN_HIDE_TOWN_RANKINGS).
            detail = replace(detail, rank=None, tied=False)
        return MemberDetailOut.of_detail(detail)
