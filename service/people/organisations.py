"""Organisations (两新组织) and their 五清 ledger fields: business status, employees,
how the branch is set up, member count, owner. Kept by the organisation office.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.permissions import require_admin
from service.accounts.principal import Principal
from service.kernel.errors import InvalidInput, NotFound
from service.kernel.fields import id_field, required_text, text_field, typed_int
from service.kernel.i18n import N_, Message
from service.people.fields import BUSINESS_STATUS_LABELS, ORGANISATION_KIND_LABELS
from service.persistence.models import (
    Branch,
    BranchKind,
    Member,
    Organisation,
    OrganisationKind,
)
from service.persistence.pagination import PAGE_SIZE, Page, fetch_page, matching

# Seven digits, as before: no organisation of a town employs ten million.
EMPLOYEES_MAX = 9_999_999


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


def list_organisations(
    session: Session, actor: Principal, query: str = "", page: int = 1
) -> Page[OrganisationRow]:
    require_admin(actor)
    statement = matching(
        select(Organisation, Branch).join(Branch, Branch.id == Organisation.branch_id),
        query,
        Organisation.name,
        Organisation.owner_name,
        Branch.name,
        Branch.code,
    )
    rows, total, page, pages = fetch_page(
        session, statement.order_by(Branch.code, Organisation.name, Organisation.id), page=page
    )
    ids = [row[0].id for row in rows]
    counts = dict(
        session.execute(
            select(Member.organisation_id, func.count())
            .where(Member.organisation_id.in_(ids), Member.active)
            .group_by(Member.organisation_id)
        ).all()
    )
    return Page(
        items=[
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
        size=PAGE_SIZE,
    )


def parse_organisation(values: Mapping[str, Any]) -> OrganisationInput:
    errors: dict[str, Message] = {}
    name = required_text(text_field(values, "name"), 120, errors, "name")
    kind_text = text_field(values, "kind").strip()
    if kind_text not in ORGANISATION_KIND_LABELS:
        errors["kind"] = Message(N_("Choose enterprise or social organisation."))
    branch_id = id_field(
        text_field(values, "branch_id"), errors, "branch_id", N_("Choose a branch.")
    )
    if branch_id is None and "branch_id" not in errors:
        errors["branch_id"] = Message(N_("Choose a branch."))
    status = text_field(values, "business_status").strip()
    if status not in BUSINESS_STATUS_LABELS:
        errors["business_status"] = Message(N_("Choose a business status from the list."))
    employees = typed_int(text_field(values, "employee_count"), low=0, high=EMPLOYEES_MAX)
    if employees is None:
        errors["employee_count"] = Message(N_("Enter the number of employees, e.g. 35."))
        employees = 0
    owner = required_text(text_field(values, "owner_name"), 60, errors, "owner_name")
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


def organisation_choices(session: Session, branch_id: int | None) -> list[tuple[int, str, int]]:
    """(id, name, branch id) of the organisations a member's field may offer."""
    statement = select(Organisation.id, Organisation.name, Organisation.branch_id).order_by(
        Organisation.name
    )
    if branch_id is not None:
        statement = statement.where(Organisation.branch_id == branch_id)
    return [(row.id, row.name, row.branch_id) for row in session.execute(statement)]
