"""Meetings in the ledger: ``ledger verify`` recomputes attendance points from the
attendance records and finds tampering with either; the member's explanation names the
meeting; attendance rules leave the declaration form; no rule, no points."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update

from service.audit.capture import AUDITED
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.errors import InvalidInput
from service.ledger.explain import LineKind, explain_member
from service.ledger.verify import DifferenceKind, verify_ledger
from service.meetings.closing import close_meeting
from service.meetings.schedule import MeetingInput, schedule_meeting
from service.persistence.db import Database
from service.persistence.meetings import (
    CheckinMethod,
    Meeting,
    MeetingAttendance,
    MeetingInvitee,
    Outcome,
)
from service.persistence.models import AuditEvent, LedgerLine
from service.scoring.rules import MeetingPolicy, MeetingType, Rulebook
from tests.conftest import SmallTown, raw_connection

DAY = date(2026, 12, 5)
BEFORE = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
AFTER = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)


def _held_meeting(
    database: Database, town: SmallTown, rulebook: Rulebook, kind: str = "theme_day"
) -> int:
    """A meeting of 金湾 on DAY: 张伟 (member) checked in, the others absent; closed."""
    secretary = town.principal(database, "secretary")
    with database.transaction() as session:
        meeting = schedule_meeting(
            session,
            secretary,
            rulebook,
            MeetingInput(
                branch_id=town.jinwan,
                kind=kind,
                title="12月主题党日:重温入党誓词",
                day=DAY,
                start=time(9, 0),
                end=time(11, 0),
            ),
            now=BEFORE,
        )
        session.add(
            MeetingAttendance(
                meeting_id=meeting.id,
                member_id=town.member_ids["member"],
                branch_id=town.jinwan,
                checked_in_at=AFTER,
                method=CheckinMethod.CODE,
            )
        )
        session.flush()
        close_meeting(session, secretary, rulebook, meeting.id, "纪要", now=AFTER)
        return meeting.id


def _differences(database: Database, rulebook: Rulebook) -> list[tuple[DifferenceKind, str]]:
    with database.transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
    return sorted((d.kind, d.activity_key or d.rule_id) for d in report.differences)


def test_verify_finds_an_outcome_changed_behind_the_services_back(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _held_meeting(database, town, rulebook)
    assert _differences(database, rulebook) == []
    with database.transaction(write=False) as session:
        row_id = session.scalar(
            select(MeetingAttendance.id).where(
                MeetingAttendance.meeting_id == meeting_id,
                MeetingAttendance.member_id == town.member_ids["member"],
            )
        )
    with raw_connection(database) as connection:
        connection.execute(
            update(MeetingAttendance)
            .where(MeetingAttendance.id == row_id)
            .values(outcome=Outcome.ABSENT.value)
        )
    found = _differences(database, rulebook)
    assert (DifferenceKind.SCORE_MISMATCH, f"attendance:{row_id}") in found
    assert (DifferenceKind.NOT_IN_LEDGER, f"absence:{row_id}") in found


def test_verify_finds_a_ledger_line_changed(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    _held_meeting(database, town, rulebook)
    with database.transaction(write=False) as session:
        line_id, key = session.execute(
            select(LedgerLine.id, LedgerLine.activity_key).where(
                LedgerLine.member_id == town.member_ids["member"]
            )
        ).one()
    with raw_connection(database) as connection:
        connection.execute(
            text("UPDATE ledger_line SET points = 5 WHERE id = :id"), {"id": line_id}
        )
    found = _differences(database, rulebook)
    assert (DifferenceKind.SCORE_MISMATCH, key) in found
    assert any(kind is DifferenceKind.SUMMARY_MISMATCH for kind, _ in found)


def test_verify_finds_a_closed_meeting_whose_points_were_never_written(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _held_meeting(database, town, rulebook)
    with raw_connection(database) as connection:
        connection.execute(text("DELETE FROM ledger_line"))
        connection.execute(text("DELETE FROM points_summary"))
    found = _differences(database, rulebook)
    with database.transaction(write=False) as session:
        rows = session.execute(
            select(MeetingAttendance.id, MeetingAttendance.outcome).where(
                MeetingAttendance.meeting_id == meeting_id
            )
        ).all()
    expected = {
        f"{'attendance' if outcome is Outcome.ATTENDED else 'absence'}:{row_id}"
        for row_id, outcome in rows
    }
    assert {key for kind, key in found if kind is DifferenceKind.NOT_IN_LEDGER} == expected
    assert len(expected) == 3


def test_the_explanation_names_the_meeting(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _held_meeting(database, town, rulebook)
    with database.transaction(write=False) as session:
        mine = explain_member(session, rulebook, town.member_ids["member"], 2026, as_of=DAY)
        absent = explain_member(session, rulebook, town.member_ids["secretary"], 2026, as_of=DAY)
    (line,) = mine.lines
    assert line.kind is LineKind.ATTENDANCE
    assert (line.day, line.rule_id, line.counted) == (DAY, "theme_day", Decimal(2))
    assert (line.meeting_id, line.meeting_kind) == (meeting_id, "theme_day")
    assert line.text == "12月主题党日:重温入党誓词"
    assert line.entry_id is None
    (line,) = absent.lines
    assert line.kind is LineKind.ABSENCE and line.counted == Decimal(-2)
    assert mine.score.total == Decimal(62)  # base 60 + 2


def test_a_type_no_rule_scores_closes_without_points(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    """A ruleset that requires 'other branch activities' but scores none of them."""
    december = rulebook.in_force(DAY)
    assert december is not None
    policy = MeetingPolicy(required_per_year={MeetingType.ACTIVITY: 2})
    no_rule = Rulebook.of(
        [
            *(r for r in rulebook.rulesets if r.version != december.version),
            december.model_copy(update={"meetings": policy}),
        ]
    )
    meeting_id = _held_meeting(database, town, no_rule, kind="activity")
    with database.transaction(write=False) as session:
        assert session.get(Meeting, meeting_id).status.value == "closed"  # type: ignore[union-attr]
        assert session.scalars(select(LedgerLine)).all() == []
        outcomes = set(
            session.scalars(
                select(MeetingAttendance.outcome).where(MeetingAttendance.meeting_id == meeting_id)
            )
        )
    assert outcomes == {Outcome.ATTENDED, Outcome.ABSENT}
    assert _differences(database, no_rule) == []


def test_attendance_rules_leave_the_declaration_form_from_december(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    november = rulebook.in_force(date(2026, 11, 30))
    december = rulebook.in_force(date(2026, 12, 1))
    assert november is not None and december is not None
    assert {"org_life", "theme_day"} <= {r.id for r in november.declarable_rules()}
    assert not {"org_life", "theme_day"} & {r.id for r in december.declarable_rules()}
    member = town.principal(database, "member")
    today = date(2026, 12, 3)
    now = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    with pytest.raises(InvalidInput) as refused, database.transaction() as session:
        submit_entry(
            session,
            member,
            rulebook,
            EntryInput("theme_day", date(2026, 12, 2), Decimal(1), "主题党日"),
            today=today,
            now=now,
        )
    assert set(refused.value.errors) == {"rule_id"}
    # Declared for November (under 2026.1) it is still accepted and counts.
    with database.transaction() as session:
        entry_id = submit_entry(
            session,
            member,
            rulebook,
            EntryInput("theme_day", date(2026, 11, 28), Decimal(1), "11月主题党日"),
            today=today,
            now=now,
        )
        approve_entry(session, town.principal(database, "secretary"), rulebook, entry_id, now=now)
    # A December meeting closes beside it; both count.
    _held_meeting(database, town, rulebook)
    with database.transaction(write=False) as session:
        explained = explain_member(session, rulebook, town.member_ids["member"], 2026, as_of=DAY)
    assert [line.kind for line in explained.lines] == [LineKind.ENTRY, LineKind.ATTENDANCE]
    assert _differences(database, rulebook) == []


def test_meetings_are_audited_without_their_secret(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    assert Meeting in AUDITED and MeetingInvitee not in AUDITED
    meeting_id = _held_meeting(database, town, rulebook)
    with database.transaction(write=False) as session:
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.object_type == "meeting", AuditEvent.object_id == str(meeting_id)
            )
        ).all()
        secret = session.get(Meeting, meeting_id).checkin_secret  # type: ignore[union-attr]
    assert [event.kind for event in events] == ["meeting.create", "meeting.update"]
    assert all(secret not in (event.after or "") for event in events)
