"""A branch's party groups (党小组) and its meeting organisers.

The branch's secretary (or the office) keeps both: groups with a name unique in the
branch and members of the branch, each member in at most one group; organisers are
accounts of the branch's members whom the secretary lets schedule and run meetings.
The branch's instructors read them. Every change is audited by the session hook
(service/audit/capture.py); the functions flush and leave the commit to the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.boards.live import get_branch
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.fields import required_text
from service.kernel.i18n import N_, Message
from service.persistence.meetings import (
    Meeting,
    MeetingOrganiser,
    MeetingStatus,
    PartyGroup,
    PartyGroupMember,
)
from service.persistence.models import Account, Member, Role, RoleGrant

NAME_LIMIT = 60
NO_SUCH_GROUP = N_("No such party group.")
MANAGERS_ONLY = N_(
    "Only this branch's secretary or the organisation office keeps its party groups "
    "and meeting organisers."
)


@dataclass(frozen=True)
class GroupMemberView:
    member_id: int
    name: str
    code: str


@dataclass(frozen=True)
class GroupView:
    id: int
    branch_id: int
    name: str
    members: tuple[GroupMemberView, ...]

    @property
    def member_ids(self) -> tuple[int, ...]:
        return tuple(m.member_id for m in self.members)


@dataclass(frozen=True)
class BranchMemberChoice:
    """A member of the branch as the group and organiser forms offer them."""

    member_id: int
    name: str
    code: str
    account_id: int | None
    group_id: int | None  # the party group they are in, if any


@dataclass(frozen=True)
class OrganiserView:
    id: int
    account_id: int
    username: str
    display_name: str
    member_name: str | None
    created_at: datetime


# --- who may -------------------------------------------------------------------------------


def can_manage_groups(actor: Principal, branch_id: int) -> bool:
    """The office and the branch's secretary keep its groups and organisers."""
    return actor.is_admin or branch_id in actor.branches_with_secretary


def _named_organiser(session: Session, account_id: int, branch_id: int) -> bool:
    return (
        session.scalar(
            select(MeetingOrganiser.id).where(
                MeetingOrganiser.branch_id == branch_id,
                MeetingOrganiser.account_id == account_id,
            )
        )
        is not None
    )


def can_view_groups(session: Session, actor: Principal, branch_id: int) -> bool:
    """The keepers, the branch's instructors, and its meeting organisers (who choose a
    group when they schedule a meeting)."""
    return actor.can_review_branch(branch_id) or _named_organiser(
        session, actor.account_id, branch_id
    )


def _require_view(session: Session, actor: Principal, branch_id: int) -> None:
    get_branch(session, branch_id)
    if not can_view_groups(session, actor, branch_id):
        raise PermissionDenied(Message(N_("You do not have access to this branch.")))


def _require_manage(session: Session, actor: Principal, branch_id: int) -> None:
    get_branch(session, branch_id)
    if not can_manage_groups(actor, branch_id):
        raise PermissionDenied(Message(MANAGERS_ONLY))


def _managed_group(session: Session, actor: Principal, group_id: int) -> PartyGroup:
    """The group, for its keepers; NotFound for a missing id, 403 for another branch's
    group (a branch's groups are no secret to those who see the branch's pages)."""
    group = session.get(PartyGroup, group_id)
    if group is None:
        raise NotFound(Message(NO_SUCH_GROUP))
    _require_manage(session, actor, group.branch_id)
    return group


# --- reading -------------------------------------------------------------------------------


def _branch_members(session: Session, branch_id: int) -> list[Member]:
    return list(
        session.scalars(
            select(Member)
            .where(Member.branch_id == branch_id, Member.active)
            .order_by(Member.code, Member.id)
        )
    )


def group_member_ids(session: Session, group_id: int) -> list[int]:
    """The active members of the group who still belong to its branch, by member code:
    who a meeting for this group expects. No permission check (a building block)."""
    return list(
        session.scalars(
            select(Member.id)
            .join(PartyGroupMember, PartyGroupMember.member_id == Member.id)
            .join(PartyGroup, PartyGroup.id == PartyGroupMember.group_id)
            .where(
                PartyGroupMember.group_id == group_id,
                Member.branch_id == PartyGroup.branch_id,
                Member.active,
            )
            .order_by(Member.code, Member.id)
        )
    )


