"""What the home page adds to the next meetings: the leave requests waiting for the
organiser's answer."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.meetings.access import organised_branch_ids
from service.persistence.meetings import LeaveStatus, Meeting, MeetingLeave


def pending_leaves(
    session: Session, actor: Principal, meeting_ids: Iterable[int]
) -> dict[int, int]:
    """Meeting id → leave requests pending, for those of ``meeting_ids`` the actor
    organises (a member's own meetings show none)."""
    ids = sorted(set(meeting_ids))
    organised = organised_branch_ids(session, actor)
    if not ids or organised == frozenset():
        return {}
    query = (
        select(MeetingLeave.meeting_id, func.count())
        .join(Meeting, Meeting.id == MeetingLeave.meeting_id)
        .where(MeetingLeave.meeting_id.in_(ids), MeetingLeave.status == LeaveStatus.PENDING)
        .group_by(MeetingLeave.meeting_id)
    )
    if organised is not None:
        query = query.where(Meeting.branch_id.in_(sorted(organised)))
    return {meeting_id: count for meeting_id, count in session.execute(query)}
