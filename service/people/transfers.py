"""Member transfers between branches (组织关系转接) with an effective date.

A member's stays are ``Membership`` rows: ``from_date`` (None: since records began) up
to ``to_date`` (exclusive; None: still there). A member without any row has always been
in ``Member.branch_id`` (members created before the history existed, or by fixtures).

Points count for the branch the member belonged to on each activity date: entries and
adjustments take ``branch_on(activity date)`` as their ``branch_id`` when they are
recorded, and ledger lines copy it, so a transfer never moves points already counted and
published boards (stored rows) never move.

Decisions:

* Only the organisation office (admin) transfers members: a transfer touches two
  branches, and 组织关系转接 is the office's business.
* The effective date is today or earlier (no scheduled future transfers): the member's
  current branch changes at once. A date in a published month (or before any later
  published month) is refused: published boards must not move. A date on or before the
  start of the member's current stay is refused: history is appended, never rewritten.
* A backdated transfer refuses when points dated on or after the effective date are
  already counted for another branch (approved entries, deductions, adjustments):
  moving them would move points between branches behind the boards' back. Pending
  entries dated from the effective date on move to the new branch, whose secretary
  then reviews them.
* A mobile member (流动党员: the formal relation stays elsewhere) is transferred to the
  branch where they now take part, with ``mobile=True`` setting their status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.accounts.permissions import OWN_RECORD, require_admin
from service.accounts.principal import Principal
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.kernel.periods import period_of
from service.persistence.models import (
    Account,
    Branch,
    Entry,
    EntryStatus,
    LedgerLine,
    Member,
    Membership,
    MemberStatus,
    Organisation,
    Role,
    RoleGrant,
)
from service.publication.state import frozen_months, hold_months
from service.scoring.engine import Source

NOTE_MAX = 500


def branch_on(session: Session, member_id: int, day: date) -> int:
    """The branch the member belonged to on ``day``: the stay covering it, else (no
    history, or a day outside every stay) the member's current branch."""
    branch_id = session.scalar(
        select(Membership.branch_id)
        .where(
            Membership.member_id == member_id,
            (Membership.from_date.is_(None)) | (Membership.from_date <= day),
            (Membership.to_date.is_(None)) | (Membership.to_date > day),
        )
        .order_by(Membership.from_date.desc().nulls_last())
        .limit(1)
    )
    if branch_id is not None:
        return branch_id
    current = session.scalar(select(Member.branch_id).where(Member.id == member_id))
    if current is None:
        raise NotFound(Message(N_("No such member.")))
    return current


def _stays(session: Session, member_id: int) -> list[Membership]:
    stays = list(session.scalars(select(Membership).where(Membership.member_id == member_id)))
    return sorted(stays, key=lambda stay: (stay.from_date or date.min, stay.id))


@dataclass(frozen=True)
class TransferResult:
    member_id: int
    from_branch_id: int
    to_branch_id: int
    effective: date
    pending_moved: int


