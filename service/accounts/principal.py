"""Who is acting: an account with its roles and branches, loaded once per request."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.persistence.models import (
    Account,
    Branch,
    Member,
    Role,
    RoleGrant,
)


@dataclass(frozen=True)
class Principal:
    """Who is acting: an account with its roles and, when it has one, its member record."""

    account_id: int
    username: str
    display_name: str
    member_id: int | None
    member_branch_id: int | None
    member_branch_name: str | None
    grants: frozenset[tuple[Role, int | None]]
    session_id: str | None = None
    # Signed in with an initial or reset password: nothing but choosing a new one is
    # allowed until it is changed (see ``resolve_session``).
    must_change_password: bool = False

    @property
    def is_admin(self) -> bool:
        return any(role is Role.ADMIN for role, _ in self.grants)

    def branches_with(self, *roles: Role) -> frozenset[int]:
        return frozenset(b for role, b in self.grants if role in roles and b is not None)

    @property
    def branches_with_secretary(self) -> frozenset[int]:
        return self.branches_with(Role.SECRETARY)

    @property
    def reviewer_branch_ids(self) -> frozenset[int]:
        return self.branches_with(Role.SECRETARY, Role.INSTRUCTOR)

    @property
    def is_reviewer(self) -> bool:
        return self.is_admin or bool(self.reviewer_branch_ids)

    def can_review_branch(self, branch_id: int) -> bool:
        return self.is_admin or branch_id in self.reviewer_branch_ids

    @property
    def role_names(self) -> list[str]:
        return sorted({role.value for role, _ in self.grants})


def load_principal(
    session: Session, account_id: int, *, session_id: str | None = None
) -> Principal | None:
    account = session.get(Account, account_id)
    if account is None or not account.is_active:
        return None
    grants = frozenset(
        (grant.role, grant.branch_id)
        for grant in session.scalars(select(RoleGrant).where(RoleGrant.account_id == account_id))
    )
    branch_id = branch_name = None
    if account.member_id is not None:
        row = session.execute(
            select(Member.branch_id, Branch.name)
            .join(Branch, Branch.id == Member.branch_id)
            .where(Member.id == account.member_id)
        ).one()
        branch_id, branch_name = row.branch_id, row.name
    return Principal(
        account_id=account.id,
        username=account.username,
        display_name=account.display_name,
        member_id=account.member_id,
        member_branch_id=branch_id,
        member_branch_name=branch_name,
        grants=grants,
        session_id=session_id,
        must_change_password=account.must_change_password,
    )
