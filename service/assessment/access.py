"""Who sees and acts on what is private in acting on results.

Private (warning cases, talk notes, appraisal inputs, veto reasons, assessed scores
before publication): the member it concerns, the branch's secretaries, the branch's
instructors and the office (admin). Nobody else: not another member of the branch, not
another branch's secretary, not the public board, an export or the public API. To a
stranger a private record does not exist (NotFound, the same answer as a missing id).

Acting: the branch's secretary records (a talk, a case's close, the appraisal sheet, a
branch's self-assessment); the branch's instructor or the office approves and audits;
the office runs banding and rating rounds and publishes lists.
"""

from __future__ import annotations

from service.accounts.principal import Principal
from service.kernel.errors import NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.persistence.models import Role

NOT_FOUND = N_("No such record.")
SECRETARY_ONLY = N_("Only this branch's secretary or the organisation office does this.")
APPROVER_ONLY = N_("Only this branch's instructor or the organisation office does this.")
OFFICE_ONLY = N_("Only the organisation office does this.")


def oversees(actor: Principal, branch_id: int) -> bool:
    """The office, or a secretary or instructor of the branch."""
    return actor.is_admin or branch_id in actor.branches_with(Role.SECRETARY, Role.INSTRUCTOR)


def may_see_private(actor: Principal, *, member_id: int | None, branch_id: int) -> bool:
    """Whether ``actor`` may see a private record about ``member_id`` of ``branch_id``
    (``member_id`` None: a record about the branch itself, e.g. a veto reason)."""
    if oversees(actor, branch_id):
        return True
    return member_id is not None and actor.member_id == member_id


def require_private(actor: Principal, *, member_id: int | None, branch_id: int) -> None:
    """NotFound unless ``may_see_private``: a stranger learns nothing, not even that the
    record exists."""
    if not may_see_private(actor, member_id=member_id, branch_id=branch_id):
        raise NotFound(Message(NOT_FOUND))


def is_secretary_of(actor: Principal, branch_id: int) -> bool:
    return actor.is_admin or branch_id in actor.branches_with_secretary


def require_secretary(actor: Principal, branch_id: int) -> None:
    if not is_secretary_of(actor, branch_id):
        raise PermissionDenied(Message(SECRETARY_ONLY))


def is_approver_of(actor: Principal, branch_id: int) -> bool:
    """The office or the branch's instructor: approves appraisals, audits ratings."""
    return actor.is_admin or branch_id in actor.branches_with(Role.INSTRUCTOR)


def require_approver(actor: Principal, branch_id: int) -> None:
    if not is_approver_of(actor, branch_id):
        raise PermissionDenied(Message(APPROVER_ONLY))


def require_office(actor: Principal) -> None:
    if not actor.is_admin:
        raise PermissionDenied(Message(OFFICE_ONLY))


def overseen_branch_ids(actor: Principal) -> frozenset[int] | None:
    """The branches whose private records the actor sees as a reviewer; None for the
    office (every branch)."""
    if actor.is_admin:
        return None
    return actor.branches_with(Role.SECRETARY, Role.INSTRUCTOR)
