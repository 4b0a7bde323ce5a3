"""People administration for the organisation office and the secretaries: branches,
organisations (the 五清 ledger), members and accounts.

Every function checks who acts (object-level, here in the service, never only in the
web layer), validates the whole input at once (``InvalidInput`` with one message per
field), flushes and leaves the commit to the caller. The audit log records each change
by itself (service/audit.py's session hook). Nothing is ever deleted: a member who left
and a disabled account keep their history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from service.accounts.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, hash_password
from service.accounts.principal import Principal
from service.accounts.sessions import end_account_sessions
from service.boards.live import get_branch
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.persistence import pagination
from service.persistence.models import (
    Account,
    Branch,
    BranchKind,
    Member,
    Membership,
    MemberStatus,
    Organisation,
    OrganisationKind,
    Role,
    RoleGrant,
)
from service.persistence.pagination import fetch_page

PAGE_SIZE = 50

BRANCH_KIND_LABELS = {
    BranchKind.SINGLE.value: N_("single"),
    BranchKind.JOINT.value: N_("joint"),
}
ORGANISATION_KIND_LABELS = {
    OrganisationKind.ENTERPRISE.value: N_("enterprise"),
    OrganisationKind.SOCIAL.value: N_("social organisation"),
}
MEMBER_STATUS_LABELS = {
    MemberStatus.FULL.value: N_("full member"),
    MemberStatus.PROBATIONARY.value: N_("probationary member"),
    MemberStatus.MOBILE.value: N_("mobile member"),
    MemberStatus.EXEMPT.value: N_("exempt from rating"),
}
BUSINESS_STATUS_LABELS = {
    "operating": N_("operating"),
    "suspended": N_("suspended"),
    "closed": N_("closed"),
}
ROLE_LABELS = {
    Role.MEMBER.value: N_("member"),
    Role.SECRETARY.value: N_("secretary"),
    Role.INSTRUCTOR.value: N_("instructor"),
    Role.ADMIN.value: N_("organisation office"),
}

# 身份证号 (GB 11643-1999): 17 digits, then a check character over them.
ID_NUMBER_PATTERN = re.compile(r"^\d{17}[\dX]$")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
# Mainland mobile numbers: 11 digits starting 13-19.
PHONE_PATTERN = re.compile(r"^1[3-9]\d{9}$")
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")


# --- checks ---------------------------------------------------------------------------


def id_number_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of a 身份证号 (GB 11643)."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def id_number_problem(value: str) -> Message | None:
    """Why ``value`` is not a valid 18-character 身份证号, or None."""
    if not ID_NUMBER_PATTERN.fullmatch(value):
        return Message(N_("An ID number has 18 characters: 17 digits, then a digit or X."))
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return Message(N_("The birth date inside this ID number is not a real date."))
    if id_number_check_char(value[:17]) != value[17]:
        return Message(N_("This ID number's check character is wrong; check for a typo."))
    return None


def phone_problem(value: str) -> Message | None:
    if not PHONE_PATTERN.fullmatch(value):
        return Message(N_("Enter a mainland mobile number: 11 digits starting with 1."))
    return None


def _required(value: str, limit: int, errors: dict[str, Message], name: str) -> str:
    value = value.strip()
    if not value:
        errors[name] = Message(N_("This field is required."))
    elif len(value) > limit:
        errors[name] = Message(N_("This text is too long."))
    return value


def _date(value: str, errors: dict[str, Message], name: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[name] = Message(N_("Enter a date like 2026-03-12."))
        return None


def _int(value: str, errors: dict[str, Message], name: str, message: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        errors[name] = Message(message)
        return None


def _text(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value if value is not None else "")


def require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise PermissionDenied(Message(N_("Only the organisation office may do this.")))


def can_view_roster(actor: Principal, branch_id: int) -> bool:
    """Admins, and the branch's secretaries and instructors."""
    return actor.is_admin or branch_id in actor.reviewer_branch_ids


def can_edit_roster(actor: Principal, branch_id: int) -> bool:
    """Admins, and the branch's secretaries (instructors only read)."""
    return actor.is_admin or branch_id in actor.branches_with_secretary


