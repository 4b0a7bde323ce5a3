"""Helpers for the meetings tests: a meeting of 金湾 on 5 December 2026, 09:00–11:00 in
Shanghai, scheduled, checked into, closed and published the way the services do it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import func, select

from service.ledger.verify import verify_ledger
from service.meetings.closing import CloseResult, close_meeting
from service.meetings.leave import decide_leave, request_leave
from service.meetings.schedule import (
    MeetingInput,
    schedule_meeting,
)
from service.persistence.db import Database
from service.persistence.meetings import (
    CheckinMethod,
    MeetingAttendance,
    MeetingInvitee,
)
from service.persistence.models import (
    LedgerLine,
)
from service.publication.publish import publish_month
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

DAY = date(2026, 12, 5)
# 09:00–11:00 in Shanghai on DAY.
STARTS = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
ENDS = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
BEFORE = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
AFTER = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)


def meeting_input(town: SmallTown, **changes: object) -> MeetingInput:
    values: dict[str, object] = {
        "branch_id": town.jinwan,
        "kind": "theme_day",
        "title": "12月主题党日",
        "day": DAY,
        "start": time(9, 0),
        "end": time(11, 0),
        "place": "党员活动室",
    }
    values.update(changes)
    return MeetingInput(**values)  # type: ignore[arg-type]


def schedule(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    who: str = "secretary",
    **changes: object,
) -> int:
    actor = town.principal(database, who)
    with database.transaction() as session:
        return schedule_meeting(
            session, actor, rulebook, meeting_input(town, **changes), now=BEFORE
        ).id


def invitees_of(database: Database, meeting_id: int) -> set[int]:
    with database.transaction(write=False) as session:
        return set(
            session.scalars(
                select(MeetingInvitee.member_id).where(MeetingInvitee.meeting_id == meeting_id)
            )
        )


def check_in(database: Database, town: SmallTown, meeting_id: int, who: str) -> None:
    """What the check-in module (another branch) writes: a row without an outcome."""
    with database.transaction() as session:
        session.add(
            MeetingAttendance(
                meeting_id=meeting_id,
                member_id=town.member_ids[who],
                branch_id=town.jinwan,
                checked_in_at=STARTS,
                method=CheckinMethod.SECRETARY,
            )
        )


def points_of(database: Database, member_id: int) -> Decimal:
    with database.transaction(write=False) as session:
        total = session.scalar(
            select(func.sum(LedgerLine.points)).where(LedgerLine.member_id == member_id)
        )
    return Decimal(total or 0)


def verify_ok(database: Database, rulebook: Rulebook) -> None:
    with database.transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
    assert report.ok, [d.describe() for d in report.differences]


def close(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    meeting_id: int,
    who: str = "secretary",
    minutes: str = "学习了党章,讨论了下月安排。",
    now: datetime = AFTER,
) -> CloseResult:
    actor = town.principal(database, who)
    with database.transaction() as session:
        return close_meeting(session, actor, rulebook, meeting_id, minutes, now=now)


def grant_leave(database: Database, town: SmallTown, meeting_id: int, who: str) -> None:
    with database.transaction() as session:
        leave = request_leave(
            session, town.principal(database, who), meeting_id, "病假", now=BEFORE
        )
        decide_leave(
            session,
            town.principal(database, "secretary"),
            leave.id,
            grant=True,
            reason="",
            now=BEFORE,
        )


def publish_december(database: Database, town: SmallTown, rulebook: Rulebook) -> None:
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        publish_month(
            session,
            admin,
            rulebook,
            "2026-12",
            now=datetime(2027, 1, 2, 4, 0, tzinfo=UTC),
            confirm_empty=True,
        )
