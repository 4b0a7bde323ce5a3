"""Telling members about meetings, in the transaction that schedules, changes or
cancels one, and deciding who hears it.

A meeting the whole branch is expected at is a broadcast to the branch and a post to
its group robots. A meeting of a party group, a chosen list or a make-up session is
not the whole group's business: its expected members get personal notifications and
no robot posts (a group must only see what the whole group may see). The parameters
are what a notice board would show: title, branch, date, time, place; never the
agenda, a cancellation's reason or who is expected.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.kernel.i18n import N_
from service.outbox.emit import emit, member_accounts
from service.outbox.facts import DEFAULT_ZONE, local_time
from service.persistence.meetings import (
    Audience,
    LeaveStatus,
    Meeting,
    MeetingInvitee,
    MeetingLeave,
)
from service.persistence.models import Branch
from service.scoring.rules import Rulebook


def meeting_link(meeting_id: int) -> str:
    return f"/meetings/{meeting_id}"


def zone_of(rulebook: Rulebook | None, meeting: Meeting) -> str:
    if rulebook is None or not rulebook.rulesets:
        return DEFAULT_ZONE
    ruleset = rulebook.in_force(meeting.day) or rulebook.rulesets[0]
    return ruleset.timezone


def meeting_params(session: Session, meeting: Meeting, zone: str) -> dict[str, Any]:
    """What the whole branch may see of a meeting."""
    branch = session.get(Branch, meeting.branch_id)
    place: Any = meeting.place.strip()
    if not place:
        place = {"t": N_("online")} if meeting.online else {"t": N_("place to be announced")}
    return {
        "meeting": meeting.title,
        "branch": branch.name if branch is not None else "",
        "date": meeting.day.isoformat(),  # town-local already
        "time": local_time(meeting.starts_at, zone),
        "place": place,
    }


def expected_accounts(session: Session, meeting_id: int) -> list[int]:
    members = session.scalars(
        select(MeetingInvitee.member_id)
        .where(MeetingInvitee.meeting_id == meeting_id)
        .order_by(MeetingInvitee.member_id)
    )
    return member_accounts(session, members)


def whole_branch(meeting: Meeting) -> bool:
    return meeting.audience is Audience.BRANCH and meeting.makeup_of_id is None


def tell_meeting(
    session: Session,
    meeting: Meeting,
    kind_id: str,
    *,
    zone: str,
    now: datetime,
    dedupe_key: str | None = None,
) -> None:
    """Emit ``kind_id`` about ``meeting`` to its audience (see the module notes)."""
    params = meeting_params(session, meeting, zone)
    link = meeting_link(meeting.id)
    if whole_branch(meeting):
        emit(
            session,
            kind_id,
            params=params,
            link=link,
            branch_id=meeting.branch_id,
            broadcast="branch",
            robots="branch",
            dedupe_key=dedupe_key,
            now=now,
        )
        return
    emit(
        session,
        kind_id,
        params=params,
        link=link,
        accounts=expected_accounts(session, meeting.id),
        branch_id=meeting.branch_id,
        dedupe_key=dedupe_key,
        now=now,
    )


def meeting_scheduled(
    session: Session, meeting: Meeting, rulebook: Rulebook | None, *, now: datetime
) -> None:
    tell_meeting(session, meeting, "meeting_scheduled", zone=zone_of(rulebook, meeting), now=now)


def meeting_changed(
    session: Session, meeting: Meeting, rulebook: Rulebook | None, *, now: datetime
) -> None:
    tell_meeting(session, meeting, "meeting_changed", zone=zone_of(rulebook, meeting), now=now)


def meeting_cancelled(
    session: Session, meeting: Meeting, rulebook: Rulebook | None, *, now: datetime
) -> None:
    tell_meeting(session, meeting, "meeting_cancelled", zone=zone_of(rulebook, meeting), now=now)


def leave_decided(
    session: Session, leave: MeetingLeave, meeting: Meeting, *, now: datetime
) -> None:
    """The member hears their leave request's answer (the decline's reason stays on the
    meeting's page: the words say only granted or refused)."""
    granted = leave.status is LeaveStatus.GRANTED
    emit(
        session,
        "leave_decided",
        params={
            "decision": {"t": N_("granted") if granted else N_("refused")},
            "meeting": meeting.title,
            "date": meeting.day.isoformat(),
        },
        link=meeting_link(meeting.id),
        accounts=member_accounts(session, [leave.member_id]),
        branch_id=meeting.branch_id,
        now=now,
    )
