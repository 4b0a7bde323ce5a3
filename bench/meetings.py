"""Scenario 7, organisational life (组织生活): closing a 50-member meeting through
``service.meetings.closing.close_meeting``, against approving 50 entries of 50 members
through ``approve_entry`` in one transaction (each writes 50 members' points and
reconciles their years); and the compliance table of every branch through
``service.meetings.compliance.compliance_table``, against the live branches' board
(the top 50 branches by points per member, as scenario 1 reads it).

The year's meetings the compliance table counts are written here, once, by
``INSERT … SELECT`` (every branch: a theme day and a committee meeting each month, a
general meeting and a party lecture each quarter, closed with minutes, every assessed
member expected; one branch in thirty skips its committee meetings from July), dated
before the first ruleset that scores attendance, so they bring no points. Attending a
meeting counts as taking part, so the board totals are rebuilt afterwards (as
``jifen ledger rebuild-totals`` does) and ``jifen ledger verify`` still agrees.
"""

from __future__ import annotations

import secrets
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Date, MetaData, String, Table, func, insert, select, text
from sqlalchemy.orm import Session

from bench.generate import Generated
from bench.report import Report, Row
from bench.scenarios import admin_principal
from service.boards.board import BranchMetric
from service.boards.branch_pages import branch_page
from service.boards.rebuild import rebuild
from service.entries.review import approve_entry
from service.meetings.closing import close_meeting
from service.persistence.db import Database
from service.persistence.meetings import (
    CheckinMethod,
    LeaveStatus,
    Meeting,
    MeetingAttendance,
    MeetingInvitee,
    MeetingLeave,
    MeetingStatus,
)
from service.persistence.models import Entry, EntryStatus, Member, MemberStatus
from service.persistence.types import UTCDateTime, utcnow
from service.scoring.rules import MeetingType, Rulebook

CLOSE_SIZE = 50
# Of the 50 expected: checked in, on granted leave, absent.
ON_LEAVE = 3
ABSENT = 2
KINDS_BY_MONTH = {
    MeetingType.THEME_DAY.value: range(1, 13),
    MeetingType.COMMITTEE.value: range(1, 13),
    MeetingType.CONGRESS.value: (1, 4, 7, 10),
    MeetingType.LECTURE.value: (2, 5, 8, 11),
}
CALENDAR = Table(
    "bench_meeting_calendar",
    MetaData(),
    Column("kind", String(16)),
    Column("starts_at", UTCDateTime),
    Column("ends_at", UTCDateTime),
    Column("day", Date),
    Column("period", String(7)),
)


def meetings(report: Report, database: Database, data: Generated, rulebook: Rulebook) -> None:
    year = data.today.year
    zone = ZoneInfo(rulebook.rulesets[-1].timezone)
    with database.transaction() as session:
        admin_id = admin_principal(session).account_id
        written = _year_of_meetings(session, rulebook, year, zone, admin_id)
    if written:
        report.notes.append(f"meetings: {written:,} closed meetings of {year} written for it")
    _closing(report, database, data, rulebook, zone)
    _compliance(report, database, data, rulebook)


# --- the year's meetings ---------------------------------------------------------------


def _scoring_starts(rulebook: Rulebook, year: int) -> date:
    """The first day of ``year`` some ruleset scores attendance (else the next year)."""
    days = [
        max(r.effective_from, date(year, 1, 1))
        for r in rulebook.rulesets
        if r.attendance_rules() and r.effective_from.year <= year
    ]
    return min(days, default=date(year + 1, 1, 1))


