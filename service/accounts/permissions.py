"""Who may do what: every object-level permission check of the service, in one place.

The services call these before they act (a check in the web layer alone could be
skipped by the CLI or the API); the pages call the ``can_*`` ones to offer only the
forms the service will accept. The roles: a member acts on their own entries; a
secretary (支部书记) reviews, keeps the roster and records deductions in their branch; an
instructor (党建指导员) sees and reviews the branches assigned to them but records and
edits nothing; the organisation office (admin) does everything. Nobody reviews or
adjusts their own points.
"""

from __future__ import annotations

from service.accounts.principal import Principal
from service.kernel.errors import PermissionDenied
from service.kernel.i18n import N_, Message
from service.persistence.models import Entry

OFFICE_ONLY = N_("Only the organisation office may do this.")
REVIEWERS_ONLY = N_("Only secretaries and instructors review entries.")


def require_admin(actor: Principal, message: str = OFFICE_ONLY) -> None:
    """403 unless the actor is the organisation office; ``message`` (an ``N_`` string)
    says what only the office does."""
    if not actor.is_admin:
        raise PermissionDenied(Message(message))


def require_reviewer(actor: Principal) -> None:
    """403 unless the actor reviews some branch (a secretary, an instructor, the office)."""
    if not actor.is_reviewer:
        raise PermissionDenied(Message(REVIEWERS_ONLY))


# --- branches -----------------------------------------------------------------------------


def can_view_branch(actor: Principal, branch_id: int) -> bool:
    """Who sees a branch's own pages (its entries, members, roster, suggestions): its
    secretaries, the instructors assigned to it, and the office. The public boards are
    open to everyone signed in and need no check."""
    return actor.can_review_branch(branch_id)


def require_branch_access(actor: Principal, branch_id: int) -> None:
    """403 unless ``can_view_branch``."""
    if not can_view_branch(actor, branch_id):
        raise PermissionDenied(Message(N_("You do not have access to this branch.")))


def viewable_branch_ids(actor: Principal) -> frozenset[int] | None:
    """The branches ``can_view_branch`` allows; None for the office (every branch)."""
    if actor.is_admin:
        return None
    return actor.reviewer_branch_ids


def can_view_roster(actor: Principal, branch_id: int) -> bool:
    """Admins, and the branch's secretaries and instructors."""
    return actor.is_admin or branch_id in actor.reviewer_branch_ids


def can_edit_roster(actor: Principal, branch_id: int) -> bool:
    """Admins, and the branch's secretaries (instructors only read)."""
    return actor.is_admin or branch_id in actor.branches_with_secretary


def require_roster_editor(actor: Principal, branch_id: int) -> None:
    """403 unless ``can_edit_roster``."""
    if not can_edit_roster(actor, branch_id):
        raise PermissionDenied(
            Message(N_("Only this branch's secretary or the organisation office edits its roster."))
        )


OWN_RECORD = N_("Nobody changes their own roster record: the organisation office does.")


def can_edit_member(actor: Principal, member_id: int, branch_id: int) -> bool:
    """Whether the actor may change this member's record (status, dates, branch): the
    roster's editors, never for themselves. A secretary marking themselves exempt would
    take themselves off the rankings, as approving their own entry would add points."""
    return can_edit_roster(actor, branch_id) and actor.member_id != member_id


def require_member_editor(actor: Principal, member_id: int, branch_id: int) -> None:
    """403 unless ``can_edit_member``: like self-approval, nobody edits their own record."""
    require_roster_editor(actor, branch_id)
    if actor.member_id == member_id:
        raise PermissionDenied(Message(OWN_RECORD))


# --- entries and points -------------------------------------------------------------------


def can_view_entry(actor: Principal, entry: Entry) -> bool:
    """Who sees an entry and its evidence: its member, the reviewers (secretaries and
    instructors) of the branch it counts for, and the office. The same people the
    review rules let act on it, plus its member."""
    return actor.member_id == entry.member_id or actor.can_review_branch(entry.branch_id)


def require_may_decide(actor: Principal, branch_id: int, member_id: int) -> None:
    """403 unless the actor reviews the branch an entry counts for and the entry is not
    their own (a secretary's own entries go to their instructor)."""
    if not actor.can_review_branch(branch_id):
        raise PermissionDenied(Message(N_("This entry belongs to a branch you do not review.")))
    if actor.member_id is not None and member_id == actor.member_id:
        raise PermissionDenied(
            Message(N_("Nobody reviews their own entry: your instructor will review it."))
        )


def can_decide(actor: Principal, branch_id: int, member_id: int) -> bool:
    """Whether ``require_may_decide`` lets the actor approve, reject or revoke an entry
    of this member counted for this branch: the pages offer those forms only then."""
    return actor.can_review_branch(branch_id) and actor.member_id != member_id


def can_view_points(actor: Principal, member_id: int, member_branch_id: int) -> bool:
    """The member, a secretary or instructor of the member's branch, and admins see a
    member's explanation (it holds deductions and their reasons, never public)."""
    return actor.member_id == member_id or can_view_branch(actor, member_branch_id)


def can_record_in_branch(actor: Principal, branch_id: int) -> bool:
    """Whether the actor records deductions and adjustments in a branch at all: its
    secretary or an admin (see ``can_record_adjustment``)."""
    return actor.is_admin or branch_id in actor.branches_with_secretary


def can_record_adjustment(actor: Principal, member_id: int, member_branch_id: int) -> bool:
    """Mirrors ``require_recorder``: the member's branch secretary or an admin, never for
    themselves. Instructors oversee, they do not record deductions."""
    if actor.member_id == member_id:
        return False
    return can_record_in_branch(actor, member_branch_id)


def require_recorder(actor: Principal, branch_id: int, member_id: int) -> None:
    """403 unless the actor records a deduction or adjustment for this member, whose
    points count for ``branch_id`` on the day in question."""
    if not can_record_in_branch(actor, branch_id):
        raise PermissionDenied(
            Message(N_("Only the member's branch secretary records deductions and adjustments."))
        )
    if actor.member_id == member_id:
        raise PermissionDenied(Message(N_("Nobody records adjustments to their own points.")))
