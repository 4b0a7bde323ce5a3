"""Scheduling a branch's meetings: a new meeting, an edit, a cancellation, a make-up
session (补课) for members who missed a closed one.

Who is expected is fixed when the meeting is scheduled (and again on an edit):
``MeetingInvitee`` rows. The whole branch means the active, non-exempt members whose
membership on the meeting's day is the branch (a joint branch: across its
organisations); a party group means its members among those; a list means the members
chosen, each of whom must belong to the branch that day.

A day in a published month is refused (its points are frozen); a past day in an open
month is allowed, so a secretary can record a meeting held on paper.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.errors import Conflict, InvalidInput, NotFound
from service.kernel.i18n import N_, Message
from service.kernel.periods import period_of
from service.meetings.access import NO_SUCH_MEETING, require_organiser, visible_meeting
from service.meetings.notices import meeting_cancelled, meeting_changed, meeting_scheduled
from service.persistence.meetings import (
    Audience,
    Meeting,
    MeetingAttendance,
    MeetingInvitee,
    MeetingStatus,
    Outcome,
    PartyGroup,
    PartyGroupMember,
)
from service.persistence.models import Branch, Member, Membership, MemberStatus
from service.publication.state import hold_month, hold_months
from service.scoring.rules import Rulebook

TITLE_MAX = 120
PLACE_MAX = 200
AGENDA_MAX = 5000
REASON_MAX = 500
MEMBERS_MAX = 2000


@dataclass(frozen=True)
class MeetingInput:
    """A meeting as the form (or the API) gives it; times are town-local."""

    branch_id: int
    kind: str  # a MeetingType value
    title: str
    day: date
    start: time
    end: time
    place: str = ""
    online: bool = False
    agenda: str = ""
    audience: Audience = Audience.BRANCH
    party_group_id: int | None = None
    member_ids: tuple[int, ...] = ()


def town_zone(rulebook: Rulebook, day: date) -> ZoneInfo:
    """The town's zone for a day: the ruleset in force then (else the first one's)."""
    ruleset = rulebook.in_force(day) or rulebook.rulesets[0]
    return ZoneInfo(ruleset.timezone)


def _aware(rulebook: Rulebook, day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=town_zone(rulebook, day)).astimezone(UTC)


def branch_members_on(session: Session, branch_id: int, day: date) -> list[int]:
    """The active, non-exempt members whose membership on ``day`` is the branch."""
    return sorted(_members_in_branch_on(session, branch_id, day, None))


def _members_in_branch_on(
    session: Session, branch_id: int, day: date, among: Collection[int] | None
) -> set[int]:
    """Of the active, non-exempt members (``among`` them, when given), those who belonged
    to the branch on ``day``: the stay covering the day names it, or (no stay covers
    the day) their current branch is it — the rule of ``transfers.branch_on``."""
    candidates = select(Member.id, Member.branch_id).where(
        Member.active.is_(True), Member.status != MemberStatus.EXEMPT
    )
    stayed = select(Membership.member_id).where(Membership.branch_id == branch_id)
    if among is not None:
        candidates = candidates.where(Member.id.in_(sorted(among)))
    else:
        candidates = candidates.where(
            (Member.branch_id == branch_id) | Member.id.in_(stayed.scalar_subquery())
        )
    current = {row[0]: row[1] for row in session.execute(candidates)}
    if not current:
        return set()
    covering: dict[int, tuple[date, int]] = {}
    stays = session.execute(
        select(Membership.member_id, Membership.branch_id, Membership.from_date).where(
            Membership.member_id.in_(sorted(current)),
            (Membership.from_date.is_(None)) | (Membership.from_date <= day),
            (Membership.to_date.is_(None)) | (Membership.to_date > day),
        )
    )
    for member_id, stay_branch, from_date in stays:
        start = from_date or date.min
        if member_id not in covering or start > covering[member_id][0]:
            covering[member_id] = (start, stay_branch)
    return {
        member_id
        for member_id, now_branch in current.items()
        if (covering[member_id][1] if member_id in covering else now_branch) == branch_id
    }


def _text(value: str, limit: int, errors: dict[str, Message], name: str, *, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        errors[name] = Message(N_("This field is required."))
    elif len(value) > limit:
        errors[name] = Message(N_("At most %(limit)s characters."), {"limit": limit})
    return value


def _check(
    session: Session,
    rulebook: Rulebook,
    data: MeetingInput,
    *,
    kind_fixed: bool = False,
) -> tuple[dict[str, Message], list[int]]:
    """Field problems of ``data``, and (when there are none) who is expected."""
    errors: dict[str, Message] = {}
    if session.get(Branch, data.branch_id) is None:
        errors["branch_id"] = Message(N_("Choose a branch from the list."))
    ruleset = rulebook.in_force(data.day)
    if not kind_fixed and (ruleset is None or data.kind not in ruleset.meeting_types()):
        errors["kind"] = Message(N_("Choose a meeting type from the list."))
    _text(data.title, TITLE_MAX, errors, "title", required=True)
    _text(data.place, PLACE_MAX, errors, "place", required=False)
    _text(data.agenda, AGENDA_MAX, errors, "agenda", required=False)
    if data.end <= data.start:
        errors["end"] = Message(N_("The meeting must end after it starts."))
    if "branch_id" in errors:
        return errors, []
    invitees: list[int] = []
    if data.audience is Audience.GROUP:
        group = (
            session.get(PartyGroup, data.party_group_id)
            if data.party_group_id is not None
            else None
        )
        if group is None or group.branch_id != data.branch_id:
            errors["party_group_id"] = Message(N_("Choose a party group of this branch."))
        else:
            in_group = set(
                session.scalars(
                    select(PartyGroupMember.member_id).where(PartyGroupMember.group_id == group.id)
                )
            )
            invitees = sorted(_members_in_branch_on(session, data.branch_id, data.day, in_group))
            if not invitees:
                errors["party_group_id"] = Message(
                    N_("This party group has no members in the branch on that day.")
                )
    elif data.audience is Audience.LIST:
        chosen = set(data.member_ids)
        if not chosen:
            errors["member_ids"] = Message(N_("Choose at least one member."))
        elif len(chosen) > MEMBERS_MAX:
            errors["member_ids"] = Message(N_("Too many members chosen."))
        else:
            invitees = sorted(_members_in_branch_on(session, data.branch_id, data.day, chosen))
            if len(invitees) != len(chosen):
                errors["member_ids"] = Message(
                    N_("Choose only active members of this branch on the meeting's day.")
                )
    else:
        invitees = branch_members_on(session, data.branch_id, data.day)
        if not invitees:
            errors["audience"] = Message(N_("This branch has no members on that day."))
    return errors, invitees


def _published_refusal(session: Session, day: date) -> dict[str, Message]:
    if hold_month(session, period_of(day)):
        return {
            "day": Message(
                N_("%(period)s is published: its meetings can no longer change."),
                {"period": period_of(day)},
            )
        }
    return {}


def _apply(meeting: Meeting, rulebook: Rulebook, data: MeetingInput) -> None:
    meeting.title = data.title.strip()
    meeting.day = data.day
    meeting.period = period_of(data.day)
    meeting.starts_at = _aware(rulebook, data.day, data.start)
    meeting.ends_at = _aware(rulebook, data.day, data.end)
    meeting.place = data.place.strip()
    meeting.online = data.online
    meeting.agenda = data.agenda.strip()
    meeting.audience = data.audience
    meeting.party_group_id = data.party_group_id if data.audience is Audience.GROUP else None


def _add_invitees(session: Session, meeting_id: int, member_ids: Iterable[int]) -> None:
    session.add_all(MeetingInvitee(meeting_id=meeting_id, member_id=m) for m in member_ids)


def schedule_meeting(
    session: Session, actor: Principal, rulebook: Rulebook, data: MeetingInput, *, now: datetime
) -> Meeting:
    """A new meeting of ``data.branch_id``, with who is expected (see the module notes)."""
    require_organiser(session, actor, data.branch_id)
    errors, invitees = _check(session, rulebook, data)
    errors = errors or _published_refusal(session, data.day)
    if errors:
        raise InvalidInput(errors)
    meeting = Meeting(
        branch_id=data.branch_id,
        kind=data.kind,
        status=MeetingStatus.SCHEDULED,
        checkin_secret=secrets.token_hex(32),
        created_at=now,
        created_by_id=actor.account_id,
    )
    _apply(meeting, rulebook, data)
    session.add(meeting)
    session.flush()
    _add_invitees(session, meeting.id, invitees)
    session.flush()
    meeting_scheduled(session, meeting, rulebook, now=now)
    return meeting


def _scheduled_for_change(session: Session, actor: Principal, meeting_id: int) -> Meeting:
    visible_meeting(session, actor, meeting_id)
    # The month lock before the meeting's row lock, in the order closing takes them.
    hold_months(session)
    meeting = session.scalar(
        select(Meeting)
        .where(Meeting.id == meeting_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if meeting is None:
        raise NotFound(Message(NO_SUCH_MEETING))
    require_organiser(session, actor, meeting.branch_id)
    if meeting.status is not MeetingStatus.SCHEDULED:
        raise Conflict(
            Message(N_("This meeting is closed or cancelled: it can no longer be changed."))
        )
    return meeting


def edit_meeting(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    meeting_id: int,
    data: MeetingInput,
    *,
    now: datetime,
) -> Meeting:
    """Change a scheduled meeting. Who is expected is worked out again; the check-ins of
    members still expected stay, those of members no longer expected go."""
    meeting = _scheduled_for_change(session, actor, meeting_id)
    if meeting.makeup_of_id is not None:
        data = _makeup_input(session, meeting.makeup_of_id, data)
    if data.branch_id != meeting.branch_id:
        raise InvalidInput({"branch_id": Message(N_("A meeting cannot move to another branch."))})
    if meeting.makeup_of_id is not None:
        errors, invitees = _check(session, rulebook, data, kind_fixed=True)
    else:
        errors, invitees = _check(session, rulebook, data)
    errors = (
        errors or _published_refusal(session, data.day) or _published_refusal(session, meeting.day)
    )
    if errors:
        raise InvalidInput(errors)
    meeting.kind = data.kind
    _apply(meeting, rulebook, data)
    meeting.updated_at = now
    _set_invitees(session, meeting.id, invitees)
    session.flush()
    meeting_changed(session, meeting, rulebook, now=now)
    return meeting


def _set_invitees(session: Session, meeting_id: int, invitees: list[int]) -> None:
    held = set(
        session.scalars(
            select(MeetingInvitee.member_id).where(MeetingInvitee.meeting_id == meeting_id)
        )
    )
    gone = held - set(invitees)
    if gone:
        session.execute(
            delete(MeetingInvitee).where(
                MeetingInvitee.meeting_id == meeting_id, MeetingInvitee.member_id.in_(sorted(gone))
            )
        )
        session.execute(
            delete(MeetingAttendance).where(
                MeetingAttendance.meeting_id == meeting_id,
                MeetingAttendance.member_id.in_(sorted(gone)),
            )
        )
    _add_invitees(session, meeting_id, sorted(set(invitees) - held))


def cancel_meeting(
    session: Session,
    actor: Principal,
    meeting_id: int,
    reason: str,
    *,
    now: datetime,
    rulebook: Rulebook | None = None,
) -> Meeting:
    """Cancel a scheduled meeting, with the reason members will see on its page (the
    notification leaves it out). ``rulebook`` gives the town's zone for the time the
    notification names (without it: the default zone)."""
    meeting = _scheduled_for_change(session, actor, meeting_id)
    errors: dict[str, Message] = {}
    reason = _text(reason, REASON_MAX, errors, "reason", required=True)
    if errors:
        raise InvalidInput(errors)
    meeting.status = MeetingStatus.CANCELLED
    meeting.cancelled_at = now
    meeting.cancelled_by_id = actor.account_id
    meeting.cancel_reason = reason
    session.flush()
    meeting_cancelled(session, meeting, rulebook, now=now)
    return meeting


def missed_members(session: Session, meeting_id: int) -> list[int]:
    """The members on leave or absent at a closed meeting: who a make-up session is for."""
    return sorted(
        session.scalars(
            select(MeetingAttendance.member_id).where(
                MeetingAttendance.meeting_id == meeting_id,
                MeetingAttendance.outcome.in_((Outcome.LEAVE, Outcome.ABSENT)),
            )
        )
    )


def _makeup_input(session: Session, original_id: int, data: MeetingInput) -> MeetingInput:
    """``data`` as a make-up session of the original takes it: the original's branch and
    type, and a list of members who missed it (all of them when none is chosen)."""
    original = session.get(Meeting, original_id)
    assert original is not None
    missed = missed_members(session, original_id)
    chosen = tuple(sorted(set(data.member_ids))) or tuple(missed)
    if not missed:
        raise Conflict(Message(N_("Nobody missed this meeting: there is no one to make it up.")))
    if not set(chosen) <= set(missed):
        raise InvalidInput(
            {"member_ids": Message(N_("Choose only members who were on leave or absent."))}
        )
    return MeetingInput(
        branch_id=original.branch_id,
        kind=original.kind,
        title=data.title,
        day=data.day,
        start=data.start,
        end=data.end,
        place=data.place,
        online=data.online,
        agenda=data.agenda,
        audience=Audience.LIST,
        party_group_id=None,
        member_ids=chosen,
    )


def schedule_makeup(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    meeting_id: int,
    data: MeetingInput,
    *,
    now: datetime,
) -> Meeting:
    """A make-up session (补课) for a closed meeting: expected are ``data.member_ids`` of
    the members on leave or absent there (all of them when empty); its type is the
    original's. Attending it makes up for the original when it is closed."""
    original = visible_meeting(session, actor, meeting_id)
    require_organiser(session, actor, original.branch_id)
    if original.status is not MeetingStatus.CLOSED:
        raise Conflict(Message(N_("Only a closed meeting can have a make-up session.")))
    data = _makeup_input(session, original.id, data)
    errors, invitees = _check(session, rulebook, data, kind_fixed=True)
    if "member_ids" in errors:
        # A member who missed the original but has since left the branch.
        errors["member_ids"] = Message(
            N_("Choose only members who were on leave or absent and are still in the branch.")
        )
    errors = errors or _published_refusal(session, data.day)
    if errors:
        raise InvalidInput(errors)
    meeting = Meeting(
        branch_id=original.branch_id,
        kind=original.kind,
        status=MeetingStatus.SCHEDULED,
        checkin_secret=secrets.token_hex(32),
        makeup_of_id=original.id,
        created_at=now,
        created_by_id=actor.account_id,
    )
    _apply(meeting, rulebook, data)
    session.add(meeting)
    session.flush()
    _add_invitees(session, meeting.id, invitees)
    session.flush()
    meeting_scheduled(session, meeting, rulebook, now=now)
    return meeting