def _year_of_meetings(
    session: Session, rulebook: Rulebook, year: int, zone: ZoneInfo, admin: int
) -> int:
    held = session.scalar(select(func.count()).select_from(Meeting)) or 0
    if held:
        return 0  # a reused database has them already
    last = min(_scoring_starts(rulebook, year), date(year, 12, 31))
    rows = []
    for kind, months in KINDS_BY_MONTH.items():
        for month in months:
            day = date(year, month, 10 + list(KINDS_BY_MONTH).index(kind))
            if day >= last:
                continue
            starts = datetime.combine(day, time(19, 30), tzinfo=zone).astimezone(UTC)
            rows.append(
                {
                    "kind": kind,
                    "starts_at": starts,
                    "ends_at": starts + timedelta(minutes=90),
                    "day": day,
                    "period": f"{year}-{month:02d}",
                }
            )
    if not rows:
        return 0
    bind = session.connection()
    CALENDAR.drop(bind, checkfirst=True)
    CALENDAR.create(bind)
    session.execute(insert(CALENDAR), rows)
    # One branch in thirty skips its committee meetings from July: behind.
    session.execute(
        text(
            "INSERT INTO meeting (branch_id, kind, title, starts_at, ends_at, day, period, "
            "place, online, agenda, audience, status, checkin_secret, minutes, created_at, "
            "created_by_id, closed_at, closed_by_id) "
            "SELECT b.id, c.kind, c.kind, c.starts_at, c.ends_at, c.day, c.period, '', "
            "FALSE, '', 'branch', 'closed', '-', 'bench', c.starts_at, :admin, c.ends_at, "
            ":admin FROM branch b CROSS JOIN bench_meeting_calendar c "
            "WHERE NOT (b.id % 30 = 0 AND c.kind = 'committee' AND c.period >= :july)"
        ),
        {"admin": admin, "july": f"{year}-07"},
    )
    expected = (
        "FROM meeting mt JOIN member mb ON mb.branch_id = mt.branch_id "
        "WHERE mb.active = TRUE AND mb.status <> 'exempt'"
    )
    session.execute(
        text(f"INSERT INTO meeting_invitee (meeting_id, member_id) SELECT mt.id, mb.id {expected}")
    )
    session.execute(
        text(
            "INSERT INTO meeting_attendance (meeting_id, member_id, branch_id, outcome) "
            "SELECT mt.id, mb.id, mt.branch_id, CASE WHEN (mt.id + mb.id) % 13 = 0 THEN "
            "'absent' WHEN (mt.id + mb.id) % 11 = 0 THEN 'leave' ELSE 'attended' END "
            f"{expected}"
        )
    )
    CALENDAR.drop(bind)
    rebuild(session)  # attending counts as taking part: the board totals follow
    return session.scalar(select(func.count()).select_from(Meeting)) or 0


# --- 7a. closing a 50-member meeting -----------------------------------------------------


def _closing(
    report: Report,
    database: Database,
    data: Generated,
    rulebook: Rulebook,
    zone: ZoneInfo,
) -> None:
    day = max(data.today - timedelta(days=1), data.today.replace(day=1))
    ruleset = rulebook.in_force(day)
    kinds = ruleset.meeting_types() if ruleset else ()
    kind = MeetingType.THEME_DAY.value if MeetingType.THEME_DAY in kinds else None
    if kind is None:
        report.notes.append(f"meetings: no ruleset in force on {day} has meetings; not closed")
        return
    with database.transaction() as session:
        admin = admin_principal(session)
        closing_members, approving = _subjects(session, day)
        if len(closing_members) < CLOSE_SIZE or len(approving) < CLOSE_SIZE:
            report.notes.append("meetings: too few members or pending entries to measure")
            return
        meeting_id = _meeting_to_close(session, admin.account_id, closing_members, day, kind, zone)
    started = clock.perf_counter()
    with database.transaction() as session:
        admin = admin_principal(session)
        result = close_meeting(session, admin, rulebook, meeting_id, "bench", now=utcnow())
    seconds = clock.perf_counter() - started
    started = clock.perf_counter()
    with database.transaction() as session:
        admin = admin_principal(session)
        for entry_id in approving:
            approve_entry(session, admin, rulebook, entry_id, now=utcnow())
    baseline = clock.perf_counter() - started
    report.add(
        Row("7", f"close a {CLOSE_SIZE}-member meeting", seconds * 1000, "ms",
            f"approve {CLOSE_SIZE} entries of {CLOSE_SIZE} members, one transaction",
            baseline * 1000, seconds / baseline, "", None,
            f"{result.attended} attended, {result.on_leave} on leave, {result.absent} absent, "
            f"{result.points} points written; one transaction each")
    )  # fmt: skip


