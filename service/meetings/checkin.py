"""Check-in (签到): the rotating code on the organiser's screen, a member checking in
with it, and the organiser's ticks on the attendance list.

A check-in is a ``MeetingAttendance`` row without an outcome; closing the meeting
(closing.py) gives every expected member's row its outcome and writes the points. The
code is six digits of HMAC-SHA256 over the meeting's id and the current 30-second step,
keyed by the meeting's own secret: it changes every 30 seconds, cannot be guessed from
an earlier one, and never fits another meeting. A scan at the edge of a step still
counts: the previous step's code stays valid.

Every write here takes the meeting's row lock first (``SELECT … FOR UPDATE``, as
closing does), so a check-in or a tick either lands before a close reads the
attendance or sees the meeting closed; the unique (meeting, member) row guards the
rest (two taps of one member at once write one row).
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from hashlib import sha256
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.audit.events import record_event
from service.kernel.errors import Conflict, NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.meetings.access import (
    NO_SUCH_MEETING,
    ORGANISERS_ONLY,
    can_view_meeting,
    is_expected,
    is_organiser,
)
from service.people.transfers import branch_on
from service.persistence.meetings import (
    CheckinMethod,
    LeaveStatus,
    Meeting,
    MeetingAttendance,
    MeetingInvitee,
    MeetingLeave,
    MeetingStatus,
)
from service.persistence.models import Account, AuditEvent, Member
from service.scoring.rules import MeetingPolicy, Rulebook

CODE_STEP_SECONDS = 30
CODE_DIGITS = 6
# How far back a code is still recognised as this meeting's, to say "expired" rather
# than "not this meeting's": the longest window the rules allow.
_EXPIRED_LOOKBACK_STEPS = (240 + 240) * 60 // CODE_STEP_SECONDS
DEFAULT_ZONE = "Asia/Shanghai"
# Wrong or expired codes a member may send for one meeting: a code of six digits valid
# for a minute cannot be guessed from home in so few tries (ten in a million: 1 in 50,000).
WRONG_CODES_MAX = 10
WRONG_CODE = "checkin.wrong_code"


class WindowState(StrEnum):
    NOT_YET = "not_yet"
    OPEN = "open"
    OVER = "over"


# --- who (service/meetings/access.py) ----------------------------------------------------


def _meeting(session: Session, meeting_id: int, *, lock: bool) -> Meeting:
    query = select(Meeting).where(Meeting.id == meeting_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    meeting = session.scalar(query)
    if meeting is None:
        raise NotFound(Message(NO_SUCH_MEETING))
    return meeting


def _organised_meeting(
    session: Session, actor: Principal, meeting_id: int, *, lock: bool = False
) -> Meeting:
    """The meeting, for one of its organisers; NotFound for a stranger, 403 for someone
    who sees it (a member expected, an instructor) but does not run it."""
    meeting = _meeting(session, meeting_id, lock=lock)
    if is_organiser(session, actor, meeting.branch_id):
        return meeting
    if can_view_meeting(session, actor, meeting):
        raise PermissionDenied(Message(ORGANISERS_ONLY))
    raise NotFound(Message(NO_SUCH_MEETING))


# --- the window and the code --------------------------------------------------------------


def _policy(meeting: Meeting, rulebook: Rulebook) -> MeetingPolicy:
    ruleset = rulebook.in_force(meeting.day)
    return ruleset.meetings if ruleset is not None else MeetingPolicy()


def _zone(meeting: Meeting, rulebook: Rulebook) -> ZoneInfo:
    ruleset = rulebook.in_force(meeting.day)
    return ZoneInfo(ruleset.timezone if ruleset is not None else DEFAULT_ZONE)


def local_time(meeting: Meeting, rulebook: Rulebook, moment: datetime) -> str:
    """``moment`` as the town's clock shows it (HH:MM)."""
    return moment.astimezone(_zone(meeting, rulebook)).strftime("%H:%M")