def transfer_member(
    session: Session,
    actor: Principal,
    member_id: int,
    to_branch_id: int,
    effective: date,
    note: str,
    *,
    today: date,
    now: datetime,
    mobile: bool = False,
    organisation_id: int | None = None,
) -> TransferResult:
    """Move a member to ``to_branch_id`` from ``effective`` on (see the module notes)."""
    require_admin(actor, N_("Only the organisation office transfers members."))
    if actor.member_id == member_id:
        # A transfer changes the branch one is ranked in: not one's own to make.
        raise PermissionDenied(Message(OWN_RECORD))
    # Which months are published is read under the month lock: a publication cannot
    # land between the check of the effective date and the transfer.
    hold_months(session)
    # Locks the member: two transfers of one member at once queue on PostgreSQL.
    member = session.scalar(select(Member).where(Member.id == member_id).with_for_update())
    if member is None:
        raise NotFound(Message(N_("No such member.")))
    note = note.strip()
    errors: dict[str, Message] = {}
    target, organisation = _checked_destination(
        session, member, to_branch_id, organisation_id, errors
    )
    if len(note) > NOTE_MAX:
        errors["note"] = Message(N_("Keep the note under %(max)d characters."), {"max": NOTE_MAX})
    stays = _stays(session, member.id)
    current = next((stay for stay in reversed(stays) if stay.to_date is None), None)
    problem = effective_date_problem(
        effective,
        today=today,
        current_since=current.from_date if current is not None else None,
        published=frozen_months(session),
    )
    if problem is None and not errors:
        problem = _counted_elsewhere(session, member.id, effective, to_branch_id)
    if problem is not None:
        errors["effective"] = problem
    if errors:
        raise InvalidInput(errors)
    assert target is not None

    from_branch_id = member.branch_id
    _append_stay(session, actor, member, current, target.id, effective, note, now=now)
    member.branch_id = target.id
    _move_organisation(session, member, target.id, organisation)
    if mobile:
        member.status = MemberStatus.MOBILE
    _follow_account(session, member.id, from_branch_id, target.id)
    moved = _move_pending_entries(session, member.id, effective, target.id)
    session.flush()
    return TransferResult(member.id, from_branch_id, target.id, effective, moved)


def effective_date_problem(
    effective: date, *, today: date, current_since: date | None, published: Iterable[str]
) -> Message | None:
    """Why a transfer cannot take effect on ``effective``, or None: not in the future,
    after the start of the member's current stay (history is appended, never rewritten),
    and after every published month (published boards must not move)."""
    if effective > today:
        return Message(
            N_("The effective date cannot be in the future: record the transfer on the day.")
        )
    if current_since is not None and effective <= current_since:
        return Message(
            N_(
                "The member's last transfer took effect on %(day)s: a new one takes effect "
                "after it."
            ),
            {"day": current_since.isoformat()},
        )
    later = sorted(month for month in published if month >= period_of(effective))
    if later:
        return Message(
            N_(
                "%(period)s is published: its boards must not move. Choose a date after "
                "the last published month."
            ),
            {"period": later[0]},
        )
    return None


def _checked_destination(
    session: Session,
    member: Member,
    to_branch_id: int,
    organisation_id: int | None,
    errors: dict[str, Message],
) -> tuple[Branch | None, Organisation | None]:
    """The branch moved to and, if named, the organisation there (problems in ``errors``)."""
    target = session.get(Branch, to_branch_id)
    if target is None:
        errors["to_branch_id"] = Message(N_("Choose a branch from the list."))
    elif target.id == member.branch_id:
        errors["to_branch_id"] = Message(N_("The member is already in this branch."))
    organisation: Organisation | None = None
    if organisation_id is not None:
        organisation = session.get(Organisation, organisation_id)
        if organisation is None or organisation.branch_id != to_branch_id:
            errors["organisation_id"] = Message(N_("Choose an organisation the new branch covers."))
    return target, organisation


# Suggestion steps count for the branch the suggestion was made to: they never move.
_MOVABLE_SOURCES = (Source.ENTRY, Source.ADJUSTMENT)


def _counted_elsewhere(
    session: Session, member_id: int, effective: date, to_branch_id: int
) -> Message | None:
    """A backdated transfer must not move points already counted for another branch."""
    elsewhere = (
        LedgerLine.member_id == member_id,
        LedgerLine.branch_id != to_branch_id,
        LedgerLine.source.in_(_MOVABLE_SOURCES),
    )
    counted = session.scalar(
        select(func.count())
        .select_from(LedgerLine)
        .where(*elsewhere, LedgerLine.activity_date >= effective)
    )
    if not counted:
        return None
    last = session.scalar(select(func.max(LedgerLine.activity_date)).where(*elsewhere))
    assert last is not None
    return Message(
        N_(
            "Points dated on or after this day already count for the member's branch "
            "(the latest on %(day)s): choose a later effective date."
        ),
        {"day": last.isoformat()},
    )


