"""What the JSON API asks of meetings beyond the pages: the branch a new meeting is for
when the request does not name one (the list by days is ``views.meeting_list``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.errors import PermissionDenied
from service.kernel.i18n import N_
from service.meetings.access import organised_branch_ids, require_organiser

NOT_ORGANISER = N_("You do not organise the meetings of any branch.")


def organiser_branch(session: Session, actor: Principal, branch_id: int | None) -> int | None:
    """The branch a new meeting is for: the one named (which the actor must organise),
    else the actor's only one; None when the actor organises several (or every branch,
    the office) and must name it. PermissionDenied for someone who organises none."""
    if branch_id is not None:
        require_organiser(session, actor, branch_id)
        return branch_id
    organised = organised_branch_ids(session, actor)
    if organised is None:
        return None
    if not organised:
        raise PermissionDenied(NOT_ORGANISER)
    if len(organised) == 1:
        return next(iter(organised))
    return None
