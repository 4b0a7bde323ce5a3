"""Members: the office's member pages and a secretary's roster of their branch.
A member who left keeps their history; nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.permissions import (
    can_view_branch,
    can_view_roster,
    require_admin,
    require_member_editor,
    require_roster_editor,
)
from service.accounts.principal import Principal
from service.boards.live import get_branch
from service.kernel.errors import InvalidInput, NotFound, PermissionDenied
from service.kernel.fields import code_field, date_field, id_field, required_text, text_field
from service.kernel.i18n import N_, Message
from service.people.fields import (
    MEMBER_STATUS_LABELS,
    id_number_problem,
    normal_id_number,
    normal_phone,
    phone_problem,
)
from service.persistence.models import (
    Branch,
    Member,
    Membership,
    MemberStatus,
    Organisation,
)
from service.persistence.pagination import PAGE_SIZE, Page, fetch_page, matching


@dataclass(frozen=True)
class MemberRow:
    id: int
    code: str
    name: str
    branch_id: int
    branch_name: str
    organisation_name: str | None
    status: str
    joined_party_on: date | None
    active: bool
    left_on: date | None
    phone: str | None


@dataclass(frozen=True)
class MemberInput:
    code: str
    name: str
    branch_id: int | None
    organisation_id: int | None
    status: MemberStatus
    joined_party_on: date | None
    id_number: str | None
    phone: str | None
    left_on: date | None


def parse_member(values: Mapping[str, Any], *, today: date) -> MemberInput:
    """The member form's fields, checked on their own (``create_member`` and
    ``update_member`` check them against the database)."""
    errors: dict[str, Message] = {}
    code = code_field(text_field(values, "code"), 32, errors, "code")
    name = required_text(text_field(values, "name"), 60, errors, "name")
    branch_id = id_field(
        text_field(values, "branch_id"), errors, "branch_id", N_("Choose a branch.")
    )
    organisation_id = id_field(
        text_field(values, "organisation_id"),
        errors,
        "organisation_id",
        N_("Choose an organisation from the list."),
    )
    status_text = text_field(values, "status").strip()
    if status_text not in MEMBER_STATUS_LABELS:
        errors["status"] = Message(N_("Choose a status from the list."))
    joined = date_field(text_field(values, "joined_party_on"), errors, "joined_party_on")
    if joined is not None and joined > today:
        errors["joined_party_on"] = Message(N_("This date is in the future."))
    id_number = normal_id_number(text_field(values, "id_number")) or None
    if id_number is not None:
        problem = id_number_problem(id_number)
        if problem is not None:
            errors["id_number"] = problem
    phone = normal_phone(text_field(values, "phone")) or None
    if phone is not None:
        problem = phone_problem(phone)
        if problem is not None:
            errors["phone"] = problem
    left_on = date_field(text_field(values, "left_on"), errors, "left_on")
    if left_on is not None and joined is not None and left_on < joined:
        errors["left_on"] = Message(N_("The member cannot leave before joining the party."))
    if errors:
        raise InvalidInput(errors)
    return MemberInput(
        code=code,
        name=name,
        branch_id=branch_id,
        organisation_id=organisation_id,
        status=MemberStatus(status_text),
        joined_party_on=joined,
        id_number=id_number,
        phone=phone,
        left_on=left_on,
    )


def _check_member(
    session: Session, data: MemberInput, branch_id: int, member_id: int | None
) -> None:
    errors: dict[str, Message] = {}
    other = session.scalar(select(Member.id).where(Member.code == data.code))
    if other is not None and other != member_id:
        errors["code"] = Message(N_("Another member already has this member number."))
    if data.id_number is not None:
        other = session.scalar(select(Member.id).where(Member.id_number == data.id_number))
        if other is not None and other != member_id:
            errors["id_number"] = Message(N_("Another member already has this ID number."))
    if data.organisation_id is not None:
        org_branch = session.scalar(
            select(Organisation.branch_id).where(Organisation.id == data.organisation_id)
        )
        if org_branch != branch_id:
            errors["organisation_id"] = Message(
                N_("Choose an organisation the member's branch covers.")
            )
    if errors:
        raise InvalidInput(errors)


def search_members(
    session: Session,
    actor: Principal,
    query: str = "",
    *,
    branch_id: int | None = None,
    page: int = 1,
) -> Page[MemberRow]:
    """Members by number, matching ``query`` in number, name, branch code or name."""
    if branch_id is None:
        require_admin(actor)
    elif not can_view_roster(actor, branch_id):
        raise PermissionDenied(Message(N_("You do not have access to this branch.")))
    statement = (
        select(Member, Branch.name, Organisation.name)
        .join(Branch, Branch.id == Member.branch_id)
        .outerjoin(Organisation, Organisation.id == Member.organisation_id)
    )
    if branch_id is not None:
        statement = statement.where(Member.branch_id == branch_id)
    statement = matching(statement, query, Member.code, Member.name, Branch.code, Branch.name)
    rows, total, page, pages = fetch_page(
        session, statement.order_by(Member.active.desc(), Member.code, Member.id), page=page
    )
    return Page(
        items=[
            MemberRow(
                id=member.id,
                code=member.code,
                name=member.name,
                branch_id=member.branch_id,
                branch_name=branch_name,
                organisation_name=org_name,
                status=member.status.value,
                joined_party_on=member.joined_party_on,
                active=member.active,
                left_on=member.left_on,
                phone=member.phone,
            )
            for member, branch_name, org_name in rows
        ],
        total=total,
        page=page,
        pages=pages,
        size=PAGE_SIZE,
    )


def roster_branch(session: Session, actor: Principal, branch_id: int) -> Branch:
    """The branch whose roster the actor reads: 403 unless they may."""
    branch = get_branch(session, branch_id)
    if not can_view_roster(actor, branch_id):
        raise PermissionDenied(Message(N_("You do not have access to this branch.")))
    return branch


def member_for_edit(
    session: Session, actor: Principal, member_id: int, *, branch_id: int | None = None
) -> Member:
    """A member the actor may see for editing. ``branch_id`` is the roster the request
    came through: the member must be in it."""
    # Permission first: someone who may not read the roster learns nothing, not even
    # whether a member id exists.
    if branch_id is None:
        require_admin(actor)
    elif not can_view_roster(actor, branch_id):
        raise PermissionDenied(Message(N_("This member is not on a roster you keep.")))
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound(Message(N_("No such member.")))
    if branch_id is not None and member.branch_id != branch_id:
        raise PermissionDenied(Message(N_("This member is not on a roster you keep.")))
    return member


def roster_editor_check(
    session: Session, actor: Principal, branch_id: int, member_id: int | None = None
) -> None:
    """403 unless the actor edits this branch's roster (and, given ``member_id``, the
    member is on it); 404 for a branch or member that does not exist."""
    roster_branch(session, actor, branch_id)
    require_roster_editor(actor, branch_id)
    if member_id is not None:
        member_for_edit(session, actor, member_id, branch_id=branch_id)
        require_member_editor(actor, member_id, branch_id)


def create_member(
    session: Session,
    actor: Principal,
    data: MemberInput,
    *,
    branch_id: int | None = None,
    now: datetime,
) -> int:
    """Add a member (to ``branch_id`` when a secretary adds them from the roster)."""
    target = branch_id if branch_id is not None else data.branch_id
    if target is None:
        raise InvalidInput({"branch_id": Message(N_("Choose a branch."))})
    if session.get(Branch, target) is None:
        if branch_id is not None:
            raise NotFound(Message(N_("No such branch.")))
        raise InvalidInput({"branch_id": Message(N_("Choose a branch."))})
    require_roster_editor(actor, target)
    _check_member(session, data, target, None)
    member = Member(
        code=data.code,
        name=data.name,
        branch_id=target,
        organisation_id=data.organisation_id,
        status=data.status,
        joined_party_on=data.joined_party_on,
        id_number=data.id_number,
        phone=data.phone,
        left_on=data.left_on,
        active=data.left_on is None,
    )
    session.add(member)
    session.flush()
    session.add(
        Membership(
            member_id=member.id,
            branch_id=target,
            from_date=None,
            to_date=data.left_on,
            note="",
            created_at=now,
            created_by_id=actor.account_id,
        )
    )
    session.flush()
    return member.id


def update_member(
    session: Session,
    actor: Principal,
    member_id: int,
    data: MemberInput,
    *,
    branch_id: int | None = None,
) -> None:
    """Change a member's fields except the branch (a move is a transfer, with a date)."""
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound(Message(N_("No such member.")))
    if branch_id is not None and member.branch_id != branch_id:
        raise PermissionDenied(Message(N_("This member is not on a roster you keep.")))
    require_member_editor(actor, member.id, member.branch_id)
    _check_member(session, data, member.branch_id, member.id)
    member.code, member.name = data.code, data.name
    member.organisation_id = data.organisation_id
    member.status = data.status
    member.joined_party_on = data.joined_party_on
    member.id_number, member.phone = data.id_number, data.phone
    if data.left_on != member.left_on:
        # The open stay in the branch ends on the day the member left (or reopens).
        stay = session.scalar(
            select(Membership)
            .where(Membership.member_id == member.id, Membership.branch_id == member.branch_id)
            .order_by(Membership.from_date.desc().nulls_last(), Membership.id.desc())
            .limit(1)
        )
        if stay is not None and (stay.to_date is None or stay.to_date == member.left_on):
            stay.to_date = data.left_on
    member.left_on = data.left_on
    member.active = data.left_on is None
    session.flush()


@dataclass(frozen=True)
class MemberChoice:
    member_id: int
    code: str
    name: str


def branch_members(session: Session, actor: Principal, branch_id: int) -> list[MemberChoice]:
    """The branch's active members, by member number, for a reviewer of the branch: the
    way from the branch page to each member's points."""
    if session.get(Branch, branch_id) is None:
        raise NotFound(Message(N_("No such branch.")))
    if not can_view_branch(actor, branch_id):
        raise PermissionDenied(Message(N_("You do not have access to this branch.")))
    rows = session.execute(
        select(Member.id, Member.code, Member.name)
        .where(Member.branch_id == branch_id, Member.active)
        .order_by(Member.code)
    )
    return [MemberChoice(row.id, row.code, row.name) for row in rows]