# --- branches -------------------------------------------------------------------------


@dataclass(frozen=True)
class BranchRow:
    id: int
    code: str
    name: str
    kind: str
    members: int
    organisations: tuple[str, ...]

    @property
    def problem(self) -> str | None:
        """A set-up that needs the office's attention, as a source message."""
        count = len(self.organisations)
        if self.kind == BranchKind.SINGLE.value and count != 1:
            return N_("A single branch should cover exactly one organisation.")
        if self.kind == BranchKind.JOINT.value and count < 2:
            return N_("A joint branch should cover several organisations.")
        return None


@dataclass(frozen=True)
class BranchInput:
    code: str
    name: str
    kind: BranchKind


def _branches_query(query: str) -> Select[Branch]:
    """The branches a search finds (by code or name), by code; the id last, so pages
    neither repeat nor skip a branch."""
    statement = select(Branch).order_by(Branch.code, Branch.id)
    if query.strip():
        pattern = f"%{query.strip()}%"
        statement = statement.where(or_(Branch.code.ilike(pattern), Branch.name.ilike(pattern)))
    return statement


def _branch_rows(
    session: Session, branches: Sequence[Branch], *, only: bool = True
) -> list[BranchRow]:
    """The rows of ``branches``, with their active members and organisations: counted
    for these branches alone when ``only``, for every branch otherwise."""
    ids = [branch.id for branch in branches]
    counts_query = select(Member.branch_id, func.count()).where(Member.active)
    organisations_query = select(Organisation.branch_id, Organisation.name)
    if only:
        counts_query = counts_query.where(Member.branch_id.in_(ids))
        organisations_query = organisations_query.where(Organisation.branch_id.in_(ids))
    counts: dict[int, int] = {
        branch_id: count
        for branch_id, count in session.execute(counts_query.group_by(Member.branch_id))
    }
    organisations: dict[int, list[str]] = {}
    for branch_id, name in session.execute(organisations_query.order_by(Organisation.name)):
        organisations.setdefault(branch_id, []).append(name)
    return [
        BranchRow(
            id=branch.id,
            code=branch.code,
            name=branch.name,
            kind=branch.kind.value,
            members=counts.get(branch.id, 0),
            organisations=tuple(organisations.get(branch.id, [])),
        )
        for branch in branches
    ]


def list_branches(session: Session, actor: Principal, query: str = "") -> list[BranchRow]:
    require_admin(actor)
    branches = list(session.scalars(_branches_query(query)))
    return _branch_rows(session, branches, only=False)


def branches_page(
    session: Session, actor: Principal, query: str = "", *, page: int = 1, size: int = PAGE_SIZE
) -> pagination.Page[BranchRow]:
    """Page ``page`` of ``list_branches``: counted and fetched in the database, a page
    past the last being the last."""
    require_admin(actor)
    rows, total, page, pages = fetch_page(session, _branches_query(query), page=page, size=size)
    items = _branch_rows(session, [row[0] for row in rows])
    return pagination.Page(items=items, total=total, page=page, pages=pages, size=size)


def branch_choices(session: Session) -> list[tuple[int, str, str]]:
    """(id, code, name) of every branch, by code: the options of a branch field."""
    return [
        (row.id, row.code, row.name)
        for row in session.execute(
            select(Branch.id, Branch.code, Branch.name).order_by(Branch.code)
        )
    ]


def parse_branch(values: Mapping[str, Any]) -> BranchInput:
    errors: dict[str, Message] = {}
    code = _required(_text(values, "code"), 32, errors, "code")
    name = _required(_text(values, "name"), 120, errors, "name")
    kind_text = _text(values, "kind").strip()
    if kind_text not in BRANCH_KIND_LABELS:
        errors["kind"] = Message(N_("Choose single or joint."))
    if errors:
        raise InvalidInput(errors)
    return BranchInput(code=code, name=name, kind=BranchKind(kind_text))


