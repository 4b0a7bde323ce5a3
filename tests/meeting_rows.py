"""Meetings written straight to the tables, for tests of what reads them (compliance,
pages) without going through scheduling and closing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from service.persistence.meetings import (
    Meeting,
    MeetingAttendance,
    MeetingStatus,
    Outcome,
    PartyGroup,
)


def add_meeting(
    session: Session,
    *,
    branch_id: int,
    kind: str,
    day: date,
    created_by_id: int,
    status: MeetingStatus = MeetingStatus.CLOSED,
    minutes: str | None = "会议记录",
    makeup_of_id: int | None = None,
    outcomes: dict[int, Outcome] | None = None,
    title: str = "",
) -> Meeting:
    """A meeting of ``kind`` on ``day`` (10:00 to 11:30 town time) in ``status``; with
    ``outcomes`` (member id -> outcome) the attendance rows a closing would write."""
    starts = datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    meeting = Meeting(
        branch_id=branch_id,
        kind=kind,
        title=title or f"{kind} {day.isoformat()}",
        starts_at=starts,
        ends_at=starts + timedelta(minutes=90),
        day=day,
        period=f"{day.year:04d}-{day.month:02d}",
        status=status,
        checkin_secret="0" * 64,
        minutes=minutes,
        makeup_of_id=makeup_of_id,
        created_at=starts - timedelta(days=7),
        created_by_id=created_by_id,
        closed_at=starts + timedelta(hours=2) if status is MeetingStatus.CLOSED else None,
        closed_by_id=created_by_id if status is MeetingStatus.CLOSED else None,
    )
    session.add(meeting)
    session.flush()
    for member_id, outcome in (outcomes or {}).items():
        session.add(
            MeetingAttendance(
                meeting_id=meeting.id,
                member_id=member_id,
                branch_id=branch_id,
                checked_in_at=starts if outcome is Outcome.ATTENDED else None,
                outcome=outcome,
            )
        )
    session.flush()
    return meeting


def add_party_group(session: Session, *, branch_id: int, name: str = "第一党小组") -> PartyGroup:
    """A party group of the branch (no members): the branch then owes party group
    meetings."""
    group = PartyGroup(branch_id=branch_id, name=name)
    session.add(group)
    session.flush()
    return group