def _groups(session: Session, branch_id: int) -> list[GroupView]:
    groups = list(
        session.scalars(
            select(PartyGroup)
            .where(PartyGroup.branch_id == branch_id)
            .order_by(PartyGroup.name, PartyGroup.id)
        )
    )
    members: dict[int, list[GroupMemberView]] = {group.id: [] for group in groups}
    rows = session.execute(
        select(PartyGroupMember.group_id, Member.id, Member.name, Member.code)
        .join(Member, Member.id == PartyGroupMember.member_id)
        .join(PartyGroup, PartyGroup.id == PartyGroupMember.group_id)
        .where(
            PartyGroup.branch_id == branch_id,
            Member.branch_id == branch_id,
            Member.active,
        )
        .order_by(Member.code, Member.id)
    )
    for group_id, member_id, name, code in rows:
        members[group_id].append(GroupMemberView(member_id, name, code))
    return [
        GroupView(group.id, group.branch_id, group.name, tuple(members[group.id]))
        for group in groups
    ]


def branch_groups(session: Session, actor: Principal, branch_id: int) -> list[GroupView]:
    """The branch's party groups by name, each with its active members by code."""
    _require_view(session, actor, branch_id)
    return _groups(session, branch_id)


def member_choices(session: Session, actor: Principal, branch_id: int) -> list[BranchMemberChoice]:
    """The branch's active members, with their account and party group: what the
    groups page's check boxes and the organiser form offer."""
    _require_view(session, actor, branch_id)
    in_group: dict[int, int] = {
        member_id: group_id
        for member_id, group_id in session.execute(
            select(PartyGroupMember.member_id, PartyGroupMember.group_id)
            .join(PartyGroup, PartyGroup.id == PartyGroupMember.group_id)
            .where(PartyGroup.branch_id == branch_id)
        )
    }
    accounts: dict[int, int] = {
        member_id: account_id
        for member_id, account_id in session.execute(
            select(Account.member_id, Account.id)
            .join(Member, Member.id == Account.member_id)
            .where(Member.branch_id == branch_id, Account.is_active)
        )
        if member_id is not None
    }
    return [
        BranchMemberChoice(m.id, m.name, m.code, accounts.get(m.id), in_group.get(m.id))
        for m in _branch_members(session, branch_id)
    ]


# --- groups --------------------------------------------------------------------------------


def _check_name(session: Session, branch_id: int, name: str, group_id: int | None) -> str:
    errors: dict[str, Message] = {}
    name = required_text(name, NAME_LIMIT, errors, "name")
    if not errors:
        clash = session.scalar(
            select(PartyGroup.id).where(PartyGroup.branch_id == branch_id, PartyGroup.name == name)
        )
        if clash is not None and clash != group_id:
            errors["name"] = Message(N_("This branch already has a party group of that name."))
    if errors:
        raise InvalidInput(errors)
    return name


def create_group(
    session: Session, actor: Principal, branch_id: int, name: str, *, now: datetime
) -> PartyGroup:
    _require_manage(session, actor, branch_id)
    group = PartyGroup(
        branch_id=branch_id,
        name=_check_name(session, branch_id, name, None),
        created_at=now,
    )
    session.add(group)
    session.flush()
    return group


def rename_group(session: Session, actor: Principal, group_id: int, name: str) -> PartyGroup:
    group = _managed_group(session, actor, group_id)
    group.name = _check_name(session, group.branch_id, name, group.id)
    session.flush()
    return group


def delete_group(session: Session, actor: Principal, group_id: int) -> None:
    """Delete a group and its member list. Refused while a scheduled meeting expects the
    group; meetings already held or cancelled keep their invitees (fixed when they were
    scheduled) and lose only the link to the group."""
    group = _managed_group(session, actor, group_id)
    pending = session.scalar(
        select(Meeting.id)
        .where(
            Meeting.party_group_id == group.id,
            Meeting.status == MeetingStatus.SCHEDULED,
        )
        .limit(1)
    )
    if pending is not None:
        raise Conflict(
            Message(
                N_(
                    "A scheduled meeting expects this party group: cancel the meeting, or "
                    "change who it expects, before you delete the group."
                )
            )
        )
    session.execute(
        update(Meeting)
        .where(Meeting.party_group_id == group.id)
        .values(party_group_id=None)
        .execution_options(synchronize_session=False)
    )
    for row in session.scalars(
        select(PartyGroupMember).where(PartyGroupMember.group_id == group.id)
    ):
        session.delete(row)
    session.flush()
    session.delete(group)
    session.flush()


