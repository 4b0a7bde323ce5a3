"""Check-in (签到) on the real database: the rotating code, the window, who may check in
and who may tick, and two taps at once writing one row."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from service.audit.capture import acting
from service.kernel.errors import Conflict, NotFound, PermissionDenied
from service.kernel.periods import period_of, town_today
from service.meetings.checkin import (
    attendance_sheet,
    check_in,
    checkin_screen,
    checkin_window,
    code_is_valid,
    current_code,
    seconds_left,
    tick,
)
from service.persistence.db import Database
from service.persistence.meetings import (
    CheckinMethod,
    Meeting,
    MeetingAttendance,
    MeetingInvitee,
    MeetingOrganiser,
    MeetingStatus,
)
from service.persistence.models import AuditEvent
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

TIMEZONE = "Asia/Shanghai"
# 19:00 in the town on a December evening (ruleset 2026.2: from 30 minutes before the
# start to 20 after).
START = datetime(2026, 12, 10, 11, 0, tzinfo=UTC)


def make_meeting(
    database: Database,
    town: SmallTown,
    *,
    starts_at: datetime = START,
    invitees: Iterable[str] = ("member", "member2"),
    branch: str = "jinwan",
    status: MeetingStatus = MeetingStatus.SCHEDULED,
    title: str = "十二月主题党日",
) -> int:
    """A meeting of the branch with the named members expected, inserted directly (the
    scheduling service is another module's)."""
    day = town_today(starts_at, TIMEZONE)
    with database.transaction() as session:
        meeting = Meeting(
            branch_id=getattr(town, branch),
            kind="theme_day",
            title=title,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=2),
            day=day,
            period=period_of(day),
            place="党群服务中心三楼",
            checkin_secret=secrets.token_hex(32),
            status=status,
            created_at=starts_at - timedelta(days=7),
            created_by_id=town.account_ids["secretary"],
        )
        session.add(meeting)
        session.flush()
        for username in invitees:
            session.add(MeetingInvitee(meeting_id=meeting.id, member_id=town.member_ids[username]))
        return meeting.id


def load(database: Database, meeting_id: int) -> Meeting:
    with database.transaction(write=False) as session:
        meeting = session.get(Meeting, meeting_id)
        assert meeting is not None
        session.expunge(meeting)
        return meeting


def code_at(database: Database, meeting_id: int, now: datetime) -> str:
    return current_code(load(database, meeting_id), now)


def rows(database: Database, meeting_id: int) -> list[MeetingAttendance]:
    with database.transaction(write=False) as session:
        found = list(
            session.scalars(
                select(MeetingAttendance)
                .where(MeetingAttendance.meeting_id == meeting_id)
                .order_by(MeetingAttendance.member_id)
            )
        )
        session.expunge_all()
        return found


def try_check_in(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    username: str,
    meeting_id: int,
    now: datetime,
    code: str | None = None,
) -> MeetingAttendance:
    actor = town.principal(database, username)
    code = code if code is not None else code_at(database, meeting_id, now)
    with database.transaction() as session:
        row = check_in(session, actor, rulebook, meeting_id, code, now=now)
        session.flush()
        session.expunge(row)
        return row


def try_tick(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    username: str,
    meeting_id: int,
    member: str,
    now: datetime,
    *,
    present: bool = True,
) -> None:
    actor = town.principal(database, username)
    with database.transaction() as session:
        tick(
            session,
            actor,
            rulebook,
            meeting_id,
            town.member_ids[member],
            present=present,
            now=now,
        )


# --- the code ---------------------------------------------------------------------------


def test_the_code_is_six_digits_and_changes_every_thirty_seconds(
    database: Database, town: SmallTown
) -> None:
    meeting = load(database, make_meeting(database, town))
    step_start = datetime(2026, 12, 10, 10, 50, 0, tzinfo=UTC)  # a multiple of 30 s
    code = current_code(meeting, step_start)
    assert len(code) == 6 and code.isdigit()
    assert current_code(meeting, step_start + timedelta(seconds=29)) == code
    assert current_code(meeting, step_start + timedelta(seconds=30)) != code
    assert seconds_left(step_start) == 30
    assert seconds_left(step_start + timedelta(seconds=29)) == 1
    # Valid for its own step and the next one (a scan at the edge), not after.
    assert code_is_valid(meeting, code, step_start + timedelta(seconds=45))
    assert not code_is_valid(meeting, code, step_start + timedelta(seconds=60))


