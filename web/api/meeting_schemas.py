"""The JSON shapes of meetings and their attendance, with the OpenAPI examples."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, cast

from annotated_types import Interval
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.persistence.meetings import (
    Audience,
    CheckinMethod,
    LeaveStatus,
    MeetingStatus,
    Outcome,
)
from web.api.common import PageInfo
from web.api.schemas import NO_NUL
from web.i18n import render

TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
KIND_PATTERN = r"^[a-z_]{1,16}$"
Title = Annotated[str, StringConstraints(min_length=1, max_length=120, pattern=NO_NUL)]
Place = Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)]
Agenda = Annotated[str, StringConstraints(max_length=4000, pattern=NO_NUL)]
Clock = Annotated[str, StringConstraints(pattern=TIME_PATTERN)]
Kind = Annotated[str, StringConstraints(pattern=KIND_PATTERN)]


def _strict(example: dict[str, Any]) -> ConfigDict:
    """Unknown fields refused (400); ``example`` is the key Litestar's schema reads."""
    return cast(ConfigDict, {"extra": "forbid", "example": example})


class NewMeeting(BaseModel):
    """A meeting to schedule, checked as the web form checks it."""

    model_config = _strict(
        {
            "kind": "theme_day",
            "title": "12月主题党日:学习贯彻全会精神",
            "day": "2026-12-12",
            "start": "09:00",
            "end": "11:00",
            "place": "金湾园区党群服务中心",
            "online": False,
            "agenda": "一、集体学习;二、志愿服务",
            "audience": "branch",
        }
    )

    branch_id: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The branch; may be left out by an account that organises one branch.",
        examples=[3],
    )
    kind: Kind = Field(
        description="The meeting type (congress, committee, group, lecture, theme_day, "
        "activity): one the rules in force on `day` name.",
        examples=["theme_day"],
    )
    title: Title = Field(examples=["12月主题党日"])
    day: date = Field(description="The town-local date.", examples=["2026-12-12"])
    start: Clock = Field(description="Town-local start, HH:MM.", examples=["09:00"])
    end: Clock = Field(description="Town-local end, HH:MM, after the start.", examples=["11:00"])
    place: Place = Field(default="", examples=["金湾园区党群服务中心"])
    online: bool = Field(default=False, examples=[False])
    agenda: Agenda = Field(default="", examples=["一、集体学习;二、志愿服务"])
    audience: Audience = Field(
        default=Audience.BRANCH,
        description="Who is expected: the whole branch, one party group "
        "(`party_group_id`) or a list (`member_ids`).",
        examples=["branch"],
    )
    party_group_id: int | None = Field(default=None, ge=1, le=2**31 - 1, examples=[None])
    member_ids: list[Annotated[int, Interval(ge=1, le=2**31 - 1)]] = Field(
        default_factory=list, max_length=2000, examples=[[]]
    )


class MeetingOut(BaseModel):
    id: int = Field(examples=[81])
    branch_id: int = Field(examples=[3])
    branch_name: str = Field(examples=["金湾工业园区联合党支部"])
    kind: str = Field(examples=["theme_day"])
    kind_label: str = Field(description="The type in the reader's language.", examples=["主题党日"])
    title: str = Field(examples=["12月主题党日"])
    starts_at: datetime = Field(examples=["2026-12-12T01:00:00Z"])
    ends_at: datetime = Field(examples=["2026-12-12T03:00:00Z"])
    day: str = Field(description="Town-local date.", examples=["2026-12-12"])
    start: str = Field(description="Town-local start.", examples=["09:00"])
    end: str = Field(description="Town-local end.", examples=["11:00"])
    place: str = Field(examples=["金湾园区党群服务中心"])
    online: bool = Field(examples=[False])
    status: MeetingStatus = Field(examples=["scheduled"])
    makeup_of_id: int | None = Field(
        description="For a make-up session (补课): the meeting it makes up.", examples=[None]
    )
    invitee_count: int = Field(description="Members expected.", examples=[8])

    @classmethod
    def of(cls, summary: Any) -> MeetingOut:
        return cls(
            id=summary.id,
            branch_id=summary.branch_id,
            branch_name=summary.branch_name,
            kind=summary.kind,
            kind_label=render(summary.kind_label),
            title=summary.title,
            starts_at=summary.starts_at,
            ends_at=summary.ends_at,
            day=str(summary.day),
            start=str(summary.start),
            end=str(summary.end),
            place=summary.place,
            online=summary.online,
            status=summary.status,
            makeup_of_id=summary.makeup_of_id,
            invitee_count=summary.invitee_count,
        )


class MeetingsPage(PageInfo):
    items: list[MeetingOut]


class AttendanceRowOut(BaseModel):
    member_id: int = Field(examples=[17])
    member_name: str = Field(examples=["张伟"])
    leave_status: LeaveStatus | None = Field(
        description="The member's leave request, if any.", examples=[None]
    )
    checked_in_at: datetime | None = Field(examples=["2026-12-12T00:52:10Z"])
    method: CheckinMethod | None = Field(
        description="`code`: scanned the screen's code; `secretary`: ticked on the list.",
        examples=["code"],
    )
    outcome: Outcome | None = Field(
        description="Once the meeting is closed: attended, leave, absent or made_up.",
        examples=[None],
    )

    @classmethod
    def of(cls, row: Any) -> AttendanceRowOut:
        return cls(
            member_id=row.member_id,
            member_name=row.member_name,
            leave_status=row.leave_status,
            checked_in_at=row.checked_in_at,
            method=row.method,
            outcome=row.outcome,
        )


class AttendanceOut(BaseModel):
    meeting: MeetingOut
    rows: list[AttendanceRowOut] = Field(
        description="Every member expected for the organisers, secretaries, instructors and "
        "the office; a member sees their own row."
    )


class AttendanceMark(BaseModel):
    model_config = _strict({"member_id": 17, "present": True})

    member_id: int = Field(ge=1, le=2**31 - 1, examples=[17])
    present: bool = Field(
        description="true: present, ticked by the organiser (members without a phone, a "
        "paper sheet); false: takes the tick back.",
        examples=[True],
    )
