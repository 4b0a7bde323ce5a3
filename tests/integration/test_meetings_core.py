"""Meetings (组织生活), service level on a real database: scheduling and who is expected,
leave, closing with points, amendments, make-up sessions and the ledger check.

Fixed dates: December 2026 is scored by ruleset 2026.2 (theme_day: attended +2, absent
without leave -2; org_life for congress/committee/group/lecture: +1 / -1).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.ledger.verify import verify_ledger
from service.meetings.access import can_view_meeting, is_organiser, visible_meeting
from service.meetings.closing import amend_attendance, close_meeting
from service.meetings.leave import decide_leave, request_leave, withdraw_leave
from service.meetings.schedule import (
    MeetingInput,
    cancel_meeting,
    edit_meeting,
    schedule_makeup,
    schedule_meeting,
)
from service.meetings.views import home_meetings, meeting_detail, meetings_for
from service.persistence.db import Database
from service.persistence.meetings import (
    Audience,
    CheckinMethod,
    LeaveStatus,
    Meeting,
    MeetingAttendance,
    MeetingInvitee,
    MeetingOrganiser,
    MeetingStatus,
    Outcome,
    PartyGroup,
    PartyGroupMember,
)
from service.persistence.models import (
    LedgerKind,
    LedgerLine,
    Member,
    MemberStatus,
    Organisation,
    OrganisationKind,
    Participation,
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


def _input(town: SmallTown, **changes: object) -> MeetingInput:
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


def _schedule(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    who: str = "secretary",
    **changes: object,
) -> int:
    actor = town.principal(database, who)
    with database.transaction() as session:
        return schedule_meeting(session, actor, rulebook, _input(town, **changes), now=BEFORE).id


def _invitees(database: Database, meeting_id: int) -> set[int]:
    with database.transaction(write=False) as session:
        return set(
            session.scalars(
                select(MeetingInvitee.member_id).where(MeetingInvitee.meeting_id == meeting_id)
            )
        )


def _check_in(database: Database, town: SmallTown, meeting_id: int, who: str) -> None:
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


def _points(database: Database, member_id: int) -> Decimal:
    with database.transaction(write=False) as session:
        total = session.scalar(
            select(func.sum(LedgerLine.points)).where(LedgerLine.member_id == member_id)
        )
    return Decimal(total or 0)


def _verify(database: Database, rulebook: Rulebook) -> None:
    with database.transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
    assert report.ok, [d.describe() for d in report.differences]


def _close(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    meeting_id: int,
    who: str = "secretary",
    minutes: str = "学习了党章,讨论了下月安排。",
    now: datetime = AFTER,
):  # type: ignore[no-untyped-def]
    actor = town.principal(database, who)
    with database.transaction() as session:
        return close_meeting(session, actor, rulebook, meeting_id, minutes, now=now)


# --- scheduling -------------------------------------------------------------------------


def test_a_branch_meeting_expects_its_active_non_exempt_members(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _schedule(database, town, rulebook)
    ids = town.member_ids
    assert _invitees(database, meeting_id) == {ids["member"], ids["member2"], ids["secretary"]}
    with database.transaction(write=False) as session:
        meeting = session.get(Meeting, meeting_id)
        assert meeting is not None
        assert meeting.status is MeetingStatus.SCHEDULED
        assert meeting.starts_at == STARTS and meeting.ends_at == ENDS
        assert meeting.period == "2026-12"
        assert len(meeting.checkin_secret) == 64


def test_a_joint_branch_meeting_expects_members_of_every_organisation(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    with database.transaction() as session:
        other = Organisation(
            branch_id=town.jinwan,
            name="金湾物流有限公司",
            kind=OrganisationKind.ENTERPRISE,
            business_status="operating",
            employee_count=30,
            owner_name="业主",
        )
        session.add(other)
        session.flush()
        member = Member(
            code="M100",
            name="周敏",
            branch_id=town.jinwan,
            organisation_id=other.id,
            status=MemberStatus.FULL,
            active=True,
        )
        session.add(member)
        session.flush()
        new_id = member.id
    meeting_id = _schedule(database, town, rulebook)
    assert new_id in _invitees(database, meeting_id)
    assert town.member_ids["member3"] not in _invitees(database, meeting_id)


def test_a_group_meeting_expects_the_groups_members(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    with database.transaction() as session:
        group = PartyGroup(branch_id=town.jinwan, name="第一党小组")
        session.add(group)
        session.flush()
        session.add(PartyGroupMember(group_id=group.id, member_id=town.member_ids["member"]))
        group_id = group.id
        other = PartyGroup(branch_id=town.baoyuan, name="宝元党小组")
        session.add(other)
        session.flush()
        other_id = other.id
    meeting_id = _schedule(
        database, town, rulebook, kind="group", audience=Audience.GROUP, party_group_id=group_id
    )
    assert _invitees(database, meeting_id) == {town.member_ids["member"]}
    with pytest.raises(InvalidInput) as refused:
        _schedule(
            database, town, rulebook, kind="group", audience=Audience.GROUP, party_group_id=other_id
        )
    assert set(refused.value.errors) == {"party_group_id"}


def test_a_list_meeting_expects_the_chosen_members_of_the_branch_only(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    ids = town.member_ids
    meeting_id = _schedule(
        database, town, rulebook, audience=Audience.LIST, member_ids=(ids["member2"],)
    )
    assert _invitees(database, meeting_id) == {ids["member2"]}
    for chosen in ((), (ids["member"], ids["member3"])):
        with pytest.raises(InvalidInput) as refused:
            _schedule(database, town, rulebook, audience=Audience.LIST, member_ids=chosen)
        assert set(refused.value.errors) == {"member_ids"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "picnic"}, "kind"),
        ({"title": "  "}, "title"),
        ({"title": "长" * 121}, "title"),
        ({"end": time(8, 0)}, "end"),
        ({"place": "x" * 201}, "place"),
        # November is scored by 2026.1, which names no meeting types.
        ({"day": date(2026, 11, 20)}, "kind"),
        ({"branch_id": 999_999}, "branch_id"),
    ],
)
def test_bad_meeting_input_is_refused_by_field(
    database: Database, town: SmallTown, rulebook: Rulebook, changes: dict[str, object], field: str
) -> None:
    admin = "admin" if field == "branch_id" else "secretary"
    with pytest.raises(InvalidInput) as refused:
        _schedule(database, town, rulebook, admin, **changes)
    assert field in refused.value.errors
    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Meeting)) == 0


def test_only_organisers_schedule(database: Database, town: SmallTown, rulebook: Rulebook) -> None:
    for who in ("member", "instructor", "secretary2"):
        with pytest.raises(PermissionDenied):
            _schedule(database, town, rulebook, who)
    # A committee member the secretary named organises the branch's meetings.
    with database.transaction() as session:
        session.add(
            MeetingOrganiser(
                branch_id=town.jinwan,
                account_id=town.account_ids["member2"],
                created_at=BEFORE,
                created_by_id=town.account_ids["secretary"],
            )
        )
    meeting_id = _schedule(database, town, rulebook, "member2")
    member2 = town.principal(database, "member2")
    with database.transaction(write=False) as session:
        assert is_organiser(session, member2, town.jinwan)
        assert not is_organiser(session, member2, town.baoyuan)
        assert visible_meeting(session, member2, meeting_id).id == meeting_id


def test_strangers_do_not_see_a_meeting(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _schedule(
        database, town, rulebook, audience=Audience.LIST, member_ids=(town.member_ids["member"],)
    )
    with database.transaction(write=False) as session:
        meeting = session.get(Meeting, meeting_id)
        assert meeting is not None
        for who, sees in [
            ("member", True),
            ("member2", False),
            ("secretary", True),
            ("instructor", True),
            ("admin", True),
            ("secretary2", False),
            ("member3", False),
        ]:
            assert can_view_meeting(session, town.principal(database, who), meeting) is sees, who
        with pytest.raises(NotFound) as hidden:
            visible_meeting(session, town.principal(database, "member2"), meeting_id)
        with pytest.raises(NotFound) as missing:
            visible_meeting(session, town.principal(database, "member2"), meeting_id + 1000)
        assert str(hidden.value) == str(missing.value)


def test_a_day_in_a_published_month_is_refused(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    _publish_december(database, town, rulebook)
    with pytest.raises(InvalidInput) as refused:
        _schedule(database, town, rulebook)
    assert set(refused.value.errors) == {"day"}


def test_edit_recomputes_invitees_and_keeps_check_ins_of_those_still_expected(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    ids = town.member_ids
    meeting_id = _schedule(database, town, rulebook)
    _check_in(database, town, meeting_id, "member")
    _check_in(database, town, meeting_id, "member2")
    secretary = town.principal(database, "secretary")
    with database.transaction() as session:
        edited = edit_meeting(
            session,
            secretary,
            rulebook,
            meeting_id,
            _input(
                town,
                title="改期的主题党日",
                audience=Audience.LIST,
                member_ids=(ids["member"], ids["secretary"]),
            ),
            now=BEFORE,
        )
        assert edited.title == "改期的主题党日"
    assert _invitees(database, meeting_id) == {ids["member"], ids["secretary"]}
    with database.transaction(write=False) as session:
        checked = set(
            session.scalars(
                select(MeetingAttendance.member_id).where(
                    MeetingAttendance.meeting_id == meeting_id
                )
            )
        )
    assert checked == {ids["member"]}


def test_cancel_needs_a_reason_and_a_scheduled_meeting(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _schedule(database, town, rulebook)
    secretary = town.principal(database, "secretary")
    with pytest.raises(InvalidInput) as refused, database.transaction() as session:
        cancel_meeting(session, secretary, meeting_id, " ", now=BEFORE)
    assert set(refused.value.errors) == {"reason"}
    with pytest.raises(PermissionDenied), database.transaction() as session:
        cancel_meeting(session, town.principal(database, "member"), meeting_id, "x", now=BEFORE)
    with database.transaction() as session:
        cancelled = cancel_meeting(session, secretary, meeting_id, "台风停课", now=BEFORE)
        assert cancelled.status is MeetingStatus.CANCELLED
    for action in ("cancel", "edit", "close"):
        with pytest.raises(Conflict), database.transaction() as session:
            if action == "cancel":
                cancel_meeting(session, secretary, meeting_id, "again", now=BEFORE)
            elif action == "edit":
                edit_meeting(session, secretary, rulebook, meeting_id, _input(town), now=BEFORE)
            else:
                close_meeting(session, secretary, rulebook, meeting_id, "纪要", now=AFTER)


# --- leave ------------------------------------------------------------------------------


def test_leave_is_asked_before_the_start_and_answered_with_a_reason(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _schedule(database, town, rulebook)
    member = town.principal(database, "member")
    secretary = town.principal(database, "secretary")
    with pytest.raises(InvalidInput), database.transaction() as session:
        request_leave(session, member, meeting_id, "  ", now=BEFORE)
    with pytest.raises(Conflict), database.transaction() as session:
        request_leave(session, member, meeting_id, "出差", now=STARTS)
    with database.transaction() as session:
        leave_id = request_leave(session, member, meeting_id, "出差", now=BEFORE).id
    # Asking again while pending updates the same request.
    with database.transaction() as session:
        again = request_leave(session, member, meeting_id, "去外地出差", now=BEFORE)
        assert again.id == leave_id and again.reason == "去外地出差"
    # Declining needs a reason; nobody decides their own; a member does not decide.
    with pytest.raises(InvalidInput) as refused, database.transaction() as session:
        decide_leave(session, secretary, leave_id, grant=False, reason="", now=BEFORE)
    assert set(refused.value.errors) == {"reason"}
    with pytest.raises(PermissionDenied), database.transaction() as session:
        decide_leave(session, member, leave_id, grant=True, reason="", now=BEFORE)
    with pytest.raises(PermissionDenied), database.transaction() as session:
        decide_leave(
            session,
            town.principal(database, "member2"),
            leave_id,
            grant=True,
            reason="",
            now=BEFORE,
        )
    with pytest.raises(NotFound), database.transaction() as session:
        decide_leave(
            session,
            town.principal(database, "secretary2"),
            leave_id,
            grant=True,
            reason="",
            now=BEFORE,
        )
    with database.transaction() as session:
        decided = decide_leave(
            session,
            secretary,
            leave_id,
            grant=False,
            reason="本次为换届选举,请务必参加",
            now=BEFORE,
        )
        assert decided.status is LeaveStatus.DECLINED
    # The member sees the answer; answered requests are not asked again or re-decided.
    with database.transaction(write=False) as session:
        detail = meeting_detail(session, member, meeting_id, now=BEFORE)
        assert detail.my_leave_answer == "本次为换届选举,请务必参加"
        assert [row.member_id for row in detail.rows] == [town.member_ids["member"]]
        assert detail.rows[0].leave_status is LeaveStatus.DECLINED
        assert not detail.can_request_leave
        summary = meetings_for(session, member, scope="upcoming", now=BEFORE).items[0]
        assert summary.my_leave_status is LeaveStatus.DECLINED
    with pytest.raises(Conflict), database.transaction() as session:
        request_leave(session, member, meeting_id, "还是出差", now=BEFORE)
    with pytest.raises(Conflict), database.transaction() as session:
        decide_leave(session, secretary, leave_id, grant=True, reason="", now=BEFORE)


def test_leave_refused_to_those_not_expected(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _schedule(
        database, town, rulebook, audience=Audience.LIST, member_ids=(town.member_ids["member"],)
    )
    with pytest.raises(NotFound), database.transaction() as session:
        request_leave(session, town.principal(database, "member2"), meeting_id, "x", now=BEFORE)
    with pytest.raises(NotFound), database.transaction() as session:
        request_leave(session, town.principal(database, "member3"), meeting_id, "x", now=BEFORE)
    # The secretary sees the meeting but is not expected at it.
    with pytest.raises(PermissionDenied), database.transaction() as session:
        request_leave(session, town.principal(database, "secretary"), meeting_id, "x", now=BEFORE)


def test_a_pending_request_can_be_withdrawn_by_its_member_only(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _schedule(database, town, rulebook)
    member = town.principal(database, "member")
    with database.transaction() as session:
        leave_id = request_leave(session, member, meeting_id, "出差", now=BEFORE).id
    with pytest.raises(NotFound), database.transaction() as session:
        withdraw_leave(session, town.principal(database, "member2"), leave_id, now=BEFORE)
    with database.transaction() as session:
        assert withdraw_leave(session, member, leave_id, now=BEFORE).status is LeaveStatus.WITHDRAWN
    with pytest.raises(Conflict), database.transaction() as session:
        withdraw_leave(session, member, leave_id, now=BEFORE)
    with database.transaction() as session:
        asked = request_leave(session, member, meeting_id, "又要出差", now=BEFORE)
        assert asked.id == leave_id and asked.status is LeaveStatus.PENDING


# --- closing ----------------------------------------------------------------------------


def _grant_leave(database: Database, town: SmallTown, meeting_id: int, who: str) -> None:
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


def test_closing_writes_attended_leave_and_absent_points_exactly(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    ids = town.member_ids
    meeting_id = _schedule(database, town, rulebook)
    _check_in(database, town, meeting_id, "member")
    _grant_leave(database, town, meeting_id, "member2")
    result = _close(database, town, rulebook, meeting_id)
    assert (result.attended, result.on_leave, result.absent) == (1, 1, 1)
    assert result.points == Decimal("0.0")  # +2 attended, -2 absent (the secretary)
    assert not result.already_closed
    assert _points(database, ids["member"]) == Decimal(2)
    assert _points(database, ids["member2"]) == Decimal(0)
    assert _points(database, ids["secretary"]) == Decimal(-2)
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
    _verify(database, rulebook)


def test_closing_refusals(database: Database, town: SmallTown, rulebook: Rulebook) -> None:
    meeting_id = _schedule(database, town, rulebook)
    with pytest.raises(Conflict):
        _close(database, town, rulebook, meeting_id, now=ENDS - timedelta(minutes=1))
    with pytest.raises(InvalidInput) as refused:
        _close(database, town, rulebook, meeting_id, minutes="   ")
    assert set(refused.value.errors) == {"minutes"}
    with pytest.raises(NotFound):
        _close(database, town, rulebook, meeting_id, who="secretary2")
    with pytest.raises(PermissionDenied):
        _close(database, town, rulebook, meeting_id, who="member")
    with pytest.raises(PermissionDenied):
        _close(database, town, rulebook, meeting_id, who="instructor")
    with database.transaction(write=False) as session:
        assert session.get(Meeting, meeting_id).status is MeetingStatus.SCHEDULED  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(LedgerLine)) == 0


def test_closing_twice_writes_the_points_once(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _schedule(database, town, rulebook)
    _check_in(database, town, meeting_id, "member")
    first = _close(database, town, rulebook, meeting_id)
    again = _close(database, town, rulebook, meeting_id, who="admin", minutes="另一份纪要")
    assert again.already_closed and not first.already_closed
    assert (again.attended, again.absent, again.points) == (1, 2, first.points)
    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(LedgerLine)) == 3
        assert session.get(Meeting, meeting_id).minutes == "学习了党章,讨论了下月安排。"  # type: ignore[union-attr]
    _verify(database, rulebook)


def _publish_december(database: Database, town: SmallTown, rulebook: Rulebook) -> None:
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


def test_closing_in_a_published_month_is_refused(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _schedule(database, town, rulebook)
    _publish_december(database, town, rulebook)
    with pytest.raises(Conflict):
        _close(database, town, rulebook, meeting_id, now=datetime(2027, 1, 3, tzinfo=UTC))
    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(MeetingAttendance)) == 0


def test_a_congress_is_scored_by_the_org_life_rule(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _schedule(database, town, rulebook, kind="congress")
    _check_in(database, town, meeting_id, "member")
    result = _close(database, town, rulebook, meeting_id)
    assert result.points == Decimal("-1.0")  # org_life: +1 attended, -1 absent twice
    _verify(database, rulebook)


# --- amendments and make-up -------------------------------------------------------------


def test_an_amendment_needs_a_reason_and_reconciles(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    ids = town.member_ids
    meeting_id = _schedule(database, town, rulebook)
    _check_in(database, town, meeting_id, "member")
    _close(database, town, rulebook, meeting_id)
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
    assert _points(database, ids["member2"]) == Decimal(-2)
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
    assert _points(database, ids["member2"]) == Decimal(0)
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
    assert _points(database, ids["member2"]) == Decimal(2)
    _verify(database, rulebook)


def test_an_amendment_is_refused_once_the_month_is_published(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _schedule(database, town, rulebook)
    _close(database, town, rulebook, meeting_id)
    _publish_december(database, town, rulebook)
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
    assert _points(database, town.member_ids["member"]) == Decimal(-2)
    _verify(database, rulebook)


def test_attending_a_make_up_reverses_the_absence_and_scores(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    ids = town.member_ids
    meeting_id = _schedule(database, town, rulebook)
    _check_in(database, town, meeting_id, "secretary")
    _grant_leave(database, town, meeting_id, "member2")
    _close(database, town, rulebook, meeting_id)
    assert _points(database, ids["member"]) == Decimal(-2)
    secretary = town.principal(database, "secretary")
    with pytest.raises(InvalidInput), database.transaction() as session:
        schedule_makeup(
            session,
            secretary,
            rulebook,
            meeting_id,
            _input(town, day=date(2026, 12, 12), member_ids=(ids["secretary"],)),
            now=AFTER,
        )
    with database.transaction() as session:
        makeup = schedule_makeup(
            session,
            secretary,
            rulebook,
            meeting_id,
            _input(town, kind="lecture", title="补课", day=date(2026, 12, 12)),
            now=AFTER,
        )
        makeup_id = makeup.id
        assert makeup.kind == "theme_day" and makeup.makeup_of_id == meeting_id
    assert _invitees(database, makeup_id) == {ids["member"], ids["member2"]}
    _check_in(database, town, makeup_id, "member")
    _check_in(database, town, makeup_id, "member2")
    _close(database, town, rulebook, makeup_id, now=datetime(2026, 12, 12, 4, 0, tzinfo=UTC))
    # The absence is reversed (-2 + 2) and the make-up attendance scores +2.
    assert _points(database, ids["member"]) == Decimal(2)
    assert _points(database, ids["member2"]) == Decimal(2)
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
    _verify(database, rulebook)


# --- views ------------------------------------------------------------------------------


def test_lists_and_home_show_what_each_sees(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _schedule(database, town, rulebook)
    other_id = _schedule(database, town, rulebook, "secretary2", branch_id=town.baoyuan)
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
    meeting_id = _schedule(database, town, rulebook)
    later = _input(town, title="补课", day=date(2026, 12, 12))
    # Not closed yet: no make-up.
    with pytest.raises(Conflict), database.transaction() as session:
        schedule_makeup(session, secretary, rulebook, meeting_id, later, now=AFTER)
    for who in ("member", "member2", "secretary"):
        _check_in(database, town, meeting_id, who)
    _close(database, town, rulebook, meeting_id)
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
    assert _points(database, ids["member"]) == Decimal(2)


def test_a_made_up_outcome_and_the_attendance_that_made_it_up_are_not_amended(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    ids = town.member_ids
    secretary = town.principal(database, "secretary")
    meeting_id = _schedule(database, town, rulebook)
    _close(database, town, rulebook, meeting_id)
    with database.transaction() as session:
        makeup_id = schedule_makeup(
            session,
            secretary,
            rulebook,
            meeting_id,
            _input(town, title="补课", day=date(2026, 12, 12), member_ids=(ids["member"],)),
            now=AFTER,
        ).id
    _check_in(database, town, makeup_id, "member")
    _close(database, town, rulebook, makeup_id, now=datetime(2026, 12, 12, 4, 0, tzinfo=UTC))
    for target in (meeting_id, makeup_id):
        with pytest.raises(Conflict), database.transaction() as session:
            amend_attendance(
                session, secretary, rulebook, target, ids["member"], Outcome.ABSENT, "x", now=AFTER
            )
    # member2 still absent from the original (-2); member made it up (+2).
    assert _points(database, ids["member"]) == Decimal(2)
    assert _points(database, ids["member2"]) == Decimal(-2)
    _verify(database, rulebook)


def test_leave_is_not_decided_once_the_meeting_is_closed(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _schedule(database, town, rulebook)
    with database.transaction() as session:
        leave_id = request_leave(
            session, town.principal(database, "member"), meeting_id, "出差", now=BEFORE
        ).id
    # Still pending at closing: the member counts as absent.
    result = _close(database, town, rulebook, meeting_id)
    assert (result.attended, result.on_leave, result.absent) == (0, 0, 3)
    with pytest.raises(Conflict), database.transaction() as session:
        decide_leave(
            session,
            town.principal(database, "secretary"),
            leave_id,
            grant=True,
            reason="",
            now=AFTER,
        )
    # An office account without a member record is never expected.
    with pytest.raises(PermissionDenied), database.transaction() as session:
        request_leave(session, town.principal(database, "admin"), meeting_id, "x", now=BEFORE)


def test_the_detail_offers_only_what_the_service_accepts(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = _schedule(database, town, rulebook)
    with database.transaction(write=False) as session:
        member = meeting_detail(session, town.principal(database, "member"), meeting_id, now=BEFORE)
        assert member.can_request_leave and not member.can_withdraw_leave
        assert not (member.can_edit or member.can_close or member.can_checkin_screen)
        instructor = meeting_detail(
            session, town.principal(database, "instructor"), meeting_id, now=AFTER
        )
        assert not (instructor.can_close or instructor.can_edit or instructor.can_decide_leave)
        assert len(instructor.rows) == 3
    _close(database, town, rulebook, meeting_id)
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
