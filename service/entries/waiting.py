"""What waits for each reviewer: the reminder sweep's question, asked once for all.

A reviewer's queue is the pending entries of the branches they review as secretary or
instructor, less their own (someone else decides those): ``review_queue``'s rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.persistence.models import Account, Entry, EntryStatus, Role, RoleGrant


@dataclass(frozen=True)
class Waiting:
    account_id: int
    count: int
    oldest: datetime  # the earliest submission among them


def waiting_per_reviewer(session: Session) -> list[Waiting]:
    """Each active secretary or instructor with pending entries to decide, by account."""
    per_branch = {
        branch_id: (count, oldest)
        for branch_id, count, oldest in session.execute(
            select(Entry.branch_id, func.count(Entry.id), func.min(Entry.submitted_at))
            .where(Entry.status == EntryStatus.PENDING)
            .group_by(Entry.branch_id)
        )
    }
    if not per_branch:
        return []
    grants = session.execute(
        select(RoleGrant.account_id, RoleGrant.branch_id, Account.member_id)
        .join(Account, Account.id == RoleGrant.account_id)
        .where(
            RoleGrant.role.in_((Role.SECRETARY, Role.INSTRUCTOR)),
            RoleGrant.branch_id.in_(sorted(per_branch)),
            Account.is_active.is_(True),
        )
        .distinct()
    ).all()
    own_members = sorted({member_id for _, _, member_id in grants if member_id is not None})
    own: dict[tuple[int, int], int] = {}
    if own_members:
        own = {
            (member_id, branch_id): count
            for member_id, branch_id, count in session.execute(
                select(Entry.member_id, Entry.branch_id, func.count(Entry.id))
                .where(Entry.status == EntryStatus.PENDING, Entry.member_id.in_(own_members))
                .group_by(Entry.member_id, Entry.branch_id)
            )
        }
    counts: dict[int, int] = {}
    oldest_of: dict[int, datetime] = {}
    for account_id, branch_id, member_id in grants:
        if branch_id is None:
            continue
        count, oldest = per_branch[branch_id]
        if member_id is not None:
            count -= own.get((member_id, branch_id), 0)
        if count <= 0:
            continue
        # With their own entries left out the oldest may be a little later; the count is
        # what matters, and the queue shows the rest.
        counts[account_id] = counts.get(account_id, 0) + count
        if account_id not in oldest_of or oldest < oldest_of[account_id]:
            oldest_of[account_id] = oldest
    return [
        Waiting(account_id, counts[account_id], oldest_of[account_id])
        for account_id in sorted(counts)
    ]
