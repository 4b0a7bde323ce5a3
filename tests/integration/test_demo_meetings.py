"""The demo town's organisational life: a year of meetings per branch, attendance that
looks real, a few branches behind, no points before the ruleset that scores attendance,
December's meetings through the services, and the demo secretary's meetings of now
and next week."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.principal import load_principal
from service.ledger.verify import verify_ledger
from service.meetings.checkin import checkin_window
from service.meetings.compliance import compliance_page, compliance_table
from service.ops.seed.load import load_demo_town
from service.persistence.db import Database
from service.persistence.meetings import (
    Audience,
    CheckinMethod,
    LeaveStatus,
    Meeting,
    MeetingAttendance,
    MeetingInvitee,
    MeetingLeave,
    MeetingStatus,
    Outcome,
    PartyGroup,
)
from service.persistence.models import Account, Branch, Entry, LedgerLine, Member, MemberStatus
from service.publication.chain import verify_chain
from service.scoring.rules import Rulebook
from tests.conftest import DEMO_UNTIL

ZONE = ZoneInfo("Asia/Shanghai")
PARK = "金湾工业园区联合党支部"
# The fixture's load has no clock of its own: the demo's "now" is noon of its last day.
FIXTURE_NOW = datetime.combine(DEMO_UNTIL, time(12), tzinfo=ZONE).astimezone(UTC)


def _park(session: Session) -> Branch:
    branch = session.scalar(select(Branch).where(Branch.name == PARK))
    assert branch is not None
    return branch


def _closed_counts(session: Session) -> dict[tuple[int, str], int]:
    rows = session.execute(
        select(Meeting.branch_id, Meeting.kind, func.count())
        .where(
            Meeting.status == MeetingStatus.CLOSED,
            Meeting.makeup_of_id.is_(None),
            Meeting.minutes.is_not(None),
        )
        .group_by(Meeting.branch_id, Meeting.kind)
    )
    return {(branch_id, kind): count for branch_id, kind, count in rows}


def test_every_branch_held_the_years_meetings_and_a_few_are_behind(demo_town: Database) -> None:
    with demo_town.transaction(write=False) as session:
        branches = session.scalars(select(Branch.id)).all()
        counts = _closed_counts(session)
        grouped = set(session.scalars(select(PartyGroup.branch_id)))
    # Up to 20 November: ten months of theme days and committee meetings (eleven when
    # November's came early), four general meetings, four party lectures.
    on_track = {
        b
        for b in branches
        if counts.get((b, "theme_day"), 0) >= 10
        and counts.get((b, "committee"), 0) >= 10
        and counts.get((b, "congress"), 0) == 4
        and counts.get((b, "lecture"), 0) == 4
    }
    behind = set(branches) - on_track
    assert 1 <= len(behind) <= 0.05 * len(branches), len(behind)
    # Party group meetings: only the branches with groups hold them, every month.
    assert grouped and len(grouped) < len(branches)
    for branch_id in grouped:
        assert counts.get((branch_id, "group"), 0) >= 10
    assert not {b for (b, kind) in counts if kind == "group"} - grouped


def test_attendance_looks_like_a_real_branch(demo_town: Database) -> None:
    with demo_town.transaction(write=False) as session:
        outcomes = Counter(
            dict(
                session.execute(
                    select(MeetingAttendance.outcome, func.count()).group_by(
                        MeetingAttendance.outcome
                    )
                ).all()
            )
        )
        total = sum(outcomes.values())
        assert 0.8 <= outcomes[Outcome.ATTENDED] / total <= 0.95, outcomes
        assert outcomes[Outcome.LEAVE] > 0 and outcomes[Outcome.ABSENT] > 0
        assert 0 < outcomes[Outcome.MADE_UP] < 0.02 * total
        # Everyone on leave asked for it and was granted it; declined requests exist.
        on_leave = session.execute(
            select(MeetingAttendance.meeting_id, MeetingAttendance.member_id).where(
                MeetingAttendance.outcome == Outcome.LEAVE
            )
        ).all()
        granted = set(
            session.execute(
                select(MeetingLeave.meeting_id, MeetingLeave.member_id).where(
                    MeetingLeave.status == LeaveStatus.GRANTED
                )
            ).all()
        )
        assert set(on_leave) <= granted
        declined = session.scalar(
            select(func.count())
            .select_from(MeetingLeave)
            .where(MeetingLeave.status == LeaveStatus.DECLINED)
        )
        assert declined
        # Each closed meeting: one attendance row per expected member, minutes, closed
        # after it ended; attended rows checked in (code or ticked).
        invitees = session.scalar(
            select(func.count())
            .select_from(MeetingInvitee)
            .join(Meeting, Meeting.id == MeetingInvitee.meeting_id)
            .where(Meeting.status == MeetingStatus.CLOSED)
        )
        assert invitees == total
        late = session.scalar(
            select(func.count())
            .select_from(Meeting)
            .where(
                Meeting.status == MeetingStatus.CLOSED,
                (Meeting.closed_at < Meeting.ends_at) | Meeting.minutes.is_(None),
            )
        )
        assert late == 0
        unchecked = session.scalar(
            select(func.count())
            .select_from(MeetingAttendance)
            .where(
                MeetingAttendance.outcome == Outcome.ATTENDED,
                MeetingAttendance.checked_in_at.is_(None) | MeetingAttendance.method.is_(None),
            )
        )
        assert unchecked == 0
        methods = set(session.scalars(select(MeetingAttendance.method).distinct()))
        assert {CheckinMethod.CODE, CheckinMethod.SECRETARY} <= methods
        # Nobody exempt is expected.
        exempt = session.scalar(
            select(func.count())
            .select_from(MeetingInvitee)
            .join(Member, Member.id == MeetingInvitee.member_id)
            .where(Member.status == MemberStatus.EXEMPT)
        )
        assert exempt == 0


def test_make_ups_make_up_for_the_meeting_they_repeat(demo_town: Database) -> None:
    with demo_town.transaction(write=False) as session:
        made_up = session.scalars(
            select(MeetingAttendance).where(MeetingAttendance.outcome == Outcome.MADE_UP)
        ).all()
        assert made_up
        for row in made_up:
            assert row.made_up_by_id is not None
            later = session.get(MeetingAttendance, row.made_up_by_id)
            assert later is not None and later.outcome is Outcome.ATTENDED
            assert later.member_id == row.member_id
            makeup = session.get(Meeting, later.meeting_id)
            original = session.get(Meeting, row.meeting_id)
            assert makeup is not None and original is not None
            assert makeup.makeup_of_id == original.id
            assert makeup.kind == original.kind and makeup.day > original.day
            assert makeup.audience is Audience.LIST


def test_meetings_before_december_score_nothing(demo_town: Database, rulebook: Rulebook) -> None:
    with demo_town.transaction(write=False) as session:
        lines = session.scalar(
            select(func.count())
            .select_from(LedgerLine)
            .where(LedgerLine.attendance_id.is_not(None))
        )
        assert lines == 0
        report = verify_ledger(session, rulebook)
        assert report.ok, "\n".join(d.describe() for d in report.differences[:20])
        assert verify_chain(session).ok


def test_the_secretary_has_a_meeting_open_now_and_one_next_week(
    demo_town: Database, rulebook: Rulebook
) -> None:
    with demo_town.transaction(write=False) as session:
        park = _park(session)
        upcoming = session.scalars(
            select(Meeting)
            .where(Meeting.branch_id == park.id, Meeting.ends_at > FIXTURE_NOW)
            .order_by(Meeting.starts_at)
        ).all()
        assert all(m.status is MeetingStatus.SCHEDULED for m in upcoming)
        opens, closes = checkin_window(upcoming[0], rulebook)
        assert opens <= FIXTURE_NOW <= closes
        assert upcoming[0].kind == "theme_day"
        week = DEMO_UNTIL + timedelta(days=7)
        assert any(m.day == week and m.kind == "congress" for m in upcoming)
        # The demo member is expected at both.
        member_id = session.scalar(select(Account.member_id).where(Account.username == "member"))
        for meeting in (upcoming[0], next(m for m in upcoming if m.day == week)):
            expected = session.scalars(
                select(MeetingInvitee.member_id).where(MeetingInvitee.meeting_id == meeting.id)
            ).all()
            assert member_id in expected


def test_december_meetings_go_through_the_services(
    database: Database, rulebook: Rulebook, project_root: Path
) -> None:
    """Loaded on 8 December: the park's committee met this month and its points are in
    the ledger; nothing of organisational life is declared from December; the theme day
    is open for check-in now, with a granted leave; next week's general meeting has a
    leave request waiting."""
    until = date(2026, 12, 8)
    now = datetime.combine(until, time(19, 10), tzinfo=ZONE).astimezone(UTC)
    with database.transaction() as session:
        load_demo_town(session, rulebook, project_root / "seeds", until=until, env="test", now=now)
    with database.transaction(write=False) as session:
        park = _park(session)
        december = session.scalars(
            select(Meeting).where(Meeting.period == "2026-12").order_by(Meeting.starts_at)
        ).all()
        held = [m for m in december if m.status is MeetingStatus.CLOSED]
        assert held and {m.branch_id for m in held} == {park.id}
        assert {m.kind for m in held} == {"committee"}
        # The other branches' meetings of this month are still to come.
        assert all(m.ends_at > now for m in december if m.status is MeetingStatus.SCHEDULED)
        points = session.execute(
            select(LedgerLine.points)
            .join(MeetingAttendance, MeetingAttendance.id == LedgerLine.attendance_id)
            .where(MeetingAttendance.meeting_id.in_([m.id for m in held]))
        ).all()
        attended = session.scalar(
            select(func.count())
            .select_from(MeetingAttendance)
            .where(
                MeetingAttendance.meeting_id.in_([m.id for m in held]),
                MeetingAttendance.outcome == Outcome.ATTENDED,
            )
        )
        assert attended and len([p for (p,) in points if p > 0]) == attended
        declared = session.scalar(
            select(func.count())
            .select_from(Entry)
            .where(
                Entry.activity_date >= date(2026, 12, 1),
                Entry.rule_id.in_(["org_life", "theme_day"]),
            )
        )
        assert declared == 0
        report = verify_ledger(session, rulebook)
        assert report.ok, "\n".join(d.describe() for d in report.differences[:20])
        assert verify_chain(session).ok

        upcoming = [m for m in december if m.branch_id == park.id and m.ends_at > now]
        opens, closes = checkin_window(upcoming[0], rulebook)
        assert opens <= now <= closes and upcoming[0].kind == "theme_day"
        leave = session.scalars(
            select(MeetingLeave.status).where(MeetingLeave.meeting_id == upcoming[0].id)
        ).all()
        assert leave == [LeaveStatus.GRANTED]
        congress = session.scalar(
            select(Meeting).where(Meeting.branch_id == park.id, Meeting.day == date(2026, 12, 15))
        )
        assert congress is not None and congress.kind == "congress"
        waiting = session.scalars(
            select(MeetingLeave.status).where(MeetingLeave.meeting_id == congress.id)
        ).all()
        assert waiting == [LeaveStatus.PENDING]


def test_on_7_december_the_office_sees_a_few_branches_behind(
    database: Database, rulebook: Rulebook, project_root: Path
) -> None:
    """Loaded on 7 December 2026: the rules in force (2026.2) apply to all of 2026, so
    eleven months of meetings are due; the few branches that skipped some are behind,
    not half the town, and no branch is behind for party group meetings it does not
    owe (only the branches with a party group owe them)."""
    until = date(2026, 12, 7)
    now = datetime.combine(until, time(12), tzinfo=ZONE).astimezone(UTC)
    with database.transaction() as session:
        load_demo_town(session, rulebook, project_root / "seeds", until=until, env="test", now=now)
    with database.transaction(write=False) as session:
        admin_id = session.scalar(select(Account.id).where(Account.username == "admin"))
        assert admin_id is not None
        admin = load_principal(session, admin_id)
        assert admin is not None
        rows = compliance_table(session, admin, rulebook, 2026, as_of=until)
        page, behind = compliance_page(session, admin, rulebook, 2026, as_of=until)
        grouped = set(session.scalars(select(PartyGroup.branch_id)))
    assert len(rows) == page.total >= 100
    assert 1 <= behind <= 0.05 * len(rows), behind
    assert behind == sum(1 for row in rows if row.behind)
    theme = rows[0].kind("theme_day")
    assert theme is not None and (theme.due_so_far, theme.required) == (11, 12)
    assert grouped
    for row in rows:
        group = row.kind("group")
        assert group is not None and group.applies == (row.branch_id in grouped)
