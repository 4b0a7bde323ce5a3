"""Meetings through the API: the meetings an account may see, scheduling one, and a
meeting's attendance (read; the organisers' tick). Each handler is one service call; the
services check who may act, as they do for the pages."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated

from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, PathParameter, QueryParameter

from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_, Message
from service.meetings.api import organiser_branch
from service.meetings.checkin import tick
from service.meetings.schedule import MeetingInput, schedule_meeting
from service.meetings.views import meeting_detail, meeting_list
from service.persistence.types import utcnow
from web.api.common import (
    CHANGE_SECURITY,
    CONFLICT,
    FORBIDDEN,
    ID_SCHEMA,
    MAX_ID,
    NOT_FOUND,
    READ_SECURITY,
    TOO_MANY_TOKENS,
    UNAUTHORIZED,
    UNPROCESSABLE,
    Limit,
    Offset,
)
from web.api.meeting_schemas import (
    AttendanceMark,
    AttendanceOut,
    AttendanceRowOut,
    MeetingOut,
    MeetingsPage,
    NewMeeting,
)
from web.deps import Actor, Db, RecordId, Rules

Strict = Body(media_type=RequestEncodingType.JSON, schema_extra={"additionalProperties": False})
MeetingId = Annotated[RecordId, PathParameter(description="The meeting's id.", **ID_SCHEMA)]
CHOOSE_BRANCH = N_("You organise meetings for more than one branch: name the branch.")


def _attendance(db: Db, principal: Actor, meeting_id: int) -> AttendanceOut:
    detail = meeting_detail(db, principal, meeting_id, now=utcnow())
    return AttendanceOut(
        meeting=MeetingOut.of(detail.summary),
        rows=[AttendanceRowOut.of(row) for row in detail.rows],
    )


class MeetingsApiController(Controller):
    path = "/meetings"
    tags = ["meetings"]  # noqa: RUF012 - Litestar's class attribute

    @get(
        "/",
        sync_to_thread=True,
        summary="Meetings I may see",
        description="By start, earliest first. A member sees the meetings they are expected "
        "at; secretaries, instructors and organisers their branches' meetings; the office "
        "every meeting. `branch_id` keeps one branch, `from` and `to` (town-local dates, "
        "both included) a span of days.",
        security=READ_SECURITY,
        responses={401: UNAUTHORIZED, 429: TOO_MANY_TOKENS, 403: FORBIDDEN},
    )
    def list_meetings(
        self,
        db: Db,
        principal: Actor,
        branch_id: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_ID, description="Only this branch's.")
        ] = None,
        day_from: Annotated[
            date | None, QueryParameter(name="from", description="On or after this day.")
        ] = None,
        day_to: Annotated[
            date | None, QueryParameter(name="to", description="On or before this day.")
        ] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> MeetingsPage:
        result = meeting_list(
            db,
            principal,
            branch_id=branch_id,
            day_from=day_from,
            day_to=day_to,
            limit=limit,
            offset=offset,
        )
        return MeetingsPage(
            items=[MeetingOut.of(item) for item in result.items],
            total=result.total,
            limit=result.limit,
            offset=result.offset,
            next_offset=result.next_offset,
        )

    @post(
        "/",
        sync_to_thread=True,
        summary="Schedule a meeting",
        description="For the organisers of the branch (its secretary, the committee members "
        "the secretary names, the office), with the web form's checks: a type the rules in "
        "force name, a title, the end after the start, a day not in a published month; a "
        "party group of the branch, or members of the branch. The members expected are "
        "fixed now. Needs an API token.",
        security=CHANGE_SECURITY,
        status_code=201,
        responses={401: UNAUTHORIZED, 429: TOO_MANY_TOKENS, 403: FORBIDDEN, 422: UNPROCESSABLE},
    )
    def create_meeting(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        data: Annotated[NewMeeting, Strict],
    ) -> MeetingOut:
        branch_id = organiser_branch(db, principal, data.branch_id)
        if branch_id is None:
            raise InvalidInput({"branch_id": Message(CHOOSE_BRANCH)})
        start, end = time.fromisoformat(data.start), time.fromisoformat(data.end)
        meeting = schedule_meeting(
            db,
            principal,
            rulebook,
            MeetingInput(
                branch_id=branch_id,
                kind=data.kind,
                title=data.title.strip(),
                day=data.day,
                start=start,
                end=end,
                place=data.place.strip(),
                online=data.online,
                agenda=data.agenda.strip(),
                audience=data.audience,
                party_group_id=data.party_group_id,
                member_ids=tuple(data.member_ids),
            ),
            now=utcnow(),
        )
        return MeetingOut.of(meeting_detail(db, principal, meeting.id, now=utcnow()).summary)

    @get(
        "/{meeting_id:str}/attendance",
        sync_to_thread=True,
        summary="A meeting's attendance",
        description="Leave, check-in and (once closed) the outcome of each member expected: "
        "every row for the organisers, secretary, instructors and the office; a member "
        "expected sees their own row. 404 for anyone else, as for a missing meeting.",
        security=READ_SECURITY,
        responses={401: UNAUTHORIZED, 429: TOO_MANY_TOKENS, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def attendance(self, db: Db, principal: Actor, meeting_id: MeetingId) -> AttendanceOut:
        return _attendance(db, principal, meeting_id)

    @post(
        "/{meeting_id:str}/attendance",
        sync_to_thread=True,
        summary="Mark a member present or not (the organiser's tick)",
        description="As on the attendance list: an organiser of the branch ticks a member "
        "expected (no phone, a paper sign-in sheet), recorded as by the secretary; "
        "`present: false` takes a check-in back. From when check-in opens until the "
        "meeting is closed; nobody ticks themselves (409). Answers the attendance as it "
        "now stands. Needs an API token.",
        security=CHANGE_SECURITY,
        status_code=200,
        responses={
            401: UNAUTHORIZED,
            429: TOO_MANY_TOKENS,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: CONFLICT,
            422: UNPROCESSABLE,
        },
    )
    def mark(
        self,
        db: Db,
        principal: Actor,
        rulebook: Rules,
        meeting_id: MeetingId,
        data: Annotated[AttendanceMark, Strict],
    ) -> AttendanceOut:
        tick(
            db,
            principal,
            rulebook,
            meeting_id,
            data.member_id,
            present=data.present,
            now=utcnow(),
        )
        return _attendance(db, principal, meeting_id)