def _check_branch_unique(session: Session, data: BranchInput, branch_id: int | None) -> None:
    errors: dict[str, Message] = {}
    for name, column, value in (("code", Branch.code, data.code), ("name", Branch.name, data.name)):
        other = session.scalar(select(Branch.id).where(column == value))
        if other is not None and other != branch_id:
            errors[name] = Message(N_("Another branch already uses this."))
    if branch_id is not None and data.kind is BranchKind.SINGLE:
        covered = session.scalar(
            select(func.count())
            .select_from(Organisation)
            .where(Organisation.branch_id == branch_id)
        )
        if (covered or 0) > 1:
            errors["kind"] = Message(
                N_(
                    "This branch covers %(count)s organisations; a single branch covers "
                    "exactly one. Move the others to another branch first."
                ),
                {"count": covered},
            )
    if errors:
        raise InvalidInput(errors)


def create_branch(session: Session, actor: Principal, data: BranchInput) -> int:
    require_admin(actor)
    _check_branch_unique(session, data, None)
    branch = Branch(code=data.code, name=data.name, kind=data.kind)
    session.add(branch)
    session.flush()
    session.flush()
    return branch.id


def branch_for_edit(session: Session, actor: Principal, branch_id: int) -> Branch:
    require_admin(actor)
    return get_branch(session, branch_id)


def update_branch(session: Session, actor: Principal, branch_id: int, data: BranchInput) -> None:
    require_admin(actor)
    branch = get_branch(session, branch_id)
    _check_branch_unique(session, data, branch_id)
    branch.code, branch.name, branch.kind = data.code, data.name, data.kind
    session.flush()


def branch_organisations(session: Session, branch_id: int) -> list[Organisation]:
    return list(
        session.scalars(
            select(Organisation)
            .where(Organisation.branch_id == branch_id)
            .order_by(Organisation.name)
        )
    )


# --- organisations (the 五清 ledger) ----------------------------------------------------


@dataclass(frozen=True)
class OrganisationRow:
    id: int
    name: str
    kind: str
    business_status: str
    employee_count: int
    owner_name: str
    branch_id: int
    branch_code: str
    branch_name: str
    branch_kind: str
    members: int


@dataclass(frozen=True)
class OrganisationInput:
    name: str
    kind: OrganisationKind
    branch_id: int
    business_status: str
    employee_count: int
    owner_name: str


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int
    page: int
    pages: int


