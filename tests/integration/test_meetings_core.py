"""Meetings (组织生活), service level on a real database: scheduling, who is expected and
leave. Fixed dates in December 2026, scored by ruleset 2026.2."""

from __future__ import annotations

from datetime import date, time

import pytest
from sqlalchemy import func, select

from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.meetings.access import can_view_meeting, is_organiser, visible_meeting
from service.meetings.closing import close_meeting
from service.meetings.leave import decide_leave, request_leave, withdraw_leave
from service.meetings.schedule import (
    cancel_meeting,
    edit_meeting,
)
from service.meetings.views import meeting_detail, meetings_for
from service.persistence.db import Database
from service.persistence.meetings import (
    Audience,
    LeaveStatus,
    Meeting,
    MeetingAttendance,
    MeetingOrganiser,
    MeetingStatus,
    PartyGroup,
    PartyGroupMember,
)
from service.persistence.models import (
    LedgerLine,
    Member,
    Membership,
    MemberStatus,
    Organisation,
    OrganisationKind,
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
    invitees_of,
    meeting_input,
    publish_december,
    schedule,
    verify_ok,
)

# --- scheduling -------------------------------------------------------------------------


def test_a_branch_meeting_expects_its_active_non_exempt_members(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = schedule(database, town, rulebook)
    ids = town.member_ids
    assert invitees_of(database, meeting_id) == {ids["member"], ids["member2"], ids["secretary"]}
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
    meeting_id = schedule(database, town, rulebook)
    assert new_id in invitees_of(database, meeting_id)
    assert town.member_ids["member3"] not in invitees_of(database, meeting_id)


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
    meeting_id = schedule(
        database, town, rulebook, kind="group", audience=Audience.GROUP, party_group_id=group_id
    )
    assert invitees_of(database, meeting_id) == {town.member_ids["member"]}
    with pytest.raises(InvalidInput) as refused:
        schedule(
            database, town, rulebook, kind="group", audience=Audience.GROUP, party_group_id=other_id
        )
    assert set(refused.value.errors) == {"party_group_id"}


def test_a_list_meeting_expects_the_chosen_members_of_the_branch_only(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    ids = town.member_ids
    meeting_id = schedule(
        database, town, rulebook, audience=Audience.LIST, member_ids=(ids["member2"],)
    )
    assert invitees_of(database, meeting_id) == {ids["member2"]}
    for chosen in ((), (ids["member"], ids["member3"])):
        with pytest.raises(InvalidInput) as refused:
            schedule(database, town, rulebook, audience=Audience.LIST, member_ids=chosen)
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
        schedule(database, town, rulebook, admin, **changes)
    assert field in refused.value.errors
    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Meeting)) == 0


def test_only_organisers_schedule(database: Database, town: SmallTown, rulebook: Rulebook) -> None:
    for who in ("member", "instructor", "secretary2"):
        with pytest.raises(PermissionDenied):
            schedule(database, town, rulebook, who)
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
    meeting_id = schedule(database, town, rulebook, "member2")
    member2 = town.principal(database, "member2")
    with database.transaction(write=False) as session:
        assert is_organiser(session, member2, town.jinwan)
        assert not is_organiser(session, member2, town.baoyuan)
        assert visible_meeting(session, member2, meeting_id).id == meeting_id


def test_strangers_do_not_see_a_meeting(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = schedule(
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
    publish_december(database, town, rulebook)
    with pytest.raises(InvalidInput) as refused:
        schedule(database, town, rulebook)
    assert set(refused.value.errors) == {"day"}


def test_edit_recomputes_invitees_and_keeps_check_ins_of_those_still_expected(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    ids = town.member_ids
    meeting_id = schedule(database, town, rulebook)
    check_in(database, town, meeting_id, "member")
    check_in(database, town, meeting_id, "member2")
    secretary = town.principal(database, "secretary")
    with database.transaction() as session:
        edited = edit_meeting(
            session,
            secretary,
            rulebook,
            meeting_id,
            meeting_input(
                town,
                title="改期的主题党日",
                audience=Audience.LIST,
                member_ids=(ids["member"], ids["secretary"]),
            ),
            now=BEFORE,
        )
        assert edited.title == "改期的主题党日"
    assert invitees_of(database, meeting_id) == {ids["member"], ids["secretary"]}
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
    meeting_id = schedule(database, town, rulebook)
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
                edit_meeting(
                    session, secretary, rulebook, meeting_id, meeting_input(town), now=BEFORE
                )
            else:
                close_meeting(session, secretary, rulebook, meeting_id, "纪要", now=AFTER)


# --- leave ------------------------------------------------------------------------------


def test_leave_is_asked_before_the_start_and_answered_with_a_reason(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = schedule(database, town, rulebook)
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
    meeting_id = schedule(
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
    meeting_id = schedule(database, town, rulebook)
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


def test_leave_is_not_decided_once_the_meeting_is_closed(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = schedule(database, town, rulebook)
    with database.transaction() as session:
        leave_id = request_leave(
            session, town.principal(database, "member"), meeting_id, "出差", now=BEFORE
        ).id
    # Still pending at closing: the member counts as absent.
    result = close(database, town, rulebook, meeting_id)
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


def test_who_is_expected_follows_the_membership_on_the_meetings_day(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    """李娜 (member2) moved from 宝元 to 金湾 on 10 December: a meeting of 5 December
    expects her in 宝元, one of 12 December in 金湾."""
    ids = town.member_ids
    with database.transaction() as session:
        session.add_all(
            [
                Membership(
                    member_id=ids["member2"], branch_id=town.baoyuan, to_date=date(2026, 12, 10)
                ),
                Membership(
                    member_id=ids["member2"], branch_id=town.jinwan, from_date=date(2026, 12, 10)
                ),
            ]
        )
    early_jinwan = schedule(database, town, rulebook)
    early_baoyuan = schedule(database, town, rulebook, "secretary2", branch_id=town.baoyuan)
    late_jinwan = schedule(database, town, rulebook, day=date(2026, 12, 12))
    assert ids["member2"] not in invitees_of(database, early_jinwan)
    assert ids["member2"] in invitees_of(database, early_baoyuan)
    assert ids["member2"] in invitees_of(database, late_jinwan)
    # Her attendance on 5 December counts for 宝元.
    close(database, town, rulebook, early_baoyuan, who="secretary2")
    with database.transaction(write=False) as session:
        branch = session.scalar(
            select(LedgerLine.branch_id).where(LedgerLine.member_id == ids["member2"])
        )
    assert branch == town.baoyuan
    verify_ok(database, rulebook)
