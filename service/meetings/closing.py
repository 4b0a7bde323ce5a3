"""Closing a meeting: the attendance is settled and the points written in one transaction.

Each member expected gets one ``MeetingAttendance`` row with an outcome: attended
(checked in, or ticked by the secretary), on approved leave, or absent. Then each
member's year is reconciled: the ledger reads attendance rows of closed meetings as
activities (``service.ledger.reconcile.attendance_activities``), so points follow the
rule of the meeting's type in the ruleset in force on its day, and ``ledger verify``
recomputes them from the same rows.

Closing is idempotent: the meeting row is locked (SELECT … FOR UPDATE) after the month
lock, so of two closes at once the second finds it closed and writes nothing.

A make-up session (补课): a member who attends it makes up for the original meeting,
whose row becomes MADE_UP (its absence deduction, if any, reversed) unless the
original's month is published; the make-up attendance scores under the rules of the
make-up's own day.

An amendment after closing (a late leave note, a forgotten tick) changes one outcome
with a reason, kept in ``MeetingAmendment``, and reconciles; refused once the month is
published.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.entries.evidence import PhotoStore, PhotoUpload
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.ledger.reconcile import reconcile_member
from service.meetings.access import NO_SUCH_MEETING, require_organiser, visible_meeting
from service.meetings.photos import prepare_minutes_photos, store_minutes_photos
from service.people.transfers import branch_on
from service.persistence.meetings import (
    LeaveStatus,
    Meeting,
    MeetingAmendment,
    MeetingAttendance,
    MeetingInvitee,
    MeetingLeave,
    MeetingStatus,
    Outcome,
)
from service.persistence.models import LedgerKind, LedgerLine
from service.publication.state import hold_months, is_frozen
from service.scoring.rules import Rulebook

MINUTES_MAX = 20000
REASON_MAX = 500
ZERO = Decimal("0.0")
# The outcomes a secretary may set by an amendment (MADE_UP only follows a make-up).
AMENDABLE = (Outcome.ATTENDED, Outcome.LEAVE, Outcome.ABSENT)


@dataclass(frozen=True)
class CloseResult:
    meeting: Meeting
    attended: int
    on_leave: int
    absent: int
    points: Decimal  # what the ledger holds for the meeting's attendance, all members
    already_closed: bool


def _locked(session: Session, meeting_id: int) -> Meeting:
    meeting = session.scalar(
        select(Meeting)
        .where(Meeting.id == meeting_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if meeting is None:
        raise NotFound(Message(NO_SUCH_MEETING))
    return meeting


def _published(period: str) -> Conflict:
    return Conflict(
        Message(
            N_(
                "%(period)s is published: its meetings' attendance can no longer change. "
                "The organisation office can open a correction of that month."
            ),
            {"period": period},
        )
    )


def meeting_points(session: Session, meeting_id: int) -> Decimal:
    """What the ledger holds for a meeting's attendance and absences, every member."""
    total = session.scalar(
        select(func.sum(LedgerLine.points))
        .join(MeetingAttendance, MeetingAttendance.id == LedgerLine.attendance_id)
        .where(MeetingAttendance.meeting_id == meeting_id)
    )
    return Decimal(total or 0).quantize(Decimal("0.1"))


def _result(session: Session, meeting: Meeting, *, already_closed: bool) -> CloseResult:
    counts: dict[Outcome | None, int] = defaultdict(int)
    for outcome, number in session.execute(
        select(MeetingAttendance.outcome, func.count())
        .where(MeetingAttendance.meeting_id == meeting.id)
        .group_by(MeetingAttendance.outcome)
    ):
        counts[outcome] += number
    return CloseResult(
        meeting=meeting,
        # A member who made up for this meeting attended neither here nor on leave.
        attended=counts[Outcome.ATTENDED],
        on_leave=counts[Outcome.LEAVE],
        absent=counts[Outcome.ABSENT] + counts[Outcome.MADE_UP],
        points=meeting_points(session, meeting.id),
        already_closed=already_closed,
    )