def _subjects(session: Session, day: date) -> tuple[list[int], list[int]]:
    """50 assessed members for the meeting (the biggest branches first) and 50 pending
    entries of 50 other members."""
    members = list(
        session.scalars(
            select(Member.id)
            .where(Member.active.is_(True), Member.status != MemberStatus.EXEMPT)
            .order_by(Member.branch_id, Member.id)
            .limit(CLOSE_SIZE)
        )
    )
    pending = session.execute(
        select(func.min(Entry.id), Entry.member_id)
        .where(Entry.status == EntryStatus.PENDING, Entry.member_id.not_in(members))
        .group_by(Entry.member_id)
        .limit(CLOSE_SIZE)
    ).all()
    return members, [entry_id for entry_id, _ in pending]


def _meeting_to_close(
    session: Session, admin_id: int, members: list[int], day: date, kind: str, zone: ZoneInfo
) -> int:
    """A meeting yesterday (scheduled, as a form would leave it) with the members checked
    in by the secretary, three on granted leave and two absent."""
    starts = datetime.combine(day, time(0, 5), tzinfo=zone).astimezone(UTC)
    branch_id = session.scalar(select(Member.branch_id).where(Member.id == members[0]))
    meeting = Meeting(
        branch_id=branch_id,
        kind=kind,
        title="bench",
        starts_at=starts,
        ends_at=starts + timedelta(minutes=30),
        day=day,
        period=f"{day:%Y-%m}",
        status=MeetingStatus.SCHEDULED,
        checkin_secret=secrets.token_hex(32),
        created_at=starts - timedelta(days=3),
        created_by_id=admin_id,
    )
    session.add(meeting)
    session.flush()
    session.execute(
        insert(MeetingInvitee), [{"meeting_id": meeting.id, "member_id": m} for m in members]
    )
    present = members[: CLOSE_SIZE - ON_LEAVE - ABSENT]
    session.execute(
        insert(MeetingAttendance),
        [
            {
                "meeting_id": meeting.id,
                "member_id": m,
                "branch_id": session.scalar(select(Member.branch_id).where(Member.id == m)),
                "checked_in_at": starts,
                "method": CheckinMethod.SECRETARY,
                "recorded_by_id": admin_id,
            }
            for m in present
        ],
    )
    session.execute(
        insert(MeetingLeave),
        [
            {
                "meeting_id": meeting.id,
                "member_id": m,
                "reason": "bench",
                "status": LeaveStatus.GRANTED,
                "requested_at": starts - timedelta(days=1),
                "requested_by_id": admin_id,
                "decided_at": starts - timedelta(hours=20),
                "decided_by_id": admin_id,
            }
            for m in members[len(present) : len(present) + ON_LEAVE]
        ],
    )
    return meeting.id


# --- 7b. the compliance table ------------------------------------------------------------


def _compliance(
    report: Report,
    database: Database,
    data: Generated,
    rulebook: Rulebook,
    repeat: int = 3,
) -> None:
    from service.meetings.compliance import compliance_table

    period = data.current_period
    with database.transaction(write=False) as session:
        admin = admin_principal(session)
        times, base = [], []
        for _ in range(repeat):
            started = clock.perf_counter()
            rows = compliance_table(session, admin, rulebook, data.today.year, as_of=data.today)
            times.append(clock.perf_counter() - started)
            started = clock.perf_counter()
            branch_page(session, period, BranchMetric.PER_MEMBER, 1, other_ranks=False)
            base.append(clock.perf_counter() - started)
    value, baseline = median(times) * 1000, median(base) * 1000
    behind = sum(row.behind for row in rows)
    report.add(
        Row("7", f"compliance table, all {len(rows):,} branches", value, "ms",
            "the live branches' board, top 50 per member", baseline, value / baseline, "",
            None, f"{behind:,} behind; median of {repeat}")
    )  # fmt: skip
