"""Publishing a month waits for its meetings: a meeting held in the month that is still
scheduled (ended, not closed) would have its attendance frozen without points, so
publishing (and publishing a correction) is refused and names it (branch, title, day)
until it is closed or cancelled. Service level, real database (December 2026)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from service.meetings.schedule import cancel_meeting
from service.persistence.db import Database
from service.persistence.models import Publication
from service.publication.corrections import open_correction, publish_correction
from service.publication.publish import publish_month, publish_preview
from service.publication.state import UnclosedMeeting, UnclosedMeetings
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown
from tests.integration.meetings_support import (
    AFTER,
    DAY,
    check_in,
    close,
    points_of,
    publish_december,
    schedule,
    verify_ok,
)

IN_JANUARY = datetime(2027, 1, 2, 4, 0, tzinfo=UTC)


def publications(database: Database) -> int:
    with database.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(Publication)) or 0


def test_publishing_is_refused_while_a_meeting_of_the_month_is_not_closed(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = schedule(database, town, rulebook)
    check_in(database, town, meeting_id, "member")
    with pytest.raises(UnclosedMeetings) as refused:
        publish_december(database, town, rulebook)
    assert refused.value.meetings == [
        UnclosedMeeting(meeting_id, "金湾工业园区联合党支部", "12月主题党日", DAY)
    ]
    text = str(refused.value)
    assert "2026-12 cannot be published while meetings held in it are not closed" in text
    assert "金湾工业园区联合党支部: 12月主题党日 (2026-12-05)" in text
    assert publications(database) == 0

    close(database, town, rulebook, meeting_id)
    publish_december(database, town, rulebook)
    assert publications(database) == 1
    # The attendance was settled before the board was frozen: 张伟's +2 is on it.
    assert points_of(database, town.member_ids["member"]) == Decimal(2)
    verify_ok(database, rulebook)


def test_a_cancelled_meeting_or_one_of_another_month_does_not_hold_publishing(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    cancelled = schedule(database, town, rulebook)
    schedule(database, town, rulebook, day=date(2027, 1, 5), title="1月主题党日")
    with database.transaction() as session:
        cancel_meeting(session, town.principal(database, "secretary"), cancelled, "改期", now=AFTER)
    publish_december(database, town, rulebook)
    assert publications(database) == 1


def test_the_preview_lists_unclosed_meetings_and_is_not_publishable(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    first = schedule(database, town, rulebook)
    second = schedule(
        database, town, rulebook, "secretary2", branch_id=town.baoyuan, day=date(2026, 12, 3)
    )
    with database.transaction(write=False) as session:
        preview = publish_preview(
            session, town.principal(database, "admin"), rulebook, "2026-12", now=IN_JANUARY
        )
    assert [(m.meeting_id, m.day) for m in preview.unclosed] == [
        (second, date(2026, 12, 3)),
        (first, DAY),
    ]
    assert preview.refusal is None and not preview.publishable

    close(database, town, rulebook, first)
    close(database, town, rulebook, second, who="secretary2")
    with database.transaction(write=False) as session:
        preview = publish_preview(
            session, town.principal(database, "admin"), rulebook, "2026-12", now=IN_JANUARY
        )
    assert preview.unclosed == [] and preview.publishable


def test_publishing_a_correction_is_refused_while_a_meeting_of_the_month_is_not_closed(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    admin = town.principal(database, "admin")
    publish_december(database, town, rulebook)
    with database.transaction() as session:
        open_correction(session, admin, "2026-12", "漏记了一次主题党日", now=IN_JANUARY)
    # While the month is being corrected, a meeting of it can be scheduled again.
    meeting_id = schedule(database, town, rulebook, start=time(14, 0), end=time(16, 0))
    with pytest.raises(UnclosedMeetings), database.transaction() as session:
        publish_correction(session, admin, rulebook, "2026-12", now=IN_JANUARY)
    assert publications(database) == 1

    close(database, town, rulebook, meeting_id, now=IN_JANUARY)
    with database.transaction() as session:
        publish_correction(session, admin, rulebook, "2026-12", now=IN_JANUARY)
    assert publications(database) == 2
    verify_ok(database, rulebook)


def test_publish_month_refuses_before_checking_for_an_empty_month(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    """An unclosed meeting is what makes the month look empty: the office is told to
    close it, not asked to confirm publishing zeros."""
    schedule(database, town, rulebook)
    with pytest.raises(UnclosedMeetings), database.transaction() as session:
        publish_month(
            session, town.principal(database, "admin"), rulebook, "2026-12", now=IN_JANUARY
        )