def test_two_meetings_never_share_codes(database: Database, town: SmallTown) -> None:
    first = load(database, make_meeting(database, town))
    second = load(database, make_meeting(database, town))
    moments = [START + timedelta(seconds=30 * n) for n in range(40)]
    assert sum(current_code(first, m) == current_code(second, m) for m in moments) <= 1


def test_the_window_comes_from_the_ruleset_in_force_on_the_day(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    opens, closes = checkin_window(load(database, make_meeting(database, town)), rulebook)
    assert opens == START - timedelta(minutes=30)
    assert closes == START + timedelta(minutes=20)


# --- checking in ------------------------------------------------------------------------


def test_a_member_checks_in_with_the_current_code(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = make_meeting(database, town)
    now = START - timedelta(minutes=5)
    row = try_check_in(database, town, rulebook, "member", meeting_id, now)
    assert row.checked_in_at == now
    assert row.method is CheckinMethod.CODE
    assert row.outcome is None
    assert row.recorded_by_id == town.account_ids["member"]
    assert row.branch_id == town.jinwan
    assert [r.member_id for r in rows(database, meeting_id)] == [town.member_ids["member"]]


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (-timedelta(minutes=30), True),
        (-timedelta(minutes=30, seconds=1), False),
        (timedelta(minutes=20), True),
        (timedelta(minutes=20, seconds=1), False),
    ],
)
def test_the_window_edges(
    database: Database, town: SmallTown, rulebook: Rulebook, offset: timedelta, ok: bool
) -> None:
    meeting_id = make_meeting(database, town)
    now = START + offset
    if ok:
        try_check_in(database, town, rulebook, "member", meeting_id, now)
        assert len(rows(database, meeting_id)) == 1
        return
    with pytest.raises(Conflict) as refused:
        try_check_in(database, town, rulebook, "member", meeting_id, now)
    expected = "opens at 18:30" if offset < timedelta(0) else "closed at 19:20"
    assert expected in str(refused.value.message)
    assert rows(database, meeting_id) == []


