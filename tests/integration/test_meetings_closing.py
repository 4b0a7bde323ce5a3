"""Meetings (组织生活), service level on a real database: closing with points, amendments,
make-up sessions and what the lists and the detail show.

December 2026 is scored by ruleset 2026.2 (theme_day: attended +2, absent without leave
-2; org_life for congress/committee/group/lecture: +1 / -1)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.meetings.closing import amend_attendance
from service.meetings.schedule import edit_meeting, schedule_makeup
from service.meetings.views import home_meetings, meeting_detail, meetings_for
from service.persistence.db import Database
from service.persistence.meetings import (
    Meeting,
    MeetingAttendance,
    MeetingStatus,
    Outcome,
)
from service.persistence.models import (
    LedgerKind,
    LedgerLine,
    Participation,
)
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown
from tests.integration.meetings_support import (
    AFTER,
    BEFORE,
    ENDS,
    STARTS,
    check_in,
    close,
    grant_leave,
    invitees_of,
    meeting_input,
    points_of,
    publish_december,
    schedule,
    verify_ok,
)

# --- closing ----------------------------------------------------------------------------


def test_closing_writes_attended_leave_and_absent_points_exactly(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    ids = town.member_ids
    meeting_id = schedule(database, town, rulebook)
    check_in(database, town, meeting_id, "member")
    grant_leave(database, town, meeting_id, "member2")
    result = close(database, town, rulebook, meeting_id)
    assert (result.attended, result.on_leave, result.absent) == (1, 1, 1)
    assert result.points == Decimal("0.0")  # +2 attended, -2 absent (the secretary)
    assert not result.already_closed
    assert points_of(database, ids["member"]) == Decimal(2)
    assert points_of(database, ids["member2"]) == Decimal(0)
    assert points_of(database, ids["secretary"]) == Decimal(-2)
    with database.transaction(write=False) as session:
        outcomes = dict(
            session.execute(
                select(MeetingAttendance.member_id, MeetingAttendance.outcome).where(
                    MeetingAttendance.meeting_id == meeting_id
                )
            ).all()
        )
        lines = session.scalars(select(LedgerLine).order_by(LedgerLine.id)).all()
        # Attending is taking part in the month, as an approved entry is.
        taking_part = set(
            session.scalars(
                select(Participation.member_id).where(Participation.period == "2026-12")
            )
        )
    assert outcomes == {
        ids["member"]: Outcome.ATTENDED,
        ids["member2"]: Outcome.LEAVE,
        ids["secretary"]: Outcome.ABSENT,
    }
    assert {(line.source, line.rule_id, line.points) for line in lines} == {
        ("attendance", "theme_day", Decimal(2)),
        ("absence", "theme_day", Decimal(-2)),
    }
    assert all(line.attendance_id is not None and line.entry_id is None for line in lines)
    assert taking_part == {ids["member"]}
    verify_ok(database, rulebook)


def test_closing_refusals(database: Database, town: SmallTown, rulebook: Rulebook) -> None:
    meeting_id = schedule(database, town, rulebook)
    with pytest.raises(Conflict):
        close(database, town, rulebook, meeting_id, now=ENDS - timedelta(minutes=1))
    with pytest.raises(InvalidInput) as refused:
        close(database, town, rulebook, meeting_id, minutes="   ")
    assert set(refused.value.errors) == {"minutes"}
    with pytest.raises(NotFound):
        close(database, town, rulebook, meeting_id, who="secretary2")
    with pytest.raises(PermissionDenied):
        close(database, town, rulebook, meeting_id, who="member")
    with pytest.raises(PermissionDenied):
        close(database, town, rulebook, meeting_id, who="instructor")
    with database.transaction(write=False) as session:
        assert session.get(Meeting, meeting_id).status is MeetingStatus.SCHEDULED  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(LedgerLine)) == 0


def test_closing_twice_writes_the_points_once(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = schedule(database, town, rulebook)
    check_in(database, town, meeting_id, "member")
    first = close(database, town, rulebook, meeting_id)
    again = close(database, town, rulebook, meeting_id, who="admin", minutes="另一份纪要")
    assert again.already_closed and not first.already_closed
    assert (again.attended, again.absent, again.points) == (1, 2, first.points)
    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(LedgerLine)) == 3
        assert session.get(Meeting, meeting_id).minutes == "学习了党章,讨论了下月安排。"  # type: ignore[union-attr]
    verify_ok(database, rulebook)


def test_closing_in_a_published_month_is_refused(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = schedule(database, town, rulebook)
    # Publishing now waits for the month's meetings (test_meetings_publication.py); a
    # meeting left scheduled in a month published before that is still not closed.
    with database.transaction() as session:
        session.execute(
            update(Meeting).where(Meeting.id == meeting_id).values(status=MeetingStatus.CANCELLED)
        )
    publish_december(database, town, rulebook)
    with database.transaction() as session:
        session.execute(
            update(Meeting).where(Meeting.id == meeting_id).values(status=MeetingStatus.SCHEDULED)
        )
    with pytest.raises(Conflict):
        close(database, town, rulebook, meeting_id, now=datetime(2027, 1, 3, tzinfo=UTC))
    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(MeetingAttendance)) == 0


def test_a_congress_is_scored_by_the_org_life_rule(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = schedule(database, town, rulebook, kind="congress")
    check_in(database, town, meeting_id, "member")
    result = close(database, town, rulebook, meeting_id)
    assert result.points == Decimal("-1.0")  # org_life: +1 attended, -1 absent twice
    verify_ok(database, rulebook)


# --- amendments and make-up -------------------------------------------------------------


def test_an_amendment_needs_a_reason_and_reconciles(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    ids = town.member_ids
    meeting_id = schedule(database, town, rulebook)
    check_in(database, town, meeting_id, "member")
    close(database, town, rulebook, meeting_id)
    secretary = town.principal(database, "secretary")
    with pytest.raises(InvalidInput) as refused, database.transaction() as session:
        amend_attendance(
            session, secretary, rulebook, meeting_id, ids["member2"], Outcome.LEAVE, " ", now=AFTER
        )
    assert set(refused.value.errors) == {"reason"}
    with pytest.raises(PermissionDenied), database.transaction() as session:
        amend_attendance(
            session,
            secretary,
            rulebook,
            meeting_id,
            ids["secretary"],
            Outcome.LEAVE,
            "x",
            now=AFTER,
        )
    with pytest.raises(PermissionDenied), database.transaction() as session:
        amend_attendance(
            session,
            town.principal(database, "instructor"),
            rulebook,
            meeting_id,
            ids["member2"],
            Outcome.LEAVE,
            "x",
            now=AFTER,
        )
    assert points_of(database, ids["member2"]) == Decimal(-2)
    with database.transaction() as session:
        amendment = amend_attendance(
            session,
            secretary,
            rulebook,
            meeting_id,
            ids["member2"],
            Outcome.LEAVE,
            "补交了病假条",
            now=AFTER,
        )
        assert (amendment.from_outcome, amendment.to_outcome) == (Outcome.ABSENT, Outcome.LEAVE)
    assert points_of(database, ids["member2"]) == Decimal(0)
    with database.transaction(write=False) as session:
        kinds = session.scalars(
            select(LedgerLine.kind)
            .where(LedgerLine.member_id == ids["member2"])
            .order_by(LedgerLine.id)
        ).all()
    assert kinds == [LedgerKind.AWARD, LedgerKind.REVERSAL]
    # And back to attended (a forgotten tick): +2.
    with database.transaction() as session:
        amend_attendance(
            session,
            secretary,
            rulebook,
            meeting_id,
            ids["member2"],
            Outcome.ATTENDED,
            "签到表漏记",
            now=AFTER,
        )
    assert points_of(database, ids["member2"]) == Decimal(2)
    verify_ok(database, rulebook)


def test_an_amendment_is_refused_once_the_month_is_published(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = schedule(database, town, rulebook)
    close(database, town, rulebook, meeting_id)
    publish_december(database, town, rulebook)
    with pytest.raises(Conflict), database.transaction() as session:
        amend_attendance(
            session,
            town.principal(database, "secretary"),
            rulebook,
            meeting_id,
            town.member_ids["member"],
            Outcome.LEAVE,
            "补交病假条",
            now=datetime(2027, 1, 3, tzinfo=UTC),
        )
    assert points_of(database, town.member_ids["member"]) == Decimal(-2)
    verify_ok(database, rulebook)


def test_attending_a_make_up_reverses_the_absence_and_scores(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    ids = town.member_ids
    meeting_id = schedule(database, town, rulebook)
    check_in(database, town, meeting_id, "secretary")
    grant_leave(database, town, meeting_id, "member2")
    close(database, town, rulebook, meeting_id)
    assert points_of(database, ids["member"]) == Decimal(-2)
    secretary = town.principal(database, "secretary")
    with pytest.raises(InvalidInput), database.transaction() as session:
        schedule_makeup(
            session,
            secretary,
            rulebook,
            meeting_id,
            meeting_input(town, day=date(2026, 12, 12), member_ids=(ids["secretary"],)),
            now=AFTER,
        )
    with database.transaction() as session:
        makeup = schedule_makeup(
            session,
            secretary,
            rulebook,
            meeting_id,
            meeting_input(town, kind="lecture", title="补课", day=date(2026, 12, 12)),
            now=AFTER,
        )
        makeup_id = makeup.id
        assert makeup.kind == "theme_day" and makeup.makeup_of_id == meeting_id
    assert invitees_of(database, makeup_id) == {ids["member"], ids["member2"]}
    check_in(database, town, makeup_id, "member")
    check_in(database, town, makeup_id, "member2")
    close(database, town, rulebook, makeup_id, now=datetime(2026, 12, 12, 4, 0, tzinfo=UTC))
    # The absence is reversed (-2 + 2) and the make-up attendance scores +2.
    assert points_of(database, ids["member"]) == Decimal(2)
    assert points_of(database, ids["member2"]) == Decimal(2)
    with database.transaction(write=False) as session:
        original = dict(
            session.execute(
                select(MeetingAttendance.member_id, MeetingAttendance.outcome).where(
                    MeetingAttendance.meeting_id == meeting_id
                )
            ).all()
        )
    assert original[ids["member"]] is Outcome.MADE_UP
    assert original[ids["member2"]] is Outcome.MADE_UP
    verify_ok(database, rulebook)


# --- views ------------------------------------------------------------------------------


def test_lists_and_home_show_what_each_sees(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = schedule(database, town, rulebook)
    other_id = schedule(database, town, rulebook, "secretary2", branch_id=town.baoyuan)
    with database.transaction(write=False) as session:

        def upcoming(who: str) -> list[int]:
            page = meetings_for(
                session, town.principal(database, who), scope="upcoming", now=BEFORE
            )
            return [item.id for item in page.items]

        assert upcoming("member") == [meeting_id]
        assert upcoming("instructor") == [meeting_id]
        assert upcoming("member3") == [other_id]
        assert sorted(upcoming("admin")) == sorted([meeting_id, other_id])
        summary = meetings_for(
            session, town.principal(database, "member"), scope="upcoming", now=BEFORE
        ).items[0]
        assert (summary.day, summary.start, summary.end) == ("2026-12-05", "09:00", "11:00")
        assert summary.invitee_count == 3 and summary.expected
        home = home_meetings(session, town.principal(database, "member"), now=BEFORE)
        assert [m.id for m in home] == [meeting_id]
        # After the end: the secretary is reminded to close it, the member no longer.
        assert [
            m.id for m in home_meetings(session, town.principal(database, "secretary"), now=AFTER)
        ] == [meeting_id]
        assert home_meetings(session, town.principal(database, "member"), now=AFTER) == []
        # The office sees every meeting in the lists, but its home page is not a feed of
        # every branch's meetings.
        assert home_meetings(session, town.principal(database, "admin"), now=AFTER) == []
        past = meetings_for(session, town.principal(database, "member"), scope="past", now=AFTER)
        assert [m.id for m in past.items] == [meeting_id]
        detail = meeting_detail(
            session, town.principal(database, "secretary"), meeting_id, now=AFTER, rulebook=rulebook
        )
        assert detail.can_close and detail.can_edit and not detail.can_amend
        assert len(detail.rows) == 3
        assert detail.checkin_opens == STARTS - timedelta(minutes=30)
        assert detail.checkin_closes == STARTS + timedelta(minutes=20)


def test_make_up_refusals(database: Database, town: SmallTown, rulebook: Rulebook) -> None:
    ids = town.member_ids
    secretary = town.principal(database, "secretary")
    meeting_id = schedule(database, town, rulebook)
    later = meeting_input(town, title="补课", day=date(2026, 12, 12))
    # Not closed yet: no make-up.
    with pytest.raises(Conflict), database.transaction() as session:
        schedule_makeup(session, secretary, rulebook, meeting_id, later, now=AFTER)
    for who in ("member", "member2", "secretary"):
        check_in(database, town, meeting_id, who)
    close(database, town, rulebook, meeting_id)
    # Everyone came: nobody to make it up.
    with pytest.raises(Conflict), database.transaction() as session:
        schedule_makeup(session, secretary, rulebook, meeting_id, later, now=AFTER)
    with pytest.raises(PermissionDenied), database.transaction() as session:
        schedule_makeup(
            session, town.principal(database, "member"), rulebook, meeting_id, later, now=AFTER
        )
    with pytest.raises(NotFound), database.transaction() as session:
        schedule_makeup(
            session, town.principal(database, "secretary2"), rulebook, meeting_id, later, now=AFTER
        )
    assert points_of(database, ids["member"]) == Decimal(2)


def test_a_made_up_outcome_and_the_attendance_that_made_it_up_are_not_amended(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    ids = town.member_ids
    secretary = town.principal(database, "secretary")
    meeting_id = schedule(database, town, rulebook)
    close(database, town, rulebook, meeting_id)
    with database.transaction() as session:
        makeup_id = schedule_makeup(
            session,
            secretary,
            rulebook,
            meeting_id,
            meeting_input(town, title="补课", day=date(2026, 12, 12), member_ids=(ids["member"],)),
            now=AFTER,
        ).id
    check_in(database, town, makeup_id, "member")
    close(database, town, rulebook, makeup_id, now=datetime(2026, 12, 12, 4, 0, tzinfo=UTC))
    for target in (meeting_id, makeup_id):
        with pytest.raises(Conflict), database.transaction() as session:
            amend_attendance(
                session, secretary, rulebook, target, ids["member"], Outcome.ABSENT, "x", now=AFTER
            )
    # member2 still absent from the original (-2); member made it up (+2).
    assert points_of(database, ids["member"]) == Decimal(2)
    assert points_of(database, ids["member2"]) == Decimal(-2)
    verify_ok(database, rulebook)


def test_the_detail_offers_only_what_the_service_accepts(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = schedule(database, town, rulebook)
    with database.transaction(write=False) as session:
        member = meeting_detail(session, town.principal(database, "member"), meeting_id, now=BEFORE)
        assert member.can_request_leave and not member.can_withdraw_leave
        assert not (member.can_edit or member.can_close or member.can_checkin_screen)
        instructor = meeting_detail(
            session, town.principal(database, "instructor"), meeting_id, now=AFTER
        )
        assert not (instructor.can_close or instructor.can_edit or instructor.can_decide_leave)
        assert len(instructor.rows) == 3
    close(database, town, rulebook, meeting_id)
    with database.transaction(write=False) as session:
        secretary = meeting_detail(
            session, town.principal(database, "secretary"), meeting_id, now=AFTER
        )
        assert secretary.can_amend and secretary.can_makeup and not secretary.can_close
        assert secretary.minutes == "学习了党章,讨论了下月安排。"
        assert {row.outcome for row in secretary.rows} == {Outcome.ABSENT}
        member = meeting_detail(session, town.principal(database, "member"), meeting_id, now=AFTER)
        assert not member.can_request_leave
        assert member.summary.my_outcome is Outcome.ABSENT


def test_a_make_up_after_the_original_month_is_published_leaves_the_original_standing(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    ids = town.member_ids
    meeting_id = schedule(database, town, rulebook)
    close(database, town, rulebook, meeting_id)
    secretary = town.principal(database, "secretary")
    january = datetime(2027, 1, 5, 2, 0, tzinfo=UTC)
    with database.transaction() as session:
        makeup_id = schedule_makeup(
            session,
            secretary,
            rulebook,
            meeting_id,
            meeting_input(town, title="补课", day=date(2027, 1, 9), member_ids=(ids["member"],)),
            now=january,
        ).id
    publish_december(database, town, rulebook)
    check_in(database, town, makeup_id, "member")
    close(database, town, rulebook, makeup_id, now=datetime(2027, 1, 9, 4, 0, tzinfo=UTC))
    with database.transaction(write=False) as session:
        outcome = session.scalar(
            select(MeetingAttendance.outcome).where(
                MeetingAttendance.meeting_id == meeting_id,
                MeetingAttendance.member_id == ids["member"],
            )
        )
        by_period = dict(
            session.execute(
                select(LedgerLine.period, func.sum(LedgerLine.points))
                .where(LedgerLine.member_id == ids["member"])
                .group_by(LedgerLine.period)
            ).all()
        )
    # December's -2 stands as published; January's make-up scores +2 under 2027.1.
    assert outcome is Outcome.ABSENT
    assert by_period == {"2026-12": Decimal(-2), "2027-01": Decimal(2)}
    verify_ok(database, rulebook)


def test_a_make_up_is_edited_within_its_rules(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    ids = town.member_ids
    secretary = town.principal(database, "secretary")
    meeting_id = schedule(database, town, rulebook)
    check_in(database, town, meeting_id, "secretary")
    close(database, town, rulebook, meeting_id)
    later = date(2026, 12, 12)
    with database.transaction() as session:
        makeup_id = schedule_makeup(
            session,
            secretary,
            rulebook,
            meeting_id,
            meeting_input(town, title="补课", day=later, member_ids=(ids["member"],)),
            now=AFTER,
        ).id
    # Its type and branch stay the original's; its members come from those who missed it.
    with database.transaction() as session:
        edited = edit_meeting(
            session,
            secretary,
            rulebook,
            makeup_id,
            meeting_input(town, kind="lecture", title="补课(改期)", day=date(2026, 12, 13)),
            now=AFTER,
        )
        assert (edited.kind, edited.title, edited.day) == (
            "theme_day",
            "补课(改期)",
            date(2026, 12, 13),
        )
    assert invitees_of(database, makeup_id) == {ids["member"], ids["member2"]}
    with pytest.raises(InvalidInput) as refused, database.transaction() as session:
        edit_meeting(
            session,
            secretary,
            rulebook,
            makeup_id,
            meeting_input(town, day=later, member_ids=(ids["secretary"],)),
            now=AFTER,
        )
    assert set(refused.value.errors) == {"member_ids"}
    # A meeting stays in its branch.
    other_id = schedule(database, town, rulebook, day=later)
    with pytest.raises(InvalidInput) as moved, database.transaction() as session:
        edit_meeting(
            session,
            town.principal(database, "admin"),
            rulebook,
            other_id,
            meeting_input(town, branch_id=town.baoyuan, day=later),
            now=AFTER,
        )
    assert set(moved.value.errors) == {"branch_id"}
