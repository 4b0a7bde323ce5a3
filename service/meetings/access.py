"""Who may see and run a branch's meetings.

Organisers: the office (admin), the branch's secretaries, and the branch committee
members the secretary names (``MeetingOrganiser``). They schedule, edit, cancel and close
the branch's meetings and decide leave. A meeting is seen by its organisers, the branch's
instructors and the members expected at it; to anyone else it does not exist (NotFound,
the same answer as for a missing id).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.errors import NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.persistence.meetings import Meeting, MeetingInvitee, MeetingOrganiser
from service.persistence.models import Role

NO_SUCH_MEETING = N_("No such meeting.")
ORGANISERS_ONLY = N_(
    "Only this branch's secretary, a meeting organiser it named or the organisation "
    "office runs its meetings."
)


def organised_branch_ids(session: Session, actor: Principal) -> frozenset[int] | None:
    """The branches whose meetings the actor organises; None for the office (every one)."""
    if actor.is_admin:
        return None
    named = session.scalars(
        select(MeetingOrganiser.branch_id).where(MeetingOrganiser.account_id == actor.account_id)
    )
    return actor.branches_with_secretary | frozenset(named)


def is_organiser(session: Session, actor: Principal, branch_id: int) -> bool:
    """Admin, the branch's secretary, or an organiser the branch named."""
    if actor.is_admin or branch_id in actor.branches_with_secretary:
        return True
    found = session.scalar(
        select(MeetingOrganiser.id).where(
            MeetingOrganiser.branch_id == branch_id,
            MeetingOrganiser.account_id == actor.account_id,
        )
    )
    return found is not None


def require_organiser(session: Session, actor: Principal, branch_id: int) -> None:
    """403 unless ``is_organiser``."""
    if not is_organiser(session, actor, branch_id):
        raise PermissionDenied(Message(ORGANISERS_ONLY))


def is_expected(session: Session, member_id: int | None, meeting_id: int) -> bool:
    if member_id is None:
        return False
    found = session.scalar(
        select(MeetingInvitee.member_id).where(
            MeetingInvitee.meeting_id == meeting_id, MeetingInvitee.member_id == member_id
        )
    )
    return found is not None


def can_view_meeting(session: Session, actor: Principal, meeting: Meeting) -> bool:
    """Admin; the branch's secretaries and instructors; its organisers; a member expected."""
    if actor.is_admin or meeting.branch_id in actor.branches_with(Role.SECRETARY, Role.INSTRUCTOR):
        return True
    if is_organiser(session, actor, meeting.branch_id):
        return True
    return is_expected(session, actor.member_id, meeting.id)


def visible_meeting(session: Session, actor: Principal, meeting_id: int) -> Meeting:
    """The meeting, if the actor may see it; NotFound otherwise (a stranger learns nothing,
    not even that it exists)."""
    meeting = session.get(Meeting, meeting_id)
    if meeting is None or not can_view_meeting(session, actor, meeting):
        raise NotFound(Message(NO_SUCH_MEETING))
    return meeting
