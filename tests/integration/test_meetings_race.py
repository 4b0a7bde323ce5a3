"""Two secretaries closing the same meeting at once, each in a session of its own on a real
database: the points are written once, and both get an answer (one closes, the other
finds it closed)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from service.ledger.verify import verify_ledger
from service.meetings.closing import close_meeting
from service.meetings.schedule import MeetingInput, schedule_meeting
from service.persistence.db import Database
from service.persistence.meetings import CheckinMethod, MeetingAttendance, MeetingOrganiser
from service.persistence.models import LedgerLine, PointsSummary
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

# Other threads read what the test writes: real commits.
pytestmark = pytest.mark.commits

BEFORE = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
AFTER = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize("closers", [2, 6])
def test_closing_at_once_writes_the_points_once(
    database: Database, town: SmallTown, rulebook: Rulebook, closers: int
) -> None:
    secretary = town.principal(database, "secretary")
    with database.transaction() as session:
        # A committee member closing as well as the secretary and the office.
        session.add(
            MeetingOrganiser(
                branch_id=town.jinwan,
                account_id=town.account_ids["member2"],
                created_at=BEFORE,
                created_by_id=secretary.account_id,
            )
        )
        meeting = schedule_meeting(
            session,
            secretary,
            rulebook,
            MeetingInput(
                branch_id=town.jinwan,
                kind="theme_day",
                title="12月主题党日",
                day=date(2026, 12, 5),
                start=time(9, 0),
                end=time(11, 0),
            ),
            now=BEFORE,
        )
        meeting_id = meeting.id
        session.add(
            MeetingAttendance(
                meeting_id=meeting_id,
                member_id=town.member_ids["member"],
                branch_id=town.jinwan,
                checked_in_at=AFTER,
                method=CheckinMethod.CODE,
            )
        )
    who = ["secretary", "admin", "member2"]
    actors = [town.principal(database, who[i % len(who)]) for i in range(closers)]
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(closers)

    def close(index: int) -> None:
        start.wait()
        try:
            with database.transaction() as session:
                result = close_meeting(
                    session, actors[index], rulebook, meeting_id, f"纪要 {index}", now=AFTER
                )
            outcome = "already" if result.already_closed else "closed"
        except Exception as exc:  # recorded so the assertion shows what went wrong
            outcome = f"error: {exc!r}"
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=close, args=(i,)) for i in range(closers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == Counter({"closed": 1, "already": closers - 1})
    with database.transaction(write=False) as session:
        # member +2; member2 and the secretary absent, -2 each.
        assert session.scalar(select(func.count()).select_from(LedgerLine)) == 3
        assert session.scalar(select(func.sum(LedgerLine.points))) == Decimal("-2.0")
        assert session.scalar(select(func.sum(PointsSummary.points))) == Decimal("-2.0")
        assert session.scalar(select(func.count()).select_from(MeetingAttendance)) == 3
    with database.transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
    assert report.ok, [d.describe() for d in report.differences]
