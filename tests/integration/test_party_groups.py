"""Party groups (党小组), meeting organisers and calendar feeds, on the real database:
who may keep them, the refusals, the audit lines, and the feed's contents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar
from sqlalchemy import select

from service.accounts.principal import Principal
from service.audit.capture import acting
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.meetings.calendar import calendar_for_token, current_token, feed_token
from service.meetings.groups import (
    add_organiser,
    branch_groups,
    branch_organisers,
    create_group,
    delete_group,
    group_member_ids,
    organiser_candidates,
    remove_organiser,
    rename_group,
    set_group_members,
)
from service.persistence.db import Database
from service.persistence.meetings import (
    Audience,
    CalendarFeed,
    Meeting,
    MeetingInvitee,
    MeetingStatus,
    PartyGroup,
)
from service.persistence.models import AuditEvent, Member
from service.persistence.types import utcnow
from tests.conftest import SmallTown

SECRET = "a-test-secret-key-of-some-length"
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def who(database: Database, town: SmallTown, username: str) -> Principal:
    return town.principal(database, username)


def call(database: Database, town: SmallTown, username: str, fn: Any, *args: Any, **kw: Any) -> Any:
    principal = who(database, town, username)
    with acting(principal.account_id, "198.51.100.9"), database.transaction() as session:
        return fn(session, principal, *args, **kw)


def add_meeting(
    database: Database,
    town: SmallTown,
    *,
    branch: str = "jinwan",
    invitees: tuple[str, ...] = ("member",),
    starts: datetime = NOW + timedelta(days=3),
    status: MeetingStatus = MeetingStatus.SCHEDULED,
    group_id: int | None = None,
    title: str = "十二月主题党日",
    agenda: str = "学习党章",
) -> int:
    with database.transaction() as session:
        meeting = Meeting(
            branch_id=getattr(town, branch),
            kind="theme_day",
            title=title,
            starts_at=starts,
            ends_at=starts + timedelta(hours=2),
            day=starts.date(),
            period=starts.strftime("%Y-%m"),
            place="金湾园区党群服务中心",
            agenda=agenda,
            audience=Audience.GROUP if group_id else Audience.BRANCH,
            party_group_id=group_id,
            status=status,
            checkin_secret="0" * 64,
            created_at=NOW - timedelta(days=10),
            created_by_id=town.account_ids["secretary"],
        )
        if status is MeetingStatus.CANCELLED:
            meeting.cancelled_at = NOW - timedelta(days=1)
            meeting.cancel_reason = "场地临时占用"
        session.add(meeting)
        session.flush()
        for name in invitees:
            session.add(MeetingInvitee(meeting_id=meeting.id, member_id=town.member_ids[name]))
        return meeting.id


# --- groups --------------------------------------------------------------------------------


def test_the_secretary_keeps_the_branchs_groups(database: Database, town: SmallTown) -> None:
    group = call(database, town, "secretary", create_group, town.jinwan, " 第一党小组 ", now=NOW)
    assert group.name == "第一党小组"
    ids = [town.member_ids["member"], town.member_ids["member2"]]
    view = call(database, town, "secretary", set_group_members, group.id, ids)
    assert set(view.member_ids) == set(ids)
    with database.transaction() as session:
        assert set(group_member_ids(session, group.id)) == set(ids)
    call(database, town, "secretary", rename_group, group.id, "一组")
    groups = call(database, town, "instructor", branch_groups, town.jinwan)
    assert [(g.name, len(g.members)) for g in groups] == [("一组", 2)]
    # Members can be taken out again.
    view = call(database, town, "admin", set_group_members, group.id, [ids[0]])
    assert view.member_ids == (ids[0],)


def test_a_name_is_required_and_unique_in_the_branch(database: Database, town: SmallTown) -> None:
    call(database, town, "secretary", create_group, town.jinwan, "第一党小组", now=NOW)
    for name in ("", "   ", "第一党小组", "x" * 61):
        with pytest.raises(InvalidInput) as refused:
            call(database, town, "secretary", create_group, town.jinwan, name, now=NOW)
        assert "name" in refused.value.errors
    # Another branch may use the same name.
    call(database, town, "secretary2", create_group, town.baoyuan, "第一党小组", now=NOW)
    second = call(database, town, "secretary", create_group, town.jinwan, "第二党小组", now=NOW)
    with pytest.raises(InvalidInput):
        call(database, town, "secretary", rename_group, second.id, "第一党小组")
    # Keeping its own name is no clash.
    call(database, town, "secretary", rename_group, second.id, "第二党小组")


@pytest.mark.parametrize("username", ["member", "instructor", "secretary2"])
def test_only_the_secretary_or_the_office_changes_groups(
    database: Database, town: SmallTown, username: str
) -> None:
    group = call(database, town, "secretary", create_group, town.jinwan, "第一党小组", now=NOW)
    with pytest.raises(PermissionDenied):
        call(database, town, username, create_group, town.jinwan, "第二党小组", now=NOW)
    with pytest.raises(PermissionDenied):
        call(database, town, username, rename_group, group.id, "改名")
    with pytest.raises(PermissionDenied):
        call(database, town, username, set_group_members, group.id, [])
    with pytest.raises(PermissionDenied):
        call(database, town, username, delete_group, group.id)


def test_strangers_do_not_read_a_branchs_groups(database: Database, town: SmallTown) -> None:
    for username in ("member", "secretary2"):
        with pytest.raises(PermissionDenied):
            call(database, town, username, branch_groups, town.jinwan)
    with pytest.raises(NotFound):
        call(database, town, "admin", branch_groups, 999_999)
    with pytest.raises(NotFound):
        call(database, town, "admin", rename_group, 999_999, "x")


def test_members_come_from_the_branch_and_sit_in_one_group(
    database: Database, town: SmallTown
) -> None:
    first = call(database, town, "secretary", create_group, town.jinwan, "一组", now=NOW)
    second = call(database, town, "secretary", create_group, town.jinwan, "二组", now=NOW)
    with pytest.raises(InvalidInput) as refused:
        call(database, town, "secretary", set_group_members, first.id, [town.member_ids["member3"]])
    assert "member_ids" in refused.value.errors
    call(database, town, "secretary", set_group_members, first.id, [town.member_ids["member"]])
    with pytest.raises(InvalidInput) as refused:
        call(
            database,
            town,
            "secretary",
            set_group_members,
            second.id,
            [town.member_ids["member"], town.member_ids["member2"]],
        )
    message = str(refused.value.errors["member_ids"])
    assert "张伟" in message and "一组" in message
    # Nothing of the refused change stayed.
    groups = call(database, town, "secretary", branch_groups, town.jinwan)
    assert {g.name: g.member_ids for g in groups} == {
        "一组": (town.member_ids["member"],),
        "二组": (),
    }


def test_a_member_who_left_the_branch_is_no_longer_expected_with_the_group(
    database: Database, town: SmallTown
) -> None:
    group = call(database, town, "secretary", create_group, town.jinwan, "一组", now=NOW)
    ids = [town.member_ids["member"], town.member_ids["member2"]]
    call(database, town, "secretary", set_group_members, group.id, ids)
    with database.transaction() as session:
        member = session.get(Member, town.member_ids["member2"])
        assert member is not None
        member.branch_id = town.baoyuan
    with database.transaction() as session:
        assert group_member_ids(session, group.id) == [town.member_ids["member"]]


def test_a_group_a_scheduled_meeting_expects_cannot_be_deleted(
    database: Database, town: SmallTown
) -> None:
    group = call(database, town, "secretary", create_group, town.jinwan, "一组", now=NOW)
    call(database, town, "secretary", set_group_members, group.id, [town.member_ids["member"]])
    meeting_id = add_meeting(database, town, group_id=group.id)
    held_id = add_meeting(
        database, town, group_id=group.id, status=MeetingStatus.CLOSED, starts=NOW - timedelta(1)
    )
    with pytest.raises(Conflict):
        call(database, town, "secretary", delete_group, group.id)
    with database.transaction() as session:
        meeting = session.get(Meeting, meeting_id)
        assert meeting is not None
        meeting.status = MeetingStatus.CANCELLED
    call(database, town, "secretary", delete_group, group.id)
    with database.transaction(write=False) as session:
        assert session.get(PartyGroup, group.id) is None
        held = session.get(Meeting, held_id)
        assert held is not None and held.party_group_id is None
        # Who was expected stays on record.
        assert session.scalars(
            select(MeetingInvitee.member_id).where(MeetingInvitee.meeting_id == held_id)
        ).all() == [town.member_ids["member"]]


def test_group_changes_are_audited(database: Database, town: SmallTown) -> None:
    group = call(database, town, "secretary", create_group, town.jinwan, "一组", now=NOW)
    call(database, town, "secretary", set_group_members, group.id, [town.member_ids["member"]])
    call(database, town, "secretary", set_group_members, group.id, [])
    call(database, town, "secretary", delete_group, group.id)
    with database.transaction(write=False) as session:
        kinds = session.scalars(
            select(AuditEvent.kind)
            .where(AuditEvent.object_type.in_(["party_group", "party_group_member"]))
            .order_by(AuditEvent.id)
        ).all()
        branches = set(
            session.scalars(
                select(AuditEvent.branch_id).where(AuditEvent.object_type == "party_group")
            )
        )
        actors = set(
            session.scalars(
                select(AuditEvent.actor_id).where(AuditEvent.object_type == "party_group")
            )
        )
    assert kinds == [
        "party_group.create",
        "party_group_member.create",
        "party_group_member.delete",
        "party_group.delete",
    ]
    assert branches == {town.jinwan}
    assert actors == {town.account_ids["secretary"]}


# --- organisers ----------------------------------------------------------------------------


def test_the_secretary_names_and_removes_organisers(database: Database, town: SmallTown) -> None:
    candidates = call(database, town, "secretary", organiser_candidates, town.jinwan)
    # The secretary organises already; the exempt elder has no account.
    assert {c.member_id for c in candidates} == {
        town.member_ids["member"],
        town.member_ids["member2"],
    }
    organiser = call(
        database,
        town,
        "secretary",
        add_organiser,
        town.jinwan,
        town.account_ids["member2"],
        now=NOW,
    )
    views = call(database, town, "instructor", branch_organisers, town.jinwan)
    assert [(v.account_id, v.member_name) for v in views] == [(town.account_ids["member2"], "李娜")]
    # A named organiser reads the groups (to schedule a group's meeting).
    assert call(database, town, "member2", branch_groups, town.jinwan) == []
    with pytest.raises(InvalidInput):
        call(
            database,
            town,
            "secretary",
            add_organiser,
            town.jinwan,
            town.account_ids["member2"],
            now=NOW,
        )
    call(database, town, "secretary", remove_organiser, town.jinwan, organiser.id)
    assert call(database, town, "secretary", branch_organisers, town.jinwan) == []
    with database.transaction(write=False) as session:
        kinds = session.scalars(
            select(AuditEvent.kind).where(AuditEvent.object_type == "meeting_organiser")
        ).all()
    assert kinds == ["meeting_organiser.create", "meeting_organiser.delete"]


@pytest.mark.parametrize(
    "account",
    ["member3", "secretary", "admin", "instructor"],
    ids=["other-branch", "the-secretary", "no-member", "no-member-instructor"],
)
def test_an_organiser_is_a_member_of_the_branch(
    database: Database, town: SmallTown, account: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        call(
            database,
            town,
            "secretary",
            add_organiser,
            town.jinwan,
            town.account_ids[account],
            now=NOW,
        )
    assert "account_id" in refused.value.errors


@pytest.mark.parametrize("username", ["member", "instructor", "secretary2"])
def test_only_the_secretary_or_the_office_names_organisers(
    database: Database, town: SmallTown, username: str
) -> None:
    with pytest.raises(PermissionDenied):
        call(
            database,
            town,
            username,
            add_organiser,
            town.jinwan,
            town.account_ids["member2"],
            now=NOW,
        )
    organiser = call(
        database, town, "admin", add_organiser, town.jinwan, town.account_ids["member2"], now=NOW
    )
    with pytest.raises(PermissionDenied):
        call(database, town, username, remove_organiser, town.jinwan, organiser.id)
    # Through another branch's address, the organiser is not found.
    with pytest.raises(NotFound):
        call(database, town, "secretary2", remove_organiser, town.baoyuan, organiser.id)


# --- calendar feeds ------------------------------------------------------------------------


def feed(database: Database, token: str, now: datetime = NOW) -> Calendar | None:
    with database.transaction(write=False) as session:
        body = calendar_for_token(session, token, now=now, base_url="https://jifen.example.cn")
    return None if body is None else Calendar.from_ical(body)


def events(calendar: Calendar) -> dict[str, Any]:
    return {str(e["uid"]): e for e in calendar.walk("VEVENT")}


def test_the_feed_token_is_stable_until_rotated(database: Database, town: SmallTown) -> None:
    member = who(database, town, "member")
    with database.transaction(write=False) as session:
        assert current_token(session, member, secret=SECRET) is None
    with database.transaction() as session:
        token = feed_token(session, member, secret=SECRET, now=NOW)
    with database.transaction() as session:
        assert feed_token(session, member, secret=SECRET, now=NOW + timedelta(hours=1)) == token
        assert current_token(session, member, secret=SECRET) == token
        stored = session.get(CalendarFeed, member.account_id)
        assert stored is not None and token not in stored.token_hash
    assert feed(database, token) is not None
    with database.transaction() as session:
        # Rotated within the same second: still a new token.
        new = feed_token(session, member, secret=SECRET, now=NOW, rotate=True)
    assert new != token
    assert feed(database, token) is None
    assert feed(database, new) is not None
    # Another server key: the stored link cannot be shown again; a new one is made.
    with database.transaction() as session:
        assert current_token(session, member, secret="another-secret-key-0000") is None
        other = feed_token(session, member, secret="another-secret-key-0000", now=NOW)
    assert other not in (token, new)
    assert feed(database, "not-a-token") is None
    assert feed(database, "") is None


def test_the_feed_lists_the_members_meetings_only(database: Database, town: SmallTown) -> None:
    mine = add_meeting(database, town, invitees=("member", "member2"))
    cancelled = add_meeting(database, town, status=MeetingStatus.CANCELLED, title="取消的会")
    others = add_meeting(database, town, branch="baoyuan", invitees=("member3",), title="宝元的会")
    not_me = add_meeting(database, town, invitees=("member2",), title="没请我")
    old = add_meeting(database, town, starts=NOW - timedelta(days=91), title="很久以前")
    recent = add_meeting(database, town, starts=NOW - timedelta(days=30), title="上个月")
    with database.transaction() as session:
        token = feed_token(session, who(database, town, "member"), secret=SECRET, now=NOW)
    calendar = feed(database, token)
    assert calendar is not None
    found = events(calendar)
    assert set(found) == {f"meeting-{i}@jifen" for i in (mine, cancelled, recent)}
    assert f"meeting-{others}@jifen" not in found and f"meeting-{not_me}@jifen" not in found
    assert f"meeting-{old}@jifen" not in found
    event = found[f"meeting-{mine}@jifen"]
    assert event.decoded("dtstart") == NOW + timedelta(days=3)
    assert event.decoded("dtstart").utcoffset() == timedelta(0)
    assert event.decoded("dtend") == NOW + timedelta(days=3, hours=2)
    assert "十二月主题党日" in str(event["summary"])
    assert "Theme party day" in str(event["summary"])
    assert str(event["location"]) == "金湾园区党群服务中心"
    description = str(event["description"])
    assert "学习党章" in description
    assert f"https://jifen.example.cn/meetings/{mine}" in description
    assert str(event["status"]) == "CONFIRMED"
    assert str(found[f"meeting-{cancelled}@jifen"]["status"]) == "CANCELLED"
    assert "场地临时占用" not in calendar.to_ical().decode()


def test_the_feed_of_an_organiser_holds_the_branchs_meetings(
    database: Database, town: SmallTown
) -> None:
    jinwan = add_meeting(database, town, invitees=("member",))
    baoyuan = add_meeting(database, town, branch="baoyuan", invitees=("member3",))
    # The instructor is neither expected nor an organiser: an empty calendar.
    with database.transaction() as session:
        token = feed_token(session, who(database, town, "instructor"), secret=SECRET, now=NOW)
        secretary = feed_token(session, who(database, town, "secretary"), secret=SECRET, now=NOW)
    calendar = feed(database, token)
    assert calendar is not None and events(calendar) == {}
    calendar = feed(database, secretary)
    assert calendar is not None and set(events(calendar)) == {f"meeting-{jinwan}@jifen"}
    call(
        database,
        town,
        "secretary2",
        add_organiser,
        town.baoyuan,
        town.account_ids["member3"],
        now=NOW,
    )
    with database.transaction() as session:
        named = feed_token(session, who(database, town, "member3"), secret=SECRET, now=NOW)
    calendar = feed(database, named)
    assert calendar is not None and set(events(calendar)) == {f"meeting-{baoyuan}@jifen"}


def test_a_disabled_accounts_feed_is_gone(database: Database, town: SmallTown) -> None:
    from service.persistence.models import Account

    with database.transaction() as session:
        token = feed_token(session, who(database, town, "member"), secret=SECRET, now=NOW)
    with database.transaction() as session:
        account = session.get(Account, town.account_ids["member"])
        assert account is not None
        account.is_active = False
        account.disabled_at = utcnow()
    assert feed(database, token) is None


def test_a_feed_rotation_is_audited_without_the_secret(database: Database, town: SmallTown) -> None:
    member = who(database, town, "member")
    with acting(member.account_id, "198.51.100.9"), database.transaction() as session:
        token = feed_token(session, member, secret=SECRET, now=NOW)
        feed_token(session, member, secret=SECRET, now=NOW, rotate=True)
    with database.transaction(write=False) as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.object_type == "calendar_feed")
        ).all()
    assert [r.kind for r in rows] == ["calendar_feed.create", "calendar_feed.update"]
    for row in rows:
        assert token not in (row.after or "")
        assert "token_hash" in (row.after or "")