def test_the_previous_code_still_counts_an_older_one_has_expired(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = make_meeting(database, town)
    shown = START - timedelta(minutes=10)
    code = code_at(database, meeting_id, shown)
    with pytest.raises(Conflict) as refused:
        try_check_in(
            database, town, rulebook, "member", meeting_id, shown + timedelta(seconds=61), code
        )
    assert "expired" in str(refused.value.message)
    assert rows(database, meeting_id) == []
    # Scanned at the end of its step, sent in the next: accepted.
    try_check_in(
        database, town, rulebook, "member", meeting_id, shown + timedelta(seconds=30), code
    )
    assert len(rows(database, meeting_id)) == 1


def test_another_meetings_code_is_refused(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    here = make_meeting(database, town)
    elsewhere = make_meeting(database, town, title="党小组会")
    now = START
    with pytest.raises(Conflict) as refused:
        try_check_in(
            database, town, rulebook, "member", here, now, code_at(database, elsewhere, now)
        )
    assert "not this meeting's" in str(refused.value.message)
    with pytest.raises(Conflict) as garbled:
        try_check_in(database, town, rulebook, "member", here, now, "12ab56")
    assert "six digits" in str(garbled.value.message)
    assert rows(database, here) == [] and rows(database, elsewhere) == []


def test_after_ten_wrong_codes_even_the_right_one_is_refused(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = make_meeting(database, town)
    actor = town.principal(database, "member")
    right = code_at(database, meeting_id, START)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    messages = []
    for _attempt in range(10):
        # Committed with the refusal, as the page does: the failure must count.
        with database.transaction() as session:
            try:
                check_in(session, actor, rulebook, meeting_id, wrong, now=START)
            except Conflict as exc:
                messages.append(str(exc.message))
    assert len(messages) == 10 and "Too many" not in messages[-1]
    with pytest.raises(Conflict, match="Too many wrong codes"):
        try_check_in(database, town, rulebook, "member", meeting_id, START, right)
    assert rows(database, meeting_id) == []
    with database.transaction(write=False) as session:
        counted = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.kind == "checkin.wrong_code",
                AuditEvent.actor_id == town.account_ids["member"],
            )
        )
    assert counted == 10
    # Another member of the same meeting is not held back by it.
    try_check_in(database, town, rulebook, "member2", meeting_id, START)


@pytest.mark.parametrize("username", ["member3", "secretary2", "instructor", "admin"])
def test_someone_not_expected_learns_nothing(
    database: Database, town: SmallTown, rulebook: Rulebook, username: str
) -> None:
    meeting_id = make_meeting(database, town)
    with pytest.raises(NotFound) as refused:
        try_check_in(database, town, rulebook, username, meeting_id, START)
    with pytest.raises(NotFound) as missing:
        try_check_in(database, town, rulebook, username, meeting_id + 1000, START, "123456")
    assert str(refused.value.message) == str(missing.value.message)
    assert rows(database, meeting_id) == []


def test_the_secretary_not_on_the_list_is_told_so(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = make_meeting(database, town)
    with pytest.raises(Conflict) as refused:
        try_check_in(database, town, rulebook, "secretary", meeting_id, START)
    assert "not on this meeting's list" in str(refused.value.message)


def test_checking_in_twice_is_refused_and_keeps_the_first_time(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = make_meeting(database, town)
    first = START - timedelta(minutes=12)
    try_check_in(database, town, rulebook, "member", meeting_id, first)
    with pytest.raises(Conflict) as refused:
        try_check_in(database, town, rulebook, "member", meeting_id, START)
    assert "already checked in at 18:48" in str(refused.value.message)
    (row,) = rows(database, meeting_id)
    assert row.checked_in_at == first


@pytest.mark.parametrize(
    ("status", "words"),
    [(MeetingStatus.CLOSED, "closed"), (MeetingStatus.CANCELLED, "cancelled")],
)
def test_no_check_in_after_closing_or_cancelling(
    database: Database, town: SmallTown, rulebook: Rulebook, status: MeetingStatus, words: str
) -> None:
    meeting_id = make_meeting(database, town, status=status)
    with pytest.raises(Conflict) as refused:
        try_check_in(database, town, rulebook, "member", meeting_id, START)
    assert words in str(refused.value.message)
    with pytest.raises(Conflict):
        try_tick(database, town, rulebook, "secretary", meeting_id, "member2", START)
    assert rows(database, meeting_id) == []


# --- ticks --------------------------------------------------------------------------------


def test_the_secretary_ticks_and_unticks(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = make_meeting(database, town)
    now = START + timedelta(minutes=40)  # after the window: a paper sign-in sheet
    try_tick(database, town, rulebook, "secretary", meeting_id, "member2", now)
    (row,) = rows(database, meeting_id)
    assert row.method is CheckinMethod.SECRETARY
    assert row.recorded_by_id == town.account_ids["secretary"]
    assert row.checked_in_at == now
    # Ticking again changes nothing; unticking removes it.
    try_tick(database, town, rulebook, "secretary", meeting_id, "member2", now)
    assert len(rows(database, meeting_id)) == 1
    try_tick(database, town, rulebook, "secretary", meeting_id, "member2", now, present=False)
    assert rows(database, meeting_id) == []


def test_ticks_and_their_taking_back_are_in_the_audit_log(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = make_meeting(database, town)
    try_check_in(database, town, rulebook, "member", meeting_id, START)
    with acting(town.account_ids["secretary"], "203.0.113.9"):
        try_tick(database, town, rulebook, "secretary", meeting_id, "member2", START)
        try_tick(database, town, rulebook, "secretary", meeting_id, "member", START, present=False)
    with database.transaction(write=False) as session:
        events = session.execute(
            select(AuditEvent.kind, AuditEvent.actor_id)
            .where(AuditEvent.object_type == "meeting_attendance")
            .order_by(AuditEvent.id)
        ).all()
    secretary = town.account_ids["secretary"]
    # The member's own check-in, then the secretary's tick and the check-in taken back.
    assert [tuple(event) for event in events][-2:] == [
        ("meeting_attendance.create", secretary),
        ("meeting_attendance.delete", secretary),
    ]


def test_a_tick_keeps_a_code_check_in_and_an_untick_takes_it_back(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = make_meeting(database, town)
    try_check_in(database, town, rulebook, "member", meeting_id, START)
    try_tick(database, town, rulebook, "secretary", meeting_id, "member", START)
    (row,) = rows(database, meeting_id)
    assert row.method is CheckinMethod.CODE
    try_tick(database, town, rulebook, "secretary", meeting_id, "member", START, present=False)
    assert rows(database, meeting_id) == []


def test_a_named_organiser_ticks(database: Database, town: SmallTown, rulebook: Rulebook) -> None:
    meeting_id = make_meeting(database, town)
    with database.transaction() as session:
        session.add(
            MeetingOrganiser(
                branch_id=town.jinwan,
                account_id=town.account_ids["member2"],
                created_at=START,
                created_by_id=town.account_ids["secretary"],
            )
        )
    try_tick(database, town, rulebook, "member2", meeting_id, "member", START)
    assert len(rows(database, meeting_id)) == 1


@pytest.mark.parametrize(
    ("username", "error"),
    [
        ("member2", PermissionDenied),  # expected at the meeting, does not run it
        ("instructor", PermissionDenied),  # sees the branch, records nothing
        ("secretary2", NotFound),  # another branch's secretary: no such meeting
        ("member3", NotFound),
    ],
)
def test_a_tick_by_someone_who_does_not_run_the_meeting_is_refused(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    username: str,
    error: type[Exception],
) -> None:
    meeting_id = make_meeting(database, town)
    with pytest.raises(error):
        try_tick(database, town, rulebook, username, meeting_id, "member", START)
    assert rows(database, meeting_id) == []


def test_tick_refusals(database: Database, town: SmallTown, rulebook: Rulebook) -> None:
    meeting_id = make_meeting(database, town, invitees=("member", "secretary"))
    with pytest.raises(Conflict, match="not on the meeting's list"):
        try_tick(database, town, rulebook, "secretary", meeting_id, "member2", START)
    with pytest.raises(Conflict, match="Nobody ticks their own"):
        try_tick(database, town, rulebook, "secretary", meeting_id, "secretary", START)
    with pytest.raises(Conflict, match="from 18:30"):
        try_tick(
            database, town, rulebook, "secretary", meeting_id, "member", START - timedelta(hours=1)
        )
    assert rows(database, meeting_id) == []


# --- what the pages read ----------------------------------------------------------------------


def test_the_screen_and_the_sheet(database: Database, town: SmallTown, rulebook: Rulebook) -> None:
    meeting_id = make_meeting(database, town, invitees=("member", "member2", "secretary"))
    try_check_in(database, town, rulebook, "member", meeting_id, START)
    try_tick(database, town, rulebook, "secretary", meeting_id, "member2", START)
    secretary = town.principal(database, "secretary")
    with database.transaction(write=False) as session:
        screen = checkin_screen(session, secretary, rulebook, meeting_id, now=START)
        assert (screen.checked_in, screen.expected) == (2, 3)
        assert screen.code == current_code(screen.meeting, START)
        later = checkin_screen(
            session, secretary, rulebook, meeting_id, now=START + timedelta(hours=1)
        )
        assert later.code is None and later.refresh_after == 0
        sheet = attendance_sheet(session, secretary, rulebook, meeting_id, now=START)
    methods = {row.name: (row.method, row.recorded_by, row.is_self) for row in sheet.rows}
    assert methods == {
        "张伟": (CheckinMethod.CODE, None, False),
        "李娜": (CheckinMethod.SECRETARY, "王书记", False),
        "王书记": (None, None, True),
    }
    assert sheet.can_tick and sheet.checked_in == 2


# --- two taps at once ---------------------------------------------------------------------


@pytest.mark.commits
def test_two_check_ins_at_once_write_one_row(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    meeting_id = make_meeting(database, town)
    actor = town.principal(database, "member")
    code = code_at(database, meeting_id, START)
    start = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def tap() -> None:
        start.wait()
        try:
            with database.transaction() as session:
                check_in(session, actor, rulebook, meeting_id, code, now=START)
            outcome = "ok"
        except Conflict as exc:
            outcome = str(exc.message)
        except Exception as exc:  # recorded for the assertion
            outcome = repr(exc)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=tap) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["You already checked in at 19:00.", "ok"], outcomes
    with database.transaction(write=False) as session:
        count = session.scalar(
            select(func.count())
            .select_from(MeetingAttendance)
            .where(MeetingAttendance.meeting_id == meeting_id)
        )
    assert count == 1
