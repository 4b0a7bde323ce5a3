"""Branches (党支部, 联合党支部), kept by the organisation office.

Every function checks who acts, validates the whole input at once (``InvalidInput``
with one message per field), flushes and leaves the commit to the caller; the audit
log records each change by itself. Nothing is ever deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from service.accounts.permissions import require_admin
from service.accounts.principal import Principal
from service.boards.live import get_branch
from service.kernel.errors import InvalidInput
from service.kernel.fields import code_field, required_text, text_field
from service.kernel.i18n import N_, Message
from service.people.fields import BRANCH_KIND_LABELS
from service.persistence import pagination
from service.persistence.models import (
    Branch,
    BranchKind,
    Member,
    Organisation,
)
from service.persistence.pagination import PAGE_SIZE, fetch_page, matching


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
    return matching(
        select(Branch).order_by(Branch.code, Branch.id), query, Branch.code, Branch.name
    )


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
    code = code_field(text_field(values, "code"), 32, errors, "code")
    name = required_text(text_field(values, "name"), 120, errors, "name")
    kind_text = text_field(values, "kind").strip()
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
