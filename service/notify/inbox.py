"""Reading the inbox: an account's personal notifications and the broadcasts of its
branch and town, newest first, with what it has read.

Broadcasts older than the account, and anything older than ``HORIZON_DAYS``, are not
shown: the header's count stays a bounded query however long the town has run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from service.persistence.models import Account, Member
from service.persistence.notify import Audience, Notification, NotificationRead
from service.persistence.types import utcnow

HORIZON_DAYS = 180
PAGE_SIZE = 30


@dataclass(frozen=True)
class Reader:
    """Who reads: the account, its member's branch (None: no member), when it was made."""

    account_id: int
    branch_id: int | None
    # A value, or (the header's count) the account's created_at as a subquery.
    since: datetime | ColumnElement[datetime]


def reader(session: Session, account_id: int) -> Reader:
    row = session.execute(
        select(Account.created_at, Member.branch_id)
        .outerjoin(Member, Member.id == Account.member_id)
        .where(Account.id == account_id)
    ).one()
    return Reader(account_id, row.branch_id, row.created_at)


def _visible(who: Reader, now: datetime) -> ColumnElement[bool]:
    horizon = now - timedelta(days=HORIZON_DAYS)
    mine = Notification.account_id == who.account_id
    town = and_(Notification.audience == Audience.TOWN, Notification.created_at >= who.since)
    clauses = [mine, town]
    if who.branch_id is not None:
        clauses.append(
            and_(
                Notification.audience == Audience.BRANCH,
                Notification.branch_id == who.branch_id,
                Notification.created_at >= who.since,
            )
        )
    return and_(Notification.created_at >= horizon, or_(*clauses))


def _read(who: Reader) -> ColumnElement[bool]:
    return exists().where(
        NotificationRead.notification_id == Notification.id,
        NotificationRead.account_id == who.account_id,
    )


def unread_count(session: Session, account_id: int, *, now: datetime | None = None) -> int:
    """The header's number."""
    who = reader(session, account_id)
    return int(
        session.scalar(
            select(func.count(Notification.id)).where(_visible(who, now or utcnow()), ~_read(who))
        )
        or 0
    )


def header_count(
    session: Session, account_id: int, branch_id: int | None, *, now: datetime | None = None
) -> int:
    """The header's number in one query: the signed-in principal already knows its
    branch, and the account's age is read inside the COUNT (every page pays for this)."""
    since = select(Account.created_at).where(Account.id == account_id).scalar_subquery()
    who = Reader(account_id, branch_id, since)
    return int(
        session.scalar(
            select(func.count(Notification.id)).where(_visible(who, now or utcnow()), ~_read(who))
        )
        or 0
    )


@dataclass(frozen=True)
class InboxItem:
    notification: Notification
    read: bool


@dataclass(frozen=True)
class InboxPage:
    items: list[InboxItem]
    page: int
    pages: int
    total: int
    unread: int


def inbox(
    session: Session,
    account_id: int,
    *,
    page: int = 1,
    unread_only: bool = False,
    now: datetime | None = None,
) -> InboxPage:
    """One page of the account's inbox, newest first."""
    when = now or utcnow()
    who = reader(session, account_id)
    visible = _visible(who, when)
    read = _read(who)
    where = [visible, ~read] if unread_only else [visible]
    total = int(session.scalar(select(func.count(Notification.id)).where(*where)) or 0)
    unread = int(session.scalar(select(func.count(Notification.id)).where(visible, ~read)) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = session.execute(
        select(Notification, read.label("read"))
        .where(*where)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return InboxPage([InboxItem(n, bool(r)) for n, r in rows], page, pages, total, unread)


def visible_notification(
    session: Session, account_id: int, notification_id: int, *, now: datetime | None = None
) -> Notification | None:
    """The notification if this account may read it (None: not there or not theirs)."""
    who = reader(session, account_id)
    return session.scalar(
        select(Notification).where(
            Notification.id == notification_id, _visible(who, now or utcnow())
        )
    )


def mark_read(
    session: Session,
    account_id: int,
    notification_ids: list[int] | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Mark these notifications (None: every unread one) read for the account; ids it
    cannot see are ignored. Returns how many were newly marked. Reading earns nothing
    and is never ranked: it only clears the count."""
    when = now or utcnow()
    who = reader(session, account_id)
    query = select(Notification.id).where(_visible(who, when), ~_read(who))
    if notification_ids is not None:
        if not notification_ids:
            return 0
        query = query.where(Notification.id.in_(notification_ids))
    ids = list(session.scalars(query))
    for notification_id in ids:
        session.add(
            NotificationRead(notification_id=notification_id, account_id=account_id, read_at=when)
        )
    session.flush()
    return len(ids)