def checkin_window(meeting: Meeting, rulebook: Rulebook) -> tuple[datetime, datetime]:
    """When check-in opens and closes: the ruleset in force on the meeting's day says
    how long before and after the start (both ends included)."""
    policy = _policy(meeting, rulebook)
    opens = meeting.starts_at - timedelta(minutes=policy.checkin_opens_before_minutes)
    closes = meeting.starts_at + timedelta(minutes=policy.checkin_closes_after_minutes)
    return opens, closes


def window_state(meeting: Meeting, rulebook: Rulebook, now: datetime) -> WindowState:
    opens, closes = checkin_window(meeting, rulebook)
    if now < opens:
        return WindowState.NOT_YET
    if now > closes:
        return WindowState.OVER
    return WindowState.OPEN


def _step(now: datetime) -> int:
    return int(now.timestamp()) // CODE_STEP_SECONDS


def _code(meeting: Meeting, step: int) -> str:
    """Six digits of HMAC-SHA256(secret, "id:step"), truncated as HOTP does (RFC 4226)."""
    digest = hmac.new(
        meeting.checkin_secret.encode("ascii"), f"{meeting.id}:{step}".encode("ascii"), sha256
    ).digest()
    offset = digest[-1] & 0x0F
    number = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{number % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def current_code(meeting: Meeting, now: datetime) -> str:
    return _code(meeting, _step(now))


def seconds_left(now: datetime) -> int:
    """Seconds until the code changes (1 to 30)."""
    return CODE_STEP_SECONDS - int(now.timestamp()) % CODE_STEP_SECONDS


def normal_code(text: str) -> str | None:
    """The code as typed or scanned: six ASCII digits (spaces ignored), else None."""
    code = "".join(text.split())
    if len(code) != CODE_DIGITS or not all("0" <= ch <= "9" for ch in code):
        return None
    return code


def code_is_valid(meeting: Meeting, code: str, now: datetime) -> bool:
    """The current step's code or the previous one's (a scan at the edge of a step)."""
    step = _step(now)
    return any(hmac.compare_digest(code, _code(meeting, s)) for s in (step, step - 1))


def _code_expired(meeting: Meeting, code: str, now: datetime) -> bool:
    """Whether ``code`` was this meeting's code earlier (a photo of the screen, a page
    left open): then the member is told it expired, not that it is wrong."""
    step = _step(now)
    return any(
        hmac.compare_digest(code, _code(meeting, s))
        for s in range(step - 2, step - 2 - _EXPIRED_LOOKBACK_STEPS, -1)
    )


# --- checking in ----------------------------------------------------------------------------


def _attendance(session: Session, meeting_id: int, member_id: int) -> MeetingAttendance | None:
    return session.scalar(
        select(MeetingAttendance)
        .where(MeetingAttendance.meeting_id == meeting_id, MeetingAttendance.member_id == member_id)
        .execution_options(populate_existing=True)
    )


def _refuse_unless_scheduled(meeting: Meeting) -> None:
    if meeting.status is MeetingStatus.CANCELLED:
        raise Conflict(Message(N_("This meeting was cancelled.")))
    if meeting.status is MeetingStatus.CLOSED:
        raise Conflict(
            Message(N_("This meeting is closed: its attendance is settled and check-in is over."))
        )


def _already(meeting: Meeting, rulebook: Rulebook, row: MeetingAttendance) -> Conflict:
    assert row.checked_in_at is not None
    return Conflict(
        Message(
            N_("You already checked in at %(time)s."),
            {"time": local_time(meeting, rulebook, row.checked_in_at)},
        )
    )


def _expected_meeting(session: Session, actor: Principal, meeting_id: int) -> Meeting:
    """The meeting, locked, for a member expected at it. Anyone else learns nothing,
    except an organiser, who knows the meeting and is told they are not on its list."""
    meeting = _meeting(session, meeting_id, lock=True)
    if is_expected(session, actor.member_id, meeting.id):
        return meeting
    if actor.member_id is not None and is_organiser(session, actor, meeting.branch_id):
        raise Conflict(Message(N_("You are not on this meeting's list of expected members.")))
    raise NotFound(Message(NO_SUCH_MEETING))


def check_in(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    meeting_id: int,
    code: str,
    *,
    now: datetime,
) -> MeetingAttendance:
    """Check the actor's member in with the code on the screen: once, inside the
    window, with this meeting's current (or previous) code. A refusal changes nothing
    but this: a wrong or expired code is counted (an audit line, to be committed with
    the refusal), and after ``WRONG_CODES_MAX`` of them the member is refused for good."""
    meeting = _expected_meeting(session, actor, meeting_id)
    assert actor.member_id is not None
    _refuse_unless_scheduled(meeting)
    existing = _attendance(session, meeting.id, actor.member_id)
    if existing is not None and existing.checked_in_at is not None:
        raise _already(meeting, rulebook, existing)
    opens, closes = checkin_window(meeting, rulebook)
    state = window_state(meeting, rulebook, now)
    if state is WindowState.NOT_YET:
        raise Conflict(
            Message(
                N_("Check-in has not opened yet: it opens at %(time)s."),
                {"time": local_time(meeting, rulebook, opens)},
            )
        )
    if state is WindowState.OVER:
        raise Conflict(
            Message(
                N_(
                    "Check-in closed at %(time)s. If you were there, ask the secretary to "
                    "tick you on the attendance list."
                ),
                {"time": local_time(meeting, rulebook, closes)},
            )
        )
    if _wrong_codes(session, actor, meeting) >= WRONG_CODES_MAX:
        raise Conflict(
            Message(
                N_(
                    "Too many wrong codes for this meeting. If you are there, ask the "
                    "secretary to tick you on the attendance list."
                )
            )
        )
    normal = normal_code(code)
    if normal is None:
        raise Conflict(Message(N_("Enter the six digits shown on the meeting's screen.")))
    if not code_is_valid(meeting, normal, now):
        _count_wrong_code(session, actor, meeting)
        if _code_expired(meeting, normal, now):
            raise Conflict(
                Message(
                    N_(
                        "This code has expired: the code on the screen changes every 30 "
                        "seconds. Scan the screen again."
                    )
                )
            )
        raise Conflict(
            Message(
                N_(
                    "This code is not this meeting's. Scan the code on the screen of the "
                    "meeting you are at."
                )
            )
        )
    return _record(session, meeting, rulebook, actor, actor.member_id, CheckinMethod.CODE, now)


def _wrong_codes(session: Session, actor: Principal, meeting: Meeting) -> int:
    found = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.kind == WRONG_CODE,
            AuditEvent.object_id == str(meeting.id),
            AuditEvent.actor_id == actor.account_id,
        )
    )
    return found or 0


