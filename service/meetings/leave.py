"""Leave (请假): a member expected at a meeting asks before it starts, with a reason; an
organiser of the branch grants or declines it (declining needs a reason) until the
meeting is closed; the member may withdraw a request still pending. One request per
member and meeting: a withdrawn one may be asked again (the same row), an answered one
may not."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.meetings.access import is_expected, require_organiser, visible_meeting
from service.meetings.notices import leave_decided
from service.persistence.meetings import LeaveStatus, Meeting, MeetingLeave, MeetingStatus

REASON_MAX = 500
NO_SUCH_LEAVE = N_("No such leave request.")


def _reason(value: str, *, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput({"reason": Message(N_("Please give a reason."))})
    if len(value) > REASON_MAX:
        raise InvalidInput(
            {"reason": Message(N_("At most %(limit)s characters."), {"limit": REASON_MAX})}
        )
    return value


def _locked_meeting(session: Session, meeting_id: int) -> Meeting:
    meeting = session.scalar(
        select(Meeting)
        .where(Meeting.id == meeting_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert meeting is not None
    return meeting


def request_leave(
    session: Session, actor: Principal, meeting_id: int, reason: str, *, now: datetime
) -> MeetingLeave:
    """The actor asks for leave from a meeting they are expected at, before it starts."""
    visible_meeting(session, actor, meeting_id)
    if not is_expected(session, actor.member_id, meeting_id):
        raise PermissionDenied(
            Message(N_("Only the members expected at a meeting ask for leave from it."))
        )
    assert actor.member_id is not None
    meeting = _locked_meeting(session, meeting_id)
    if meeting.status is not MeetingStatus.SCHEDULED or now >= meeting.starts_at:
        raise Conflict(
            Message(N_("Leave is asked for before the meeting starts; it has started or ended."))
        )
    reason = _reason(reason, required=True)
    leave = session.scalar(
        select(MeetingLeave).where(
            MeetingLeave.meeting_id == meeting_id, MeetingLeave.member_id == actor.member_id
        )
    )
    if leave is not None and leave.status in (LeaveStatus.GRANTED, LeaveStatus.DECLINED):
        raise Conflict(
            Message(N_("Your leave request has already been answered; nothing was changed."))
        )
    if leave is None:
        leave = MeetingLeave(meeting_id=meeting_id, member_id=actor.member_id)
        session.add(leave)
    leave.reason = reason
    leave.status = LeaveStatus.PENDING
    leave.requested_at = now
    leave.requested_by_id = actor.account_id
    session.flush()
    return leave


def _leave_for(session: Session, actor: Principal, leave_id: int) -> tuple[MeetingLeave, Meeting]:
    leave = session.get(MeetingLeave, leave_id)
    if leave is None:
        raise NotFound(Message(NO_SUCH_LEAVE))
    meeting = session.get(Meeting, leave.meeting_id)
    assert meeting is not None
    mine = actor.member_id is not None and actor.member_id == leave.member_id
    if not mine:
        try:
            visible_meeting(session, actor, meeting.id)
        except NotFound:
            raise NotFound(Message(NO_SUCH_LEAVE)) from None
    return leave, meeting


def decide_leave(
    session: Session,
    actor: Principal,
    leave_id: int,
    *,
    grant: bool,
    reason: str,
    now: datetime,
) -> MeetingLeave:
    """Grant or decline a pending request (an organiser of the branch, not for their own
    leave); declining needs a reason. Allowed until the meeting is closed."""
    leave, meeting = _leave_for(session, actor, leave_id)
    if actor.member_id is not None and actor.member_id == leave.member_id:
        raise PermissionDenied(Message(N_("Nobody decides their own leave request.")))
    require_organiser(session, actor, meeting.branch_id)
    meeting = _locked_meeting(session, meeting.id)
    session.refresh(leave)
    if meeting.status is not MeetingStatus.SCHEDULED:
        raise Conflict(
            Message(N_("This meeting is closed or cancelled: its leave can no longer change."))
        )
    if leave.status is not LeaveStatus.PENDING:
        raise Conflict(Message(N_("This leave request is no longer pending; nothing was changed.")))
    reason = _reason(reason, required=not grant)
    leave.status = LeaveStatus.GRANTED if grant else LeaveStatus.DECLINED
    leave.decided_at = now
    leave.decided_by_id = actor.account_id
    leave.decision_reason = reason or None
    session.flush()
    leave_decided(session, leave, meeting, now=now)
    return leave


def withdraw_leave(
    session: Session, actor: Principal, leave_id: int, *, now: datetime
) -> MeetingLeave:
    """The member takes back a request still pending."""
    leave = session.get(MeetingLeave, leave_id)
    if leave is None or actor.member_id is None or leave.member_id != actor.member_id:
        raise NotFound(Message(NO_SUCH_LEAVE))
    _locked_meeting(session, leave.meeting_id)
    session.refresh(leave)
    if leave.status is not LeaveStatus.PENDING:
        raise Conflict(Message(N_("This leave request is no longer pending; nothing was changed.")))
    leave.status = LeaveStatus.WITHDRAWN
    session.flush()
    return leave


def leave_of(session: Session, meeting_id: int, member_id: int) -> MeetingLeave | None:
    return session.scalar(
        select(MeetingLeave).where(
            MeetingLeave.meeting_id == meeting_id, MeetingLeave.member_id == member_id
        )
    )