def close_meeting(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    meeting_id: int,
    minutes: str,
    *,
    now: datetime,
    photos: Sequence[PhotoUpload] = (),
    photo_store: PhotoStore | None = None,
) -> CloseResult:
    """Settle the attendance with the minutes and write the points (see the module notes).
    ``photos`` go with the minutes (``service.meetings.photos``; ``photo_store`` says
    where), stored in the same transaction. Closing a closed meeting again returns its
    counts and writes nothing, photos included."""
    visible_meeting(session, actor, meeting_id)
    # Decoding photos takes a while: done before any lock is taken.
    prepared, photo_problem = prepare_minutes_photos(photos, photo_store)
    # Before the meeting's row lock and before asking whether its month is published.
    hold_months(session)
    meeting = _locked(session, meeting_id)
    require_organiser(session, actor, meeting.branch_id)
    if meeting.status is MeetingStatus.CLOSED:
        return _result(session, meeting, already_closed=True)
    if meeting.status is MeetingStatus.CANCELLED:
        raise Conflict(Message(N_("This meeting was cancelled: it cannot be closed.")))
    if now < meeting.ends_at:
        raise Conflict(Message(N_("A meeting is closed after it ends; this one has not ended.")))
    minutes = (minutes or "").strip()
    errors: dict[str, Message] = {}
    if not minutes:
        errors["minutes"] = Message(N_("Please write the minutes."))
    elif len(minutes) > MINUTES_MAX:
        errors["minutes"] = Message(N_("At most %(limit)s characters."), {"limit": MINUTES_MAX})
    if photo_problem is not None:
        errors["photos"] = photo_problem
    if errors:
        raise InvalidInput(errors)
    if is_frozen(session, meeting.period):
        raise _published(meeting.period)

    invitees = sorted(
        session.scalars(
            select(MeetingInvitee.member_id).where(MeetingInvitee.meeting_id == meeting.id)
        )
    )
    rows = {
        row.member_id: row
        for row in session.scalars(
            select(MeetingAttendance).where(MeetingAttendance.meeting_id == meeting.id)
        )
    }
    granted = set(
        session.scalars(
            select(MeetingLeave.member_id).where(
                MeetingLeave.meeting_id == meeting.id, MeetingLeave.status == LeaveStatus.GRANTED
            )
        )
    )
    for member_id in invitees:
        row = rows.get(member_id)
        if row is None:
            row = MeetingAttendance(
                meeting_id=meeting.id,
                member_id=member_id,
                branch_id=branch_on(session, member_id, meeting.day),
            )
            session.add(row)
            rows[member_id] = row
        if row.checked_in_at is not None:
            row.outcome = Outcome.ATTENDED
        elif member_id in granted:
            row.outcome = Outcome.LEAVE
        else:
            row.outcome = Outcome.ABSENT
    meeting.status = MeetingStatus.CLOSED
    meeting.minutes = minutes
    meeting.closed_at = now
    meeting.closed_by_id = actor.account_id
    session.flush()
    if prepared:
        assert photo_store is not None
        store_minutes_photos(
            session, photo_store, meeting.id, prepared, uploaded_by_id=actor.account_id, now=now
        )

    years: dict[int, set[int]] = {m: {meeting.day.year} for m in invitees}
    causes: dict[str, LedgerKind] = {}
    if meeting.makeup_of_id is not None:
        _make_up(session, meeting, rows, years, causes)
    for member_id in invitees:
        for year in sorted(years[member_id]):
            reconcile_member(
                session,
                rulebook,
                member_id,
                year,
                now=now,
                actor_id=actor.account_id,
                causes=causes,
                note="made up" if causes else "",
            )
    return _result(session, meeting, already_closed=False)