def _page_bounds(total: int, page: int) -> tuple[int, int]:
    pages = max(1, -(-total // PAGE_SIZE))
    return pages, min(max(1, page), pages)


def list_organisations(
    session: Session, actor: Principal, query: str = "", page: int = 1
) -> Page[OrganisationRow]:
    require_admin(actor)
    statement = select(Organisation, Branch).join(Branch, Branch.id == Organisation.branch_id)
    if query.strip():
        pattern = f"%{query.strip()}%"
        statement = statement.where(
            or_(
                Organisation.name.ilike(pattern),
                Organisation.owner_name.ilike(pattern),
                Branch.name.ilike(pattern),
                Branch.code.ilike(pattern),
            )
        )
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    pages, page = _page_bounds(total, page)
    rows = session.execute(
        statement.order_by(Branch.code, Organisation.name)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    ids = [row[0].id for row in rows]
    counts = dict(
        session.execute(
            select(Member.organisation_id, func.count())
            .where(Member.organisation_id.in_(ids), Member.active)
            .group_by(Member.organisation_id)
        ).all()
    )
    return Page(
        rows=[
            OrganisationRow(
                id=org.id,
                name=org.name,
                kind=org.kind.value,
                business_status=org.business_status,
                employee_count=org.employee_count,
                owner_name=org.owner_name,
                branch_id=branch.id,
                branch_code=branch.code,
                branch_name=branch.name,
                branch_kind=branch.kind.value,
                members=counts.get(org.id, 0),
            )
            for org, branch in rows
        ],
        total=total,
        page=page,
        pages=pages,
    )


def parse_organisation(values: Mapping[str, Any]) -> OrganisationInput:
    errors: dict[str, Message] = {}
    name = _required(_text(values, "name"), 120, errors, "name")
    kind_text = _text(values, "kind").strip()
    if kind_text not in ORGANISATION_KIND_LABELS:
        errors["kind"] = Message(N_("Choose enterprise or social organisation."))
    branch_id = _int(_text(values, "branch_id"), errors, "branch_id", N_("Choose a branch."))
    if branch_id is None and "branch_id" not in errors:
        errors["branch_id"] = Message(N_("Choose a branch."))
    status = _text(values, "business_status").strip()
    if status not in BUSINESS_STATUS_LABELS:
        errors["business_status"] = Message(N_("Choose a business status from the list."))
    employees_text = _text(values, "employee_count").strip()
    employees = 0
    if not employees_text.isdigit() or len(employees_text) > 7:
        errors["employee_count"] = Message(N_("Enter the number of employees, e.g. 35."))
    else:
        employees = int(employees_text)
    owner = _required(_text(values, "owner_name"), 60, errors, "owner_name")
    if errors:
        raise InvalidInput(errors)
    assert branch_id is not None
    return OrganisationInput(
        name=name,
        kind=OrganisationKind(kind_text),
        branch_id=branch_id,
        business_status=status,
        employee_count=employees,
        owner_name=owner,
    )


def _check_organisation(session: Session, data: OrganisationInput, org_id: int | None) -> None:
    errors: dict[str, Message] = {}
    other = session.scalar(select(Organisation.id).where(Organisation.name == data.name))
    if other is not None and other != org_id:
        errors["name"] = Message(N_("Another organisation already has this name."))
    branch = session.get(Branch, data.branch_id)
    if branch is None:
        errors["branch_id"] = Message(N_("Choose a branch."))
    elif branch.kind is BranchKind.SINGLE:
        others = session.scalar(
            select(func.count())
            .select_from(Organisation)
            .where(Organisation.branch_id == branch.id, Organisation.id != (org_id or 0))
        )
        if others:
            errors["branch_id"] = Message(
                N_(
                    "%(branch)s is a single branch and already covers an organisation; "
                    "choose a joint branch, or make it joint first."
                ),
                {"branch": branch.name},
            )
    if errors:
        raise InvalidInput(errors)


def create_organisation(session: Session, actor: Principal, data: OrganisationInput) -> int:
    require_admin(actor)
    _check_organisation(session, data, None)
    org = Organisation(
        name=data.name,
        kind=data.kind,
        branch_id=data.branch_id,
        business_status=data.business_status,
        employee_count=data.employee_count,
        owner_name=data.owner_name,
    )
    session.add(org)
    session.flush()
    session.flush()
    return org.id


def organisation_for_edit(session: Session, actor: Principal, org_id: int) -> Organisation:
    require_admin(actor)
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(Message(N_("No such organisation.")))
    return org


def organisation_member_count(session: Session, org_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Member)
            .where(Member.organisation_id == org_id, Member.active)
        )
        or 0
    )


def update_organisation(
    session: Session, actor: Principal, org_id: int, data: OrganisationInput
) -> None:
    org = organisation_for_edit(session, actor, org_id)
    _check_organisation(session, data, org_id)
    if data.branch_id != org.branch_id:
        moved = session.scalar(
            select(func.count()).select_from(Member).where(Member.organisation_id == org.id)
        )
        if moved:
            raise InvalidInput(
                {
                    "branch_id": Message(
                        N_(
                            "%(count)s members work here; transfer them first, then "
                            "move the organisation to another branch."
                        ),
                        {"count": moved},
                    )
                }
            )
    org.name, org.kind, org.branch_id = data.name, data.kind, data.branch_id
    org.business_status = data.business_status
    org.employee_count, org.owner_name = data.employee_count, data.owner_name
    session.flush()


# --- members --------------------------------------------------------------------------


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
    code = _required(_text(values, "code"), 32, errors, "code")
    name = _required(_text(values, "name"), 60, errors, "name")
    branch_id = _int(_text(values, "branch_id"), errors, "branch_id", N_("Choose a branch."))
    organisation_id = _int(
        _text(values, "organisation_id"),
        errors,
        "organisation_id",
        N_("Choose an organisation from the list."),
    )
    status_text = _text(values, "status").strip()
    if status_text not in MEMBER_STATUS_LABELS:
        errors["status"] = Message(N_("Choose a status from the list."))
    joined = _date(_text(values, "joined_party_on"), errors, "joined_party_on")
    if joined is not None and joined > today:
        errors["joined_party_on"] = Message(N_("This date is in the future."))
    id_number = _text(values, "id_number").strip().upper().replace(" ", "") or None
    if id_number is not None:
        problem = id_number_problem(id_number)
        if problem is not None:
            errors["id_number"] = problem
    phone = re.sub(r"[\s-]", "", _text(values, "phone")) or None
    if phone is not None:
        if phone.startswith("+86"):
            phone = phone[3:]
        problem = phone_problem(phone)
        if problem is not None:
            errors["phone"] = problem
    left_on = _date(_text(values, "left_on"), errors, "left_on")
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
    if query.strip():
        pattern = f"%{query.strip()}%"
        statement = statement.where(
            or_(
                Member.code.ilike(pattern),
                Member.name.ilike(pattern),
                Branch.code.ilike(pattern),
                Branch.name.ilike(pattern),
            )
        )
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    pages, page = _page_bounds(total, page)
    rows = session.execute(
        statement.order_by(Member.active.desc(), Member.code)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return Page(
        rows=[
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
    _check_roster_editor(actor, branch_id)
    if member_id is not None:
        member_for_edit(session, actor, member_id, branch_id=branch_id)


def _check_roster_editor(actor: Principal, branch_id: int) -> None:
    if not can_edit_roster(actor, branch_id):
        raise PermissionDenied(
            Message(N_("Only this branch's secretary or the organisation office edits its roster."))
        )


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
    _check_roster_editor(actor, target)
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
    _check_roster_editor(actor, member.branch_id)
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


def organisation_choices(session: Session, branch_id: int | None) -> list[tuple[int, str, int]]:
    """(id, name, branch id) of the organisations a member's field may offer."""
    statement = select(Organisation.id, Organisation.name, Organisation.branch_id).order_by(
        Organisation.name
    )
    if branch_id is not None:
        statement = statement.where(Organisation.branch_id == branch_id)
    return [(row.id, row.name, row.branch_id) for row in session.execute(statement)]


# --- accounts -------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountRow:
    id: int
    username: str
    display_name: str
    member_code: str | None
    member_name: str | None
    roles: tuple[tuple[str, str | None], ...]  # (role, branch name)
    is_active: bool
    disabled_at: datetime | None
    must_change_password: bool
    last_login_at: datetime | None


@dataclass(frozen=True)
class RolesInput:
    secretary_of: frozenset[int] = frozenset()
    instructor_of: frozenset[int] = frozenset()
    admin: bool = False


@dataclass(frozen=True)
class AccountInput:
    username: str
    display_name: str
    member_code: str | None
    password: str
    roles: RolesInput = field(default_factory=RolesInput)


def password_problem(password: str) -> Message | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return Message(N_("Use at least %(min)s characters."), {"min": MIN_PASSWORD_LENGTH})
    if len(password) > MAX_PASSWORD_LENGTH:
        return Message(N_("This text is too long."))
    return None


RoleNames = dict[int, list[tuple[str, str | None]]]


def _role_rows(session: Session, account_ids: Iterable[int]) -> RoleNames:
    ids = list(account_ids)
    result: RoleNames = {}
    if not ids:
        return result
    rows = session.execute(
        select(RoleGrant.account_id, RoleGrant.role, Branch.name)
        .outerjoin(Branch, Branch.id == RoleGrant.branch_id)
        .where(RoleGrant.account_id.in_(ids), RoleGrant.role != Role.MEMBER)
        .order_by(RoleGrant.account_id, RoleGrant.role, Branch.code)
    )
    for account_id, role, branch_name in rows:
        result.setdefault(account_id, []).append((role.value, branch_name))
    return result


def list_accounts(
    session: Session, actor: Principal, query: str = "", page: int = 1
) -> Page[AccountRow]:
    require_admin(actor)
    statement = select(Account, Member.code, Member.name).outerjoin(
        Member, Member.id == Account.member_id
    )
    if query.strip():
        pattern = f"%{query.strip()}%"
        statement = statement.where(
            or_(
                Account.username.ilike(pattern),
                Account.display_name.ilike(pattern),
                Member.code.ilike(pattern),
            )
        )
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    pages, page = _page_bounds(total, page)
    rows = session.execute(
        statement.order_by(Account.username).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    roles = _role_rows(session, (row[0].id for row in rows))
    return Page(
        rows=[
            AccountRow(
                id=account.id,
                username=account.username,
                display_name=account.display_name,
                member_code=code,
                member_name=name,
                roles=tuple(roles.get(account.id, [])),
                is_active=account.is_active,
                disabled_at=account.disabled_at,
                must_change_password=account.must_change_password,
                last_login_at=account.last_login_at,
            )
            for account, code, name in rows
        ],
        total=total,
        page=page,
        pages=pages,
    )


def account_for_edit(session: Session, actor: Principal, account_id: int) -> AccountRow:
    require_admin(actor)
    row = session.execute(
        select(Account, Member.code, Member.name)
        .outerjoin(Member, Member.id == Account.member_id)
        .where(Account.id == account_id)
    ).first()
    if row is None:
        raise NotFound(Message(N_("No such account.")))
    account, code, name = row
    return AccountRow(
        id=account.id,
        username=account.username,
        display_name=account.display_name,
        member_code=code,
        member_name=name,
        roles=tuple(_role_rows(session, [account.id]).get(account.id, [])),
        is_active=account.is_active,
        disabled_at=account.disabled_at,
        must_change_password=account.must_change_password,
        last_login_at=account.last_login_at,
    )


def current_roles(session: Session, account_id: int) -> RolesInput:
    grants = list(session.scalars(select(RoleGrant).where(RoleGrant.account_id == account_id)))
    return RolesInput(
        secretary_of=frozenset(
            g.branch_id for g in grants if g.role is Role.SECRETARY and g.branch_id is not None
        ),
        instructor_of=frozenset(
            g.branch_id for g in grants if g.role is Role.INSTRUCTOR and g.branch_id is not None
        ),
        admin=any(g.role is Role.ADMIN for g in grants),
    )


def parse_roles(secretary: Iterable[str], instructor: Iterable[str], admin: bool) -> RolesInput:
    def ids(values: Iterable[str]) -> frozenset[int]:
        return frozenset(int(v) for v in values if str(v).strip().isdigit())

    return RolesInput(secretary_of=ids(secretary), instructor_of=ids(instructor), admin=admin)


def _check_roles(session: Session, roles: RolesInput) -> None:
    wanted = roles.secretary_of | roles.instructor_of
    if wanted:
        known = set(session.scalars(select(Branch.id).where(Branch.id.in_(wanted))))
        if known != wanted:
            raise InvalidInput({"roles": Message(N_("Choose branches from the list."))})


def _write_roles(session: Session, account_id: int, roles: RolesInput) -> None:
    """Make the account's secretary, instructor and office grants exactly ``roles``,
    touching only the grants that change (each is a line of the audit log)."""
    wanted: set[tuple[Role, int | None]] = {(Role.SECRETARY, b) for b in roles.secretary_of}
    wanted |= {(Role.INSTRUCTOR, b) for b in roles.instructor_of}
    if roles.admin:
        wanted.add((Role.ADMIN, None))
    held: set[tuple[Role, int | None]] = set()
    for grant in session.scalars(
        select(RoleGrant).where(RoleGrant.account_id == account_id, RoleGrant.role != Role.MEMBER)
    ):
        key = (grant.role, grant.branch_id)
        if key in wanted and key not in held:
            held.add(key)
        else:
            session.delete(grant)
    session.flush()
    for role, branch_id in sorted(wanted - held, key=lambda k: (k[0].value, k[1] or 0)):
        session.add(RoleGrant(account_id=account_id, role=role, branch_id=branch_id))


def parse_account(values: Mapping[str, Any], roles: RolesInput) -> AccountInput:
    errors: dict[str, Message] = {}
    username = _text(values, "username").strip()
    if not username:
        errors["username"] = Message(N_("This field is required."))
    elif not USERNAME_PATTERN.fullmatch(username):
        errors["username"] = Message(
            N_("Use 2 to 64 letters, digits, dots, dashes or underscores.")
        )
    display_name = _required(_text(values, "display_name"), 60, errors, "display_name")
    member_code = _text(values, "member_code").strip() or None
    password = _text(values, "password")
    problem = password_problem(password)
    if problem is not None:
        errors["password"] = problem
    if errors:
        raise InvalidInput(errors)
    return AccountInput(
        username=username,
        display_name=display_name,
        member_code=member_code,
        password=password,
        roles=roles,
    )


def create_account(session: Session, actor: Principal, data: AccountInput) -> int:
    """A new account with an initial password its owner must change at first sign-in."""
    require_admin(actor)
    errors: dict[str, Message] = {}
    if session.scalar(select(Account.id).where(Account.username == data.username)) is not None:
        errors["username"] = Message(N_("This username is taken."))
    member_id = None
    if data.member_code is not None:
        member = session.scalar(select(Member).where(Member.code == data.member_code))
        if member is None:
            errors["member_code"] = Message(N_("No member has this member number."))
        elif session.scalar(select(Account.id).where(Account.member_id == member.id)):
            errors["member_code"] = Message(N_("This member already has an account."))
        else:
            member_id = member.id
    if errors:
        raise InvalidInput(errors)
    _check_roles(session, data.roles)
    account = Account(
        username=data.username,
        display_name=data.display_name,
        member_id=member_id,
        password_hash=hash_password(data.password),
        is_active=True,
        must_change_password=True,
    )
    session.add(account)
    session.flush()
    _write_roles(session, account.id, data.roles)
    session.flush()
    return account.id


def _account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(Message(N_("No such account.")))
    return account


def set_roles(session: Session, actor: Principal, account_id: int, roles: RolesInput) -> None:
    require_admin(actor)
    account = _account(session, account_id)
    if account.id == actor.account_id and not roles.admin:
        raise Conflict(Message(N_("You cannot take the office role from your own account.")))
    _check_roles(session, roles)
    _write_roles(session, account.id, roles)
    session.flush()


def reset_password(session: Session, actor: Principal, account_id: int, password: str) -> None:
    """A new initial password: its owner must change it at next sign-in, and every
    session of the account ends now."""
    require_admin(actor)
    account = _account(session, account_id)
    problem = password_problem(password)
    if problem is not None:
        raise InvalidInput({"password": problem})
    account.password_hash = hash_password(password)
    account.must_change_password = True
    end_account_sessions(session, account.id)
    session.flush()


def disable_account(session: Session, actor: Principal, account_id: int, *, now: datetime) -> None:
    """The account can no longer sign in and its sessions end at once; its entries,
    reviews and points stay."""
    require_admin(actor)
    account = _account(session, account_id)
    if account.id == actor.account_id:
        raise Conflict(Message(N_("You cannot disable your own account.")))
    if not account.is_active:
        raise Conflict(Message(N_("This account is already disabled.")))
    account.is_active = False
    account.disabled_at = now
    end_account_sessions(session, account.id)
    session.flush()


def enable_account(session: Session, actor: Principal, account_id: int) -> None:
    require_admin(actor)
    account = _account(session, account_id)
    if account.is_active:
        raise Conflict(Message(N_("This account is already enabled.")))
    account.is_active = True
    account.disabled_at = None
    session.flush()


def account_id_by_username(session: Session, username: str) -> int:
    account_id = session.scalar(select(Account.id).where(Account.username == username))
    if account_id is None:
        raise NotFound(Message(N_("No account has this username.")))
    return account_id
