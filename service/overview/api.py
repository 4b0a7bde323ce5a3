"""What the JSON API reads: entries, the review queue and members, filtered and in
slices (limit and offset), each behind the same permission checks as the pages.

The checks are the services' own (``can_view_entry``, the reviewer's branches of
``review_queue``, ``can_view_points``); the queries here add the filters and the paging
an integration needs, which the pages (one screen each) do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from service.accounts.permissions import (
    can_view_branch,
    can_view_entry,
    can_view_points,
    require_reviewer,
    viewable_branch_ids,
)
from service.accounts.principal import Principal
from service.boards.pages import member_standing
from service.entries.entry import EntryView, entry_views_query, to_views
from service.entries.evidence import photos_by_entry
from service.kernel.errors import NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.ledger.explain import member_branch
from service.persistence.models import (
    Branch,
    Entry,
    EntryStatus,
    Member,
    Organisation,
    PointsSummary,
)
from service.persistence.pagination import matching

T = TypeVar("T")
MAX_LIMIT = 100


@dataclass(frozen=True)
class Slice(Generic[T]):
    """``items`` from ``offset`` on, at most ``limit`` of them, out of ``total``."""

    items: list[T]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        following = self.offset + len(self.items)
        return following if following < self.total and self.items else None


def _count(session: Session, query: Any) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def _bounded(limit: int) -> int:
    return max(1, min(limit, MAX_LIMIT))


# --- entries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryItem:
    view: EntryView
    photos: int  # how many photos the entry has (served on the web pages only)


def _items(session: Session, views: list[EntryView]) -> list[EntryItem]:
    photos = photos_by_entry(session, [view.id for view in views])
    return [EntryItem(view, len(photos.get(view.id, []))) for view in views]


def own_entries(
    session: Session,
    actor: Principal,
    *,
    status: EntryStatus | None = None,
    period: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Slice[EntryItem]:
    """The actor's own entries, newest first."""
    if actor.member_id is None:
        raise PermissionDenied(Message(N_("Only party members have entries of their own.")))
    query = entry_views_query().where(Entry.member_id == actor.member_id)
    if status is not None:
        query = query.where(Entry.status == status)
    if period is not None:
        query = query.where(Entry.period == period)
    limit = _bounded(limit)
    total = _count(session, query)
    rows = session.execute(
        query.order_by(Entry.submitted_at.desc(), Entry.id.desc()).limit(limit).offset(offset)
    )
    return Slice(_items(session, to_views(rows)), total, limit, offset)


def viewable_entry(session: Session, actor: Principal, entry_id: int) -> EntryItem:
    """One entry, for those ``can_view_entry`` lets see it: its member, the reviewers of
    its branch, the office."""
    entry = session.get(Entry, entry_id)
    if entry is None:
        raise NotFound(Message(N_("No such entry.")))
    if not can_view_entry(actor, entry):
        raise PermissionDenied(Message(N_("This entry is not yours to see.")))
    (view,) = to_views(session.execute(entry_views_query().where(Entry.id == entry_id)))
    return _items(session, [view])[0]


def pending_reviews(
    session: Session,
    actor: Principal,
    *,
    branch_id: int | None = None,
    rule_id: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Slice[EntryItem]:
    """The pending entries the actor may decide, oldest first: the queue of
    ``service.entries.review.review_queue`` (the reviewer's branches, the office's all, never
    the reviewer's own entries), filtered by branch, rule and activity dates."""
    require_reviewer(actor)
    query = entry_views_query().where(Entry.status == EntryStatus.PENDING)
    if not actor.is_admin:
        query = query.where(Entry.branch_id.in_(actor.reviewer_branch_ids))
    if actor.member_id is not None:
        query = query.where(Entry.member_id != actor.member_id)
    if branch_id is not None:
        if not actor.can_review_branch(branch_id):
            raise PermissionDenied(Message(N_("You do not review this branch.")))
        query = query.where(Entry.branch_id == branch_id)
    if rule_id is not None:
        query = query.where(Entry.rule_id == rule_id)
    if date_from is not None:
        query = query.where(Entry.activity_date >= date_from)
    if date_to is not None:
        query = query.where(Entry.activity_date <= date_to)
    limit = _bounded(limit)
    total = _count(session, query)
    rows = session.execute(query.order_by(Entry.submitted_at, Entry.id).limit(limit).offset(offset))
    return Slice(_items(session, to_views(rows)), total, limit, offset)


# --- members ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberSummary:
    id: int
    code: str
    name: str
    branch_id: int
    branch_name: str
    status: str
    active: bool


@dataclass(frozen=True)
class MemberDetail:
    member: MemberSummary
    organisation_name: str | None
    joined_party_on: date | None
    left_on: date | None
    period: str
    points: Decimal
    rank: int | None  # town-wide; None when not ranked (exempt, or no points)
    tied: bool


def _members_query() -> Select[Member, str]:
    return select(Member, Branch.name).join(Branch, Branch.id == Member.branch_id)


def _summary(member: Member, branch_name: str) -> MemberSummary:
    return MemberSummary(
        id=member.id,
        code=member.code,
        name=member.name,
        branch_id=member.branch_id,
        branch_name=branch_name,
        status=member.status.value,
        active=member.active,
    )


def visible_members(
    session: Session,
    actor: Principal,
    *,
    query: str = "",
    branch_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Slice[MemberSummary]:
    """Members of the branches the actor oversees (a secretary's or instructor's; the
    office's all), by member number; ``query`` matches number or name."""
    if not actor.is_reviewer:
        raise PermissionDenied(
            Message(N_("Only secretaries, instructors and the office list members."))
        )
    statement = _members_query()
    branches = viewable_branch_ids(actor)
    if branches is not None:
        statement = statement.where(Member.branch_id.in_(branches))
    if branch_id is not None:
        if not can_view_branch(actor, branch_id):
            raise PermissionDenied(Message(N_("You do not have access to this branch.")))
        statement = statement.where(Member.branch_id == branch_id)
    statement = matching(statement, query, Member.code, Member.name)
    limit = _bounded(limit)
    total = _count(session, statement)
    rows = session.execute(statement.order_by(Member.code).limit(limit).offset(offset))
    return Slice([_summary(member, name) for member, name in rows], total, limit, offset)


def member_detail(
    session: Session, actor: Principal, member_id: int, *, period: str
) -> MemberDetail:
    """A member with their points and town-wide rank in ``period``, for those who may
    see the member's points (``can_view_points``: the member, the reviewers of the
    member's branch, the office)."""
    if not can_view_points(actor, member_id, member_branch(session, member_id)):
        raise PermissionDenied(Message(N_("You do not have access to this member's points.")))
    row = session.execute(
        _members_query()
        .add_columns(Organisation.name)
        .outerjoin(Organisation, Organisation.id == Member.organisation_id)
        .where(Member.id == member_id)
    ).one()
    member, branch_name, organisation_name = row
    points = session.scalar(
        select(func.sum(PointsSummary.points)).where(
            PointsSummary.member_id == member_id, PointsSummary.period == period
        )
    )
    standing = member_standing(session, period, member_id)
    return MemberDetail(
        member=_summary(member, branch_name),
        organisation_name=organisation_name,
        joined_party_on=member.joined_party_on,
        left_on=member.left_on,
        period=period,
        points=Decimal(points if points is not None else 0).quantize(Decimal("0.1")),
        rank=standing.rank if standing else None,
        tied=standing.tied if standing else False,
    )
