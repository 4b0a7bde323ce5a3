"""What the pages show of meetings: lists, one meeting with its attendance, the home page's
next meetings. Reads only.

Times are shown town-local: the view functions take the town's ``timezone`` (the
ruleset's; the default is the demo town's). Members see the meetings they are expected
at and, of the attendance, only their own row; organisers, the branch's secretaries and
instructors and the office see the branch's meetings and every row (leave reasons only
to organisers and the member who asked).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.i18n import N_, Message
from service.meetings.access import is_organiser, organised_branch_ids, visible_meeting
from service.persistence.meetings import (
    CheckinMethod,
    LeaveStatus,
    Meeting,
    MeetingAttendance,
    MeetingInvitee,
    MeetingLeave,
    MeetingStatus,
    Outcome,
)
from service.persistence.models import Branch, Member, Role
from service.persistence.pagination import Page, page_bounds
from service.publication.state import is_frozen
from service.scoring.rules import MeetingType, Rulebook

DEFAULT_TIMEZONE = "Asia/Shanghai"
PAGE_SIZE = 20
HOME_DAYS = 14

KIND_LABELS: dict[str, str] = {
    MeetingType.CONGRESS: N_("Branch general meeting"),
    MeetingType.COMMITTEE: N_("Branch committee meeting"),
    MeetingType.GROUP: N_("Party group meeting"),
    MeetingType.LECTURE: N_("Party lecture"),
    MeetingType.THEME_DAY: N_("Theme party day"),
    MeetingType.ACTIVITY: N_("Other branch activity"),
}
OUTCOME_LABELS: dict[str, str] = {
    Outcome.ATTENDED: N_("attended"),
    Outcome.LEAVE: N_("on leave"),
    Outcome.ABSENT: N_("absent without leave"),
    Outcome.MADE_UP: N_("made up"),
}
LEAVE_LABELS: dict[str, str] = {
    LeaveStatus.PENDING: N_("leave asked"),
    LeaveStatus.GRANTED: N_("leave granted"),
    LeaveStatus.DECLINED: N_("leave declined"),
    LeaveStatus.WITHDRAWN: N_("leave withdrawn"),
}
STATUS_LABELS: dict[str, str] = {
    MeetingStatus.SCHEDULED: N_("scheduled"),
    MeetingStatus.CLOSED: N_("closed"),
    MeetingStatus.CANCELLED: N_("cancelled"),
}


def kind_label(kind: str) -> Message:
    """The meeting type in words (unknown types: as stored)."""
    return Message(KIND_LABELS.get(kind, kind))


@dataclass(frozen=True)
class MeetingSummary:
    id: int
    branch_id: int
    branch_name: str
    kind: str
    kind_label: Message
    title: str
    starts_at: datetime
    ends_at: datetime
    day: str  # town-local, YYYY-MM-DD
    start: str  # town-local, HH:MM
    end: str
    place: str
    online: bool
    status: MeetingStatus
    makeup_of_id: int | None
    invitee_count: int
    my_leave_status: LeaveStatus | None  # the actor's own leave request, if any
    my_outcome: Outcome | None  # the actor's own outcome once closed
    checked_in: bool  # the actor checked in (or was ticked)
    expected: bool = False  # the actor is expected at it


@dataclass(frozen=True)
class AttendanceRow:
    member_id: int
    member_code: str
    member_name: str
    checked_in_at: datetime | None
    method: CheckinMethod | None
    leave_id: int | None
    leave_status: LeaveStatus | None
    leave_reason: str | None  # only for organisers and the member
    leave_answer: str | None  # the decision's reason, same audience
    outcome: Outcome | None


@dataclass(frozen=True)
class MeetingDetail:
    summary: MeetingSummary
    agenda: str
    minutes: str | None
    cancel_reason: str | None
    rows: list[AttendanceRow]
    can_edit: bool
    can_close: bool
    can_request_leave: bool
    can_withdraw_leave: bool
    can_decide_leave: bool
    can_checkin_screen: bool
    can_amend: bool
    can_makeup: bool
    checkin_opens: datetime | None  # with a rulebook: the rules' check-in window
    checkin_closes: datetime | None
    my_leave_id: int | None = None
    my_leave_reason: str | None = None
    my_leave_answer: str | None = None


def checkin_window_of(meeting: Meeting, rulebook: Rulebook) -> tuple[datetime, datetime]:
    """From ``checkin_opens_before_minutes`` before the start to
    ``checkin_closes_after_minutes`` after it, under the ruleset in force on its day."""
    ruleset = rulebook.in_force(meeting.day) or rulebook.rulesets[0]
    policy = ruleset.meetings
    return (
        meeting.starts_at - timedelta(minutes=policy.checkin_opens_before_minutes),
        meeting.starts_at + timedelta(minutes=policy.checkin_closes_after_minutes),
    )


def _summaries(
    session: Session, actor: Principal, meetings: Iterable[Meeting], timezone: str
) -> list[MeetingSummary]:
    meetings = list(meetings)
    if not meetings:
        return []
    ids = [m.id for m in meetings]
    zone = ZoneInfo(timezone)
    names = {
        row[0]: row[1]
        for row in session.execute(
            select(Branch.id, Branch.name).where(Branch.id.in_({m.branch_id for m in meetings}))
        )
    }
    counts = {
        row[0]: row[1]
        for row in session.execute(
            select(MeetingInvitee.meeting_id, func.count())
            .where(MeetingInvitee.meeting_id.in_(ids))
            .group_by(MeetingInvitee.meeting_id)
        )
    }
    expected: set[int] = set()
    leaves: dict[int, LeaveStatus] = {}
    rows: dict[int, tuple[Outcome | None, bool]] = {}
    if actor.member_id is not None:
        expected = set(
            session.scalars(
                select(MeetingInvitee.meeting_id).where(
                    MeetingInvitee.meeting_id.in_(ids), MeetingInvitee.member_id == actor.member_id
                )
            )
        )
        for meeting_id, status in session.execute(
            select(MeetingLeave.meeting_id, MeetingLeave.status).where(
                MeetingLeave.meeting_id.in_(ids), MeetingLeave.member_id == actor.member_id
            )
        ):
            leaves[meeting_id] = status
        for meeting_id, outcome, checked_at in session.execute(
            select(
                MeetingAttendance.meeting_id,
                MeetingAttendance.outcome,
                MeetingAttendance.checked_in_at,
            ).where(
                MeetingAttendance.meeting_id.in_(ids),
                MeetingAttendance.member_id == actor.member_id,
            )
        ):
            rows[meeting_id] = (outcome, checked_at is not None)
    out = []
    for m in meetings:
        outcome, checked = rows.get(m.id, (None, False))
        starts = m.starts_at.astimezone(zone)
        out.append(
            MeetingSummary(
                id=m.id,
                branch_id=m.branch_id,
                branch_name=names.get(m.branch_id, ""),
                kind=m.kind,
                kind_label=kind_label(m.kind),
                title=m.title,
                starts_at=m.starts_at,
                ends_at=m.ends_at,
                day=starts.date().isoformat(),
                start=starts.strftime("%H:%M"),
                end=m.ends_at.astimezone(zone).strftime("%H:%M"),
                place=m.place,
                online=m.online,
                status=m.status,
                makeup_of_id=m.makeup_of_id,
                invitee_count=counts.get(m.id, 0),
                my_leave_status=leaves.get(m.id),
                my_outcome=outcome,
                checked_in=checked,
                expected=m.id in expected,
            )
        )
    return out


def summary_of(
    session: Session, actor: Principal, meeting: Meeting, *, timezone: str = DEFAULT_TIMEZONE
) -> MeetingSummary:
    return _summaries(session, actor, [meeting], timezone)[0]


def _visible_condition(session: Session, actor: Principal) -> Any:
    """The meetings the actor sees in lists (None: every meeting)."""
    if actor.is_admin:
        return None
    branches = set(actor.branches_with(Role.SECRETARY, Role.INSTRUCTOR))
    organised = organised_branch_ids(session, actor) or frozenset()
    branches |= organised
    conditions: list[Any] = []
    if branches:
        conditions.append(Meeting.branch_id.in_(sorted(branches)))
    if actor.member_id is not None:
        conditions.append(
            Meeting.id.in_(
                select(MeetingInvitee.meeting_id).where(MeetingInvitee.member_id == actor.member_id)
            )
        )
    if not conditions:
        return Meeting.id.is_(None)  # nothing
    return or_(*conditions)


def meetings_for(
    session: Session,
    actor: Principal,
    *,
    scope: Literal["upcoming", "past"] = "upcoming",
    branch_id: int | None = None,
    page: int = 1,
    now: datetime | None = None,
    timezone: str = DEFAULT_TIMEZONE,
    size: int = PAGE_SIZE,
) -> Page[MeetingSummary]:
    """The meetings the actor sees: upcoming (not yet ended, soonest first) or past
    (ended, latest first); the office may narrow to one branch (so may anyone)."""
    now = now or datetime.now(UTC)
    conditions: list[Any] = []
    visible = _visible_condition(session, actor)
    if visible is not None:
        conditions.append(visible)
    if branch_id is not None:
        conditions.append(Meeting.branch_id == branch_id)
    order: tuple[Any, ...]
    if scope == "past":
        conditions.append(Meeting.ends_at < now)
        order = (Meeting.starts_at.desc(), Meeting.id.desc())
    else:
        conditions.append(Meeting.ends_at >= now)
        order = (Meeting.starts_at, Meeting.id)
    total = session.scalar(select(func.count()).select_from(Meeting).where(*conditions)) or 0
    pages, page = page_bounds(total, page, size)
    meetings = session.scalars(
        select(Meeting).where(*conditions).order_by(*order).limit(size).offset((page - 1) * size)
    )
    items = _summaries(session, actor, meetings, timezone)
    return Page(items=items, total=total, page=page, pages=pages, size=size)


def home_meetings(
    session: Session, actor: Principal, *, now: datetime, timezone: str = DEFAULT_TIMEZONE
) -> list[MeetingSummary]:
    """The next 14 days' scheduled meetings the actor is expected at or organises, and,
    for organisers, meetings that ended but are not closed yet (first)."""
    conditions: list[Any] = []
    organised = organised_branch_ids(session, actor)
    if organised is None:
        conditions.append(Meeting.id.is_not(None))
    elif organised:
        conditions.append(Meeting.branch_id.in_(sorted(organised)))
    if actor.member_id is not None:
        conditions.append(
            Meeting.id.in_(
                select(MeetingInvitee.meeting_id).where(MeetingInvitee.member_id == actor.member_id)
            )
        )
    if not conditions:
        return []
    soon = session.scalars(
        select(Meeting)
        .where(
            or_(*conditions),
            Meeting.status == MeetingStatus.SCHEDULED,
            Meeting.ends_at >= now,
            Meeting.starts_at <= now + timedelta(days=HOME_DAYS),
        )
        .order_by(Meeting.starts_at, Meeting.id)
        .limit(50)
    )
    unclosed: Iterable[Meeting] = []
    if organised is None or organised:
        query = select(Meeting).where(
            Meeting.status == MeetingStatus.SCHEDULED, Meeting.ends_at < now
        )
        if organised is not None:
            query = query.where(Meeting.branch_id.in_(sorted(organised)))
        unclosed = list(session.scalars(query.order_by(Meeting.starts_at, Meeting.id).limit(50)))
    return _summaries(session, actor, [*unclosed, *soon], timezone)


def meeting_detail(
    session: Session,
    actor: Principal,
    meeting_id: int,
    *,
    now: datetime,
    rulebook: Rulebook | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> MeetingDetail:
    """One meeting with its attendance and what the actor may do with it (NotFound for
    a stranger)."""
    meeting = visible_meeting(session, actor, meeting_id)
    summary = summary_of(session, actor, meeting, timezone=timezone)
    organiser = is_organiser(session, actor, meeting.branch_id)
    overseer = organiser or meeting.branch_id in actor.branches_with(
        Role.SECRETARY, Role.INSTRUCTOR
    )
    query = (
        select(
            Member.id,
            Member.code,
            Member.name,
            MeetingAttendance.checked_in_at,
            MeetingAttendance.method,
            MeetingAttendance.outcome,
            MeetingLeave.id,
            MeetingLeave.status,
            MeetingLeave.reason,
            MeetingLeave.decision_reason,
        )
        .select_from(MeetingInvitee)
        .join(Member, Member.id == MeetingInvitee.member_id)
        .outerjoin(
            MeetingAttendance,
            (MeetingAttendance.meeting_id == MeetingInvitee.meeting_id)
            & (MeetingAttendance.member_id == MeetingInvitee.member_id),
        )
        .outerjoin(
            MeetingLeave,
            (MeetingLeave.meeting_id == MeetingInvitee.meeting_id)
            & (MeetingLeave.member_id == MeetingInvitee.member_id),
        )
        .where(MeetingInvitee.meeting_id == meeting.id)
        .order_by(Member.code)
    )
    if not overseer:
        query = query.where(MeetingInvitee.member_id == (actor.member_id or -1))
    rows: list[AttendanceRow] = []
    mine: AttendanceRow | None = None
    for r in session.execute(query):
        own = actor.member_id is not None and r[0] == actor.member_id
        private = organiser or own
        row = AttendanceRow(
            member_id=r[0],
            member_code=r[1],
            member_name=r[2],
            checked_in_at=r[3],
            method=r[4],
            outcome=r[5],
            leave_id=r[6],
            leave_status=r[7],
            leave_reason=r[8] if private else None,
            leave_answer=r[9] if private else None,
        )
        rows.append(row)
        if own:
            mine = row
    scheduled = meeting.status is MeetingStatus.SCHEDULED
    closed = meeting.status is MeetingStatus.CLOSED
    opens = closes = None
    if rulebook is not None:
        opens, closes = checkin_window_of(meeting, rulebook)
    expected = mine is not None
    leave_status = mine.leave_status if mine else None
    missed = any(row.outcome in (Outcome.LEAVE, Outcome.ABSENT) for row in rows)
    frozen = closed and organiser and is_frozen(session, meeting.period)
    return MeetingDetail(
        summary=summary,
        agenda=meeting.agenda,
        minutes=meeting.minutes,
        cancel_reason=meeting.cancel_reason,
        rows=rows,
        can_edit=organiser and scheduled,
        can_close=organiser and scheduled and now >= meeting.ends_at,
        can_request_leave=expected
        and scheduled
        and now < meeting.starts_at
        and leave_status in (None, LeaveStatus.PENDING, LeaveStatus.WITHDRAWN),
        can_withdraw_leave=expected and scheduled and leave_status is LeaveStatus.PENDING,
        can_decide_leave=organiser and scheduled,
        can_checkin_screen=organiser
        and scheduled
        and (now <= closes if closes is not None else now <= meeting.ends_at),
        can_amend=organiser and closed and not frozen,
        can_makeup=organiser and closed and missed,
        checkin_opens=opens,
        checkin_closes=closes,
        my_leave_id=mine.leave_id if mine else None,
        my_leave_reason=mine.leave_reason if mine else None,
        my_leave_answer=mine.leave_answer if mine else None,
    )


def local_day(at: datetime, timezone: str = DEFAULT_TIMEZONE) -> date:
    return at.astimezone(ZoneInfo(timezone)).date()