def _append_stay(
    session: Session,
    actor: Principal,
    member: Member,
    current: Membership | None,
    to_branch_id: int,
    effective: date,
    note: str,
    *,
    now: datetime,
) -> None:
    """End the member's current stay the day before ``effective`` and start the new one."""
    if current is None:
        # No history yet: the member has been in their branch since records began.
        current = Membership(
            member_id=member.id,
            branch_id=member.branch_id,
            from_date=None,
            note="",
            created_at=now,
        )
        session.add(current)
    if current.branch_id != member.branch_id:
        raise Conflict(
            Message(N_("The member's history does not match their branch; nothing was changed."))
        )
    current.to_date = effective
    session.add(
        Membership(
            member_id=member.id,
            branch_id=to_branch_id,
            from_date=effective,
            to_date=None,
            note=note,
            created_at=now,
            created_by_id=actor.account_id,
        )
    )


def _move_organisation(
    session: Session, member: Member, to_branch_id: int, organisation: Organisation | None
) -> None:
    """The organisation named, else the member's own if the new branch covers it, else none."""
    if organisation is not None:
        member.organisation_id = organisation.id
    elif member.organisation_id is not None:
        covered_by = session.scalar(
            select(Organisation.branch_id).where(Organisation.id == member.organisation_id)
        )
        if covered_by != to_branch_id:
            member.organisation_id = None


def _follow_account(
    session: Session, member_id: int, from_branch_id: int, to_branch_id: int
) -> None:
    """The member's own sign-in follows them (the grant's branch is informative only)."""
    account_id = session.scalar(select(Account.id).where(Account.member_id == member_id))
    if account_id is None:
        return
    session.execute(
        update(RoleGrant)
        .where(
            RoleGrant.account_id == account_id,
            RoleGrant.role == Role.MEMBER,
            RoleGrant.branch_id == from_branch_id,
        )
        .values(branch_id=to_branch_id)
    )


def _move_pending_entries(
    session: Session, member_id: int, effective: date, to_branch_id: int
) -> int:
    """Entries still waiting for review that are dated from the effective day on belong
    to the new branch: its secretary reviews them (Entry.branch_id is the branch on the
    activity date). Returns how many moved."""
    pending = (
        Entry.member_id == member_id,
        Entry.status == EntryStatus.PENDING,
        Entry.activity_date >= effective,
    )
    moved = session.execute(select(func.count()).select_from(Entry).where(*pending)).scalar_one()
    session.execute(
        update(Entry)
        .where(*pending)
        .values(branch_id=to_branch_id)
        .execution_options(synchronize_session="fetch")
    )
    return moved


@dataclass(frozen=True)
class StayView:
    branch_id: int
    branch_code: str
    branch_name: str
    from_date: date | None
    to_date: date | None
    note: str
    recorded_by: str | None
    recorded_at: datetime | None


def member_history(session: Session, member_id: int) -> list[StayView]:
    """The member's stays, oldest first; a member without history gets one open stay."""
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound(Message(N_("No such member.")))
    rows = session.execute(
        select(Membership, Branch.code, Branch.name, Account.display_name)
        .join(Branch, Branch.id == Membership.branch_id)
        .outerjoin(Account, Account.id == Membership.created_by_id)
        .where(Membership.member_id == member_id)
    ).all()
    views = [
        StayView(
            branch_id=stay.branch_id,
            branch_code=code,
            branch_name=name,
            from_date=stay.from_date,
            to_date=stay.to_date,
            note=stay.note,
            recorded_by=recorded_by,
            recorded_at=stay.created_at,
        )
        for stay, code, name, recorded_by in rows
    ]
    if not views:
        branch = session.get(Branch, member.branch_id)
        assert branch is not None
        views.append(StayView(branch.id, branch.code, branch.name, None, None, "", None, None))
    return sorted(views, key=lambda view: view.from_date or date.min)
