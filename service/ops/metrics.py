"""The town's numbers an operator watches, read from the database when /metrics is
scraped: cheap counts on indexed columns, so every worker and host reports the same
values whoever did the work, and nothing in the domain has to count as it goes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.audit.events import SIGN_IN_FAILURE
from service.persistence.models import AuditEvent, Entry, EntryStatus, Publication


@dataclass(frozen=True)
class OpsCounts:
    entries_pending: int
    entries_approved: int
    sign_in_failures: int  # every failed sign-in ever (the audit log is append-only)
    last_publication_at: datetime | None


def ops_counts(session: Session) -> OpsCounts:
    rows = session.execute(
        select(Entry.status, func.count())
        .where(Entry.status.in_([EntryStatus.PENDING, EntryStatus.APPROVED]))
        .group_by(Entry.status)
    ).all()
    by_status: dict[EntryStatus, int] = {status: count for status, count in rows}
    failures = session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == SIGN_IN_FAILURE)
    )
    last = session.scalar(select(func.max(Publication.published_at)))
    return OpsCounts(
        entries_pending=by_status.get(EntryStatus.PENDING, 0),
        entries_approved=by_status.get(EntryStatus.APPROVED, 0),
        sign_in_failures=failures or 0,
        last_publication_at=last,
    )