def _make_up(
    session: Session,
    meeting: Meeting,
    rows: dict[int, MeetingAttendance],
    years: dict[int, set[int]],
    causes: dict[str, LedgerKind],
) -> None:
    """Mark the original meeting's rows of members who attended this make-up MADE_UP,
    unless the original's month is published (then the original stands)."""
    assert meeting.makeup_of_id is not None
    original = session.get(Meeting, meeting.makeup_of_id)
    assert original is not None
    if is_frozen(session, original.period):
        return
    attended = {m for m, row in rows.items() if row.outcome is Outcome.ATTENDED}
    if not attended:
        return
    missed = session.scalars(
        select(MeetingAttendance).where(
            MeetingAttendance.meeting_id == original.id,
            MeetingAttendance.member_id.in_(sorted(attended)),
            MeetingAttendance.outcome.in_((Outcome.LEAVE, Outcome.ABSENT)),
        )
    )
    for row in missed:
        if row.outcome is Outcome.ABSENT:
            causes[f"absence:{row.id}"] = LedgerKind.REVERSAL
        row.outcome = Outcome.MADE_UP
        row.made_up_by_id = rows[row.member_id].id
        years[row.member_id].add(original.day.year)
    session.flush()


def amend_attendance(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    meeting_id: int,
    member_id: int,
    outcome: Outcome,
    reason: str,
    *,
    now: datetime,
) -> MeetingAmendment:
    """Change one member's outcome at a closed meeting, with a reason; the ledger follows."""
    visible_meeting(session, actor, meeting_id)
    hold_months(session)
    meeting = _locked(session, meeting_id)
    require_organiser(session, actor, meeting.branch_id)
    if actor.member_id is not None and actor.member_id == member_id:
        raise PermissionDenied(Message(N_("Nobody amends their own attendance.")))
    if meeting.status is not MeetingStatus.CLOSED:
        raise Conflict(Message(N_("Only a closed meeting's attendance is amended.")))
    errors: dict[str, Message] = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = Message(N_("Please give a reason."))
    elif len(reason) > REASON_MAX:
        errors["reason"] = Message(N_("At most %(limit)s characters."), {"limit": REASON_MAX})
    if outcome not in AMENDABLE:
        errors["outcome"] = Message(N_("Choose attended, on leave or absent."))
    row = session.scalar(
        select(MeetingAttendance).where(
            MeetingAttendance.meeting_id == meeting.id, MeetingAttendance.member_id == member_id
        )
    )
    if row is None or row.outcome is None:
        raise NotFound(Message(N_("This member was not expected at this meeting.")))
    if not errors and row.outcome is outcome:
        errors["outcome"] = Message(N_("This is already the member's attendance."))
    if errors:
        raise InvalidInput(errors)
    if row.outcome is Outcome.MADE_UP:
        raise Conflict(
            Message(
                N_("The member made up for this meeting at a make-up session; nothing to amend.")
            )
        )
    if is_frozen(session, meeting.period):
        raise _published(meeting.period)
    made_up = session.scalar(
        select(MeetingAttendance.id).where(MeetingAttendance.made_up_by_id == row.id).limit(1)
    )
    if made_up is not None:
        raise Conflict(
            Message(
                N_("This attendance made up for an earlier meeting; it can no longer be amended.")
            )
        )
    old = row.outcome
    amendment = MeetingAmendment(
        meeting_id=meeting.id,
        member_id=member_id,
        from_outcome=old,
        to_outcome=outcome,
        reason=reason,
        created_at=now,
        created_by_id=actor.account_id,
    )
    session.add(amendment)
    row.outcome = outcome
    session.flush()
    causes = {
        f"attendance:{row.id}": LedgerKind.REVERSAL,
        f"absence:{row.id}": LedgerKind.REVERSAL,
    }
    reconcile_member(
        session,
        rulebook,
        member_id,
        meeting.day.year,
        now=now,
        actor_id=actor.account_id,
        causes=causes,
        note="attendance amended",
    )
    return amendment