def set_group_members(
    session: Session, actor: Principal, group_id: int, member_ids: Iterable[int]
) -> GroupView:
    """Make the group's members exactly ``member_ids``: active members of the group's
    branch, none of them in another group of the branch."""
    group = _managed_group(session, actor, group_id)
    wanted = set(member_ids)
    members = {m.id: m for m in _branch_members(session, group.branch_id)}
    if wanted - set(members):
        raise InvalidInput(
            {"member_ids": Message(N_("Choose members of this branch from the list."))}
        )
    elsewhere = session.execute(
        select(PartyGroupMember.member_id, PartyGroup.name)
        .join(PartyGroup, PartyGroup.id == PartyGroupMember.group_id)
        .where(
            PartyGroup.branch_id == group.branch_id,
            PartyGroup.id != group.id,
            PartyGroupMember.member_id.in_(wanted),
        )
        .order_by(PartyGroupMember.member_id)
    ).first()
    if elsewhere is not None:
        raise InvalidInput(
            {
                "member_ids": Message(
                    N_(
                        "%(member)s is already in the party group %(group)s: a member is "
                        "in one group only. Take them out of it first."
                    ),
                    {"member": members[elsewhere.member_id].name, "group": elsewhere.name},
                )
            }
        )
    current = {
        row.member_id: row
        for row in session.scalars(
            select(PartyGroupMember).where(PartyGroupMember.group_id == group.id)
        )
    }
    for member_id, row in current.items():
        if member_id not in wanted:
            session.delete(row)
    for member_id in sorted(wanted - set(current)):
        session.add(PartyGroupMember(group_id=group.id, member_id=member_id))
    session.flush()
    return next(view for view in _groups(session, group.branch_id) if view.id == group.id)


# --- organisers ----------------------------------------------------------------------------


def branch_organisers(session: Session, actor: Principal, branch_id: int) -> list[OrganiserView]:
    """The accounts the secretary named organisers of the branch's meetings, by name.
    (Its secretaries and the office organise without being named.)"""
    _require_view(session, actor, branch_id)
    rows = session.execute(
        select(MeetingOrganiser, Account, Member.name)
        .join(Account, Account.id == MeetingOrganiser.account_id)
        .outerjoin(Member, Member.id == Account.member_id)
        .where(MeetingOrganiser.branch_id == branch_id)
        .order_by(Account.display_name, Account.id)
    )
    return [
        OrganiserView(
            id=organiser.id,
            account_id=account.id,
            username=account.username,
            display_name=account.display_name,
            member_name=member_name,
            created_at=organiser.created_at,
        )
        for organiser, account, member_name in rows
    ]


def _secretary_account_ids(session: Session, branch_id: int) -> set[int]:
    return set(
        session.scalars(
            select(RoleGrant.account_id).where(
                RoleGrant.role == Role.SECRETARY, RoleGrant.branch_id == branch_id
            )
        )
    )


def organiser_candidates(
    session: Session, actor: Principal, branch_id: int
) -> list[BranchMemberChoice]:
    """Members of the branch with an active account who are not organisers yet (its
    secretaries organise already)."""
    named = {view.account_id for view in branch_organisers(session, actor, branch_id)}
    named |= _secretary_account_ids(session, branch_id)
    return [
        choice
        for choice in member_choices(session, actor, branch_id)
        if choice.account_id is not None and choice.account_id not in named
    ]


def add_organiser(
    session: Session, actor: Principal, branch_id: int, account_id: int, *, now: datetime
) -> MeetingOrganiser:
    _require_manage(session, actor, branch_id)
    account = session.get(Account, account_id)
    member = session.get(Member, account.member_id) if account and account.member_id else None
    if (
        account is None
        or not account.is_active
        or member is None
        or not member.active
        or member.branch_id != branch_id
    ):
        raise InvalidInput(
            {"account_id": Message(N_("Choose a member of this branch with an account."))}
        )
    if account_id in _secretary_account_ids(session, branch_id) or _named_organiser(
        session, account_id, branch_id
    ):
        raise InvalidInput(
            {
                "account_id": Message(
                    N_("%(name)s organises this branch's meetings already."), {"name": member.name}
                )
            }
        )
    organiser = MeetingOrganiser(
        branch_id=branch_id, account_id=account_id, created_at=now, created_by_id=actor.account_id
    )
    session.add(organiser)
    session.flush()
    return organiser


def remove_organiser(session: Session, actor: Principal, branch_id: int, organiser_id: int) -> None:
    organiser = session.get(MeetingOrganiser, organiser_id)
    if organiser is None or organiser.branch_id != branch_id:
        raise NotFound(Message(N_("No such organiser.")))
    _require_manage(session, actor, branch_id)
    session.delete(organiser)
    session.flush()


__all__ = [
    "BranchMemberChoice",
    "GroupMemberView",
    "GroupView",
    "OrganiserView",
    "add_organiser",
    "branch_groups",
    "branch_organisers",
    "can_manage_groups",
    "can_view_groups",
    "create_group",
    "delete_group",
    "group_member_ids",
    "member_choices",
    "organiser_candidates",
    "remove_organiser",
    "rename_group",
    "set_group_members",
]
