"""What changed between two revisions of a month's board: members' and branches'
points and ranks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.kernel.errors import NotFound
from service.kernel.i18n import N_, Message
from service.persistence.models import (
    Publication,
    PublicationKind,
    PublishedBranchRow,
)
from service.publication.chain import stored_rows


@dataclass(frozen=True)
class MemberChange:
    member_id: int
    member_code: str
    name: str
    branch_name: str
    points_before: Decimal | None  # None: not on the older board
    points_after: Decimal | None  # None: not on the newer board
    rank_before: int | None
    rank_after: int | None

    @property
    def added(self) -> bool:
        return self.points_before is None

    @property
    def removed(self) -> bool:
        return self.points_after is None


@dataclass(frozen=True)
class BranchChange:
    branch_id: int
    code: str
    name: str
    total_before: Decimal | None
    total_after: Decimal | None
    ranks_before: tuple[int, int, int] | None  # by total, per member, participation
    ranks_after: tuple[int, int, int] | None


@dataclass(frozen=True)
class RevisionDiff:
    period: str
    revision_before: int
    revision_after: int
    reason: str
    members: list[MemberChange] = field(default_factory=list)
    branches: list[BranchChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.members or self.branches)


def diff_revisions(session: Session, period: str, before: int, after: int) -> RevisionDiff:
    """What changed from revision ``before`` to ``after`` of a month: members and
    branches whose points or ranks differ, added or removed."""
    older = session.scalar(
        select(Publication).where(
            Publication.kind == PublicationKind.MONTH,
            Publication.period == period,
            Publication.revision == before,
        )
    )
    newer = session.scalar(
        select(Publication).where(
            Publication.kind == PublicationKind.MONTH,
            Publication.period == period,
            Publication.revision == after,
        )
    )
    if older is None or newer is None:
        raise NotFound(Message(N_("No such revision.")))
    old_members, old_branches = stored_rows(session, older.id)
    new_members, new_branches = stored_rows(session, newer.id)
    old_m = {r.member_id: r for r in old_members}
    new_m = {r.member_id: r for r in new_members}
    member_changes: list[MemberChange] = []
    for member_id in old_m.keys() | new_m.keys():
        a, b = old_m.get(member_id), new_m.get(member_id)
        if a is not None and b is not None and (a.points, a.town_rank) == (b.points, b.town_rank):
            continue
        ref = b or a
        assert ref is not None
        member_changes.append(
            MemberChange(
                member_id=member_id,
                member_code=ref.member_code,
                name=ref.name,
                branch_name=ref.branch_name,
                points_before=a.points if a else None,
                points_after=b.points if b else None,
                rank_before=a.town_rank if a else None,
                rank_after=b.town_rank if b else None,
            )
        )
    member_changes.sort(key=lambda c: (c.rank_after is None, c.rank_after or 0, c.member_code))

    def ranks(row: PublishedBranchRow) -> tuple[int, int, int]:
        return (row.rank_total, row.rank_per_member, row.rank_participation)

    old_b = {r.branch_id: r for r in old_branches}
    new_b = {r.branch_id: r for r in new_branches}
    branch_changes: list[BranchChange] = []
    for branch_id in old_b.keys() | new_b.keys():
        x, y = old_b.get(branch_id), new_b.get(branch_id)
        if x is not None and y is not None and (x.total, ranks(x)) == (y.total, ranks(y)):
            continue
        ref_b = y or x
        assert ref_b is not None
        branch_changes.append(
            BranchChange(
                branch_id=branch_id,
                code=ref_b.code,
                name=ref_b.name,
                total_before=x.total if x else None,
                total_after=y.total if y else None,
                ranks_before=ranks(x) if x else None,
                ranks_after=ranks(y) if y else None,
            )
        )
    branch_changes.sort(key=lambda c: c.code)
    return RevisionDiff(
        period=period,
        revision_before=before,
        revision_after=after,
        reason=newer.reason,
        members=member_changes,
        branches=branch_changes,
    )
