"""What the JSON API asks of meetings beyond the pages: a span of days with offsets
rather than the pages' upcoming/past, and the branch a new meeting is for when the
request does not name one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.errors import PermissionDenied
from service.kernel.i18n import N_
from service.meetings.access import organised_branch_ids, require_organiser
from service.meetings.views import DEFAULT_TIMEZONE, MeetingSummary, _summaries, _visible_condition
from service.persistence.meetings import Meeting

NOT_ORGANISER = N_("You do not organise the meetings of any branch.")


@dataclass(frozen=True)
class MeetingSlice:
    items: list[MeetingSummary]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        following = self.offset + self.limit
        return following if following < self.total else None


def meeting_list(
    session: Session,
    actor: Principal,
    *,
    branch_id: int | None = None,
    day_from: date | None = None,
    day_to: date | None = None,
    limit: int = 50,
    offset: int = 0,
    timezone: str = DEFAULT_TIMEZONE,
) -> MeetingSlice:
    """The meetings the actor sees (as on /meetings), by start, within the town-local
    days given (both included)."""
    conditions: list[Any] = []
    visible = _visible_condition(session, actor)
    if visible is not None:
        conditions.append(visible)
    if branch_id is not None:
        conditions.append(Meeting.branch_id == branch_id)
    if day_from is not None:
        conditions.append(Meeting.day >= day_from)
    if day_to is not None:
        conditions.append(Meeting.day <= day_to)
    total = session.scalar(select(func.count()).select_from(Meeting).where(*conditions)) or 0
    meetings = session.scalars(
        select(Meeting)
        .where(*conditions)
        .order_by(Meeting.starts_at, Meeting.id)
        .limit(limit)
        .offset(offset)
    )
    items = _summaries(session, actor, meetings, timezone)
    return MeetingSlice(items=items, total=total, limit=limit, offset=offset)


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