def _count_wrong_code(session: Session, actor: Principal, meeting: Meeting) -> None:
    """An audit line that counts towards ``WRONG_CODES_MAX``. It is written before the
    refusal is raised: the caller commits the Conflict as it is (the web page does), so
    the failure counts, as a wrong current password does (service/accounts/passwords.py)."""
    record_event(
        session,
        WRONG_CODE,
        "checkin",
        meeting.id,
        summary=meeting.title,
        branch_id=meeting.branch_id,
        actor_id=actor.account_id,
    )


def _record(
    session: Session,
    meeting: Meeting,
    rulebook: Rulebook,
    actor: Principal,
    member_id: int,
    method: CheckinMethod,
    now: datetime,
) -> MeetingAttendance:
    """Write the check-in row; a row written meanwhile by a parallel request (the unique
    (meeting, member) constraint) is a Conflict naming its time, and nothing changes."""
    row = MeetingAttendance(
        meeting_id=meeting.id,
        member_id=member_id,
        branch_id=branch_on(session, member_id, meeting.day),
        checked_in_at=now,
        method=method,
        recorded_by_id=actor.account_id,
        outcome=None,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        existing = _attendance(session, meeting.id, member_id)
        if existing is None or existing.checked_in_at is None:
            raise
        raise _already(meeting, rulebook, existing) from None
    return row


def tick(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    meeting_id: int,
    member_id: int,
    *,
    present: bool,
    now: datetime,
) -> MeetingAttendance | None:
    """The organiser marks an expected member present ("by the secretary") or takes a
    check-in back, until the meeting is closed. Ticking someone already checked in
    keeps their check-in as it is; the result is the member's row (None once taken back)."""
    meeting = _organised_meeting(session, actor, meeting_id, lock=True)
    _refuse_unless_scheduled(meeting)
    if not is_expected(session, member_id, meeting.id):
        raise Conflict(Message(N_("This member is not on the meeting's list of expected members.")))
    if member_id == actor.member_id:
        raise Conflict(
            Message(
                N_(
                    "Nobody ticks their own attendance: check in with the code on the screen, "
                    "or ask another organiser."
                )
            )
        )
    opens, _closes = checkin_window(meeting, rulebook)
    if now < opens:
        raise Conflict(
            Message(
                N_("The meeting has not begun: attendance can be ticked from %(time)s."),
                {"time": local_time(meeting, rulebook, opens)},
            )
        )
    existing = _attendance(session, meeting.id, member_id)
    if not present:
        if existing is not None:
            session.delete(existing)
            session.flush()
        return None
    if existing is not None:
        return existing
    return _record(session, meeting, rulebook, actor, member_id, CheckinMethod.SECRETARY, now)


# --- what the pages show ---------------------------------------------------------------------


@dataclass(frozen=True)
class CheckinScreen:
    """The organiser's screen at the meeting."""

    meeting: Meeting
    state: WindowState
    opens: datetime
    closes: datetime
    code: str | None  # only while the window is open and the meeting scheduled
    seconds_left: int
    checked_in: int
    expected: int
    now: datetime

    @property
    def refresh_after(self) -> int:
        """Seconds until the page should reload itself (0: never): the next code, or the
        window's opening, at most a minute away so the count of check-ins stays fresh."""
        if self.meeting.status is not MeetingStatus.SCHEDULED or self.state is WindowState.OVER:
            return 0
        if self.state is WindowState.NOT_YET:
            until_open = math.ceil((self.opens - self.now).total_seconds())
            return max(1, min(60, until_open))
        return self.seconds_left


def _counts(session: Session, meeting_id: int) -> tuple[int, int]:
    expected = session.scalar(
        select(func.count())
        .select_from(MeetingInvitee)
        .where(MeetingInvitee.meeting_id == meeting_id)
    )
    checked_in = session.scalar(
        select(func.count())
        .select_from(MeetingAttendance)
        .join(
            MeetingInvitee,
            (MeetingInvitee.meeting_id == MeetingAttendance.meeting_id)
            & (MeetingInvitee.member_id == MeetingAttendance.member_id),
        )
        .where(
            MeetingAttendance.meeting_id == meeting_id,
            MeetingAttendance.checked_in_at.is_not(None),
        )
    )
    return checked_in or 0, expected or 0


def checkin_screen(
    session: Session, actor: Principal, rulebook: Rulebook, meeting_id: int, *, now: datetime
) -> CheckinScreen:
    meeting = _organised_meeting(session, actor, meeting_id)
    opens, closes = checkin_window(meeting, rulebook)
    state = window_state(meeting, rulebook, now)
    showing = meeting.status is MeetingStatus.SCHEDULED and state is WindowState.OPEN
    checked_in, expected = _counts(session, meeting.id)
    return CheckinScreen(
        meeting=meeting,
        state=state,
        opens=opens,
        closes=closes,
        code=current_code(meeting, now) if showing else None,
        seconds_left=seconds_left(now),
        checked_in=checked_in,
        expected=expected,
        now=now,
    )


@dataclass(frozen=True)
class MyCheckin:
    """What the member's check-in page shows before the tap."""

    meeting: Meeting
    state: WindowState
    opens: datetime
    closes: datetime
    checked_in_at: datetime | None
    method: CheckinMethod | None


def my_checkin(
    session: Session, actor: Principal, rulebook: Rulebook, meeting_id: int, *, now: datetime
) -> MyCheckin:
    """The member's own view of a meeting's check-in (NotFound unless expected)."""
    meeting = _meeting(session, meeting_id, lock=False)
    if not is_expected(session, actor.member_id, meeting.id):
        if actor.member_id is not None and is_organiser(session, actor, meeting.branch_id):
            raise Conflict(Message(N_("You are not on this meeting's list of expected members.")))
        raise NotFound(Message(NO_SUCH_MEETING))
    assert actor.member_id is not None
    row = _attendance(session, meeting.id, actor.member_id)
    opens, closes = checkin_window(meeting, rulebook)
    return MyCheckin(
        meeting=meeting,
        state=window_state(meeting, rulebook, now),
        opens=opens,
        closes=closes,
        checked_in_at=row.checked_in_at if row is not None else None,
        method=row.method if row is not None else None,
    )


@dataclass(frozen=True)
class AttendanceRow:
    member_id: int
    name: str
    code: str
    checked_in_at: datetime | None
    method: CheckinMethod | None
    recorded_by: str | None  # the account that ticked (a secretary's tick)
    leave: LeaveStatus | None
    is_self: bool


@dataclass(frozen=True)
class AttendanceSheet:
    meeting: Meeting
    rows: list[AttendanceRow]
    opens: datetime  # when check-in and ticks open
    can_tick: bool  # scheduled, and the window has opened

    @property
    def checked_in(self) -> int:
        return sum(1 for row in self.rows if row.checked_in_at is not None)


def attendance_sheet(
    session: Session, actor: Principal, rulebook: Rulebook, meeting_id: int, *, now: datetime
) -> AttendanceSheet:
    """The expected members, by name, with their check-ins and leave: the organiser's
    list to tick."""
    meeting = _organised_meeting(session, actor, meeting_id)
    found = session.execute(
        select(
            Member.id,
            Member.name,
            Member.code,
            MeetingAttendance.checked_in_at,
            MeetingAttendance.method,
            Account.display_name,
            MeetingLeave.status,
        )
        .select_from(MeetingInvitee)
        .join(Member, Member.id == MeetingInvitee.member_id)
        .outerjoin(
            MeetingAttendance,
            (MeetingAttendance.meeting_id == MeetingInvitee.meeting_id)
            & (MeetingAttendance.member_id == MeetingInvitee.member_id),
        )
        .outerjoin(Account, Account.id == MeetingAttendance.recorded_by_id)
        .outerjoin(
            MeetingLeave,
            (MeetingLeave.meeting_id == MeetingInvitee.meeting_id)
            & (MeetingLeave.member_id == MeetingInvitee.member_id),
        )
        .where(MeetingInvitee.meeting_id == meeting.id)
        .order_by(Member.name, Member.code)
    ).all()
    opens, _closes = checkin_window(meeting, rulebook)
    rows = [
        AttendanceRow(
            member_id=row[0],
            name=row[1],
            code=row[2],
            checked_in_at=row[3],
            method=row[4],
            recorded_by=row[5] if row[4] is CheckinMethod.SECRETARY else None,
            leave=row[6],
            is_self=row[0] == actor.member_id,
        )
        for row in found
    ]
    return AttendanceSheet(
        meeting=meeting,
        rows=rows,
        opens=opens,
        can_tick=meeting.status is MeetingStatus.SCHEDULED and now >= opens,
    )
