"""Declaring, withdrawing and listing entries (积分申报)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session, aliased

from service.accounts.permissions import can_view_entry
from service.accounts.principal import Principal
from service.entries.evidence import (
    PhotoStore,
    PhotoUpload,
    PreparedPhoto,
    StoredPhoto,
    prepare_photos,
    store_photos,
    stored_photo,
)
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.kernel.periods import period_of
from service.people.transfers import branch_on
from service.persistence.models import (
    Account,
    Branch,
    Entry,
    EntryPhoto,
    EntryStatus,
    LedgerKind,
    LedgerLine,
    Member,
)
from service.persistence.pagination import Page, fetch_page
from service.publication.state import hold_month, is_frozen
from service.scoring.engine import quantity_problem
from service.scoring.rules import Rulebook

DESCRIPTION_MAX = 2000
# An entry shows its description and photos: a page of /entries holds 25, as the review
# queue's does by default.
ENTRIES_PAGE_SIZE = 25


@dataclass(frozen=True)
class EntryInput:
    rule_id: str
    activity_date: date
    quantity: Decimal
    description: str


@dataclass(frozen=True)
class EntryView:
    id: int
    member_id: int
    member_name: str
    branch_id: int
    branch_name: str
    rule_id: str
    ruleset_version: str
    activity_date: date
    period: str
    quantity: Decimal
    description: str
    status: EntryStatus
    submitted_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None
    points: Decimal | None


def submit_entry(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    data: EntryInput,
    *,
    today: date,
    now: datetime,
    photos: Sequence[PhotoUpload] = (),
    photo_store: PhotoStore | None = None,
) -> int:
    """Record a member's declaration as a pending entry and return its id.

    ``photos`` are checked and stored as its evidence (``photo_store`` says where); a
    rule with ``photo_required`` refuses an entry without one.
    """
    if actor.member_id is None:
        raise PermissionDenied(Message(N_("Only party members can declare entries.")))
    prepared: list[PreparedPhoto] = []
    photo_problem: Message | None = None
    if photos:
        if photo_store is None:
            raise ValueError("photos need a photo_store to go to")
        # Decoded before the first query: on SQLite that query begins the request's
        # write transaction, and decoding megapixels should not hold the write lock.
        prepared, photo_problem = prepare_photos(photos, photo_store)
    member = session.get(Member, actor.member_id)
    if member is None or not member.active:
        raise PermissionDenied(Message(N_("Your member record is not active.")))

    errors: dict[str, Message] = {}
    description = data.description.strip()
    if not description:
        errors["description"] = Message(N_("Describe what you did."))
    elif len(description) > DESCRIPTION_MAX:
        errors["description"] = Message(
            N_("Keep the description under %(max)d characters."), {"max": DESCRIPTION_MAX}
        )
    in_force_today = rulebook.in_force(today)
    if data.activity_date > today:
        errors["activity_date"] = Message(N_("The date cannot be in the future."))
    elif in_force_today is not None and data.activity_date < in_force_today.declare_from(today):
        earliest = declarable_from(session, rulebook, today)
        assert earliest is not None
        # Without a limit, any month never published (a year ago, say) stayed open to
        # new entries long after anyone could check them.
        errors["activity_date"] = Message(
            N_(
                "Too far back: activities can be declared from %(date)s on. If something "
                "older is missing, tell your branch secretary."
            ),
            {"date": earliest.isoformat()},
        )
    elif hold_month(session, period_of(data.activity_date)):
        errors["activity_date"] = Message(
            N_(
                "%(period)s is published: entries dated in it can no longer be submitted. "
                "If something is missing, tell your branch secretary."
            ),
            {"period": period_of(data.activity_date)},
        )
    ruleset = rulebook.in_force(data.activity_date)
    rule = ruleset.rule(data.rule_id) if ruleset else None
    if ruleset is None:
        errors["activity_date"] = Message(N_("No points rules were in force on that date."))
    elif rule is None or not rule.member_declares:
        errors["rule_id"] = Message(N_("Choose an item from the list."))
    elif problem := quantity_problem(rule, data.quantity):
        errors["quantity"] = problem
    if photo_problem is not None:
        errors["photos"] = photo_problem
    elif rule is not None and rule.photo_required and not prepared:
        errors["photos"] = Message(
            N_("This item needs at least one photo as evidence: attach a JPEG or PNG photo.")
        )
    if errors:
        raise InvalidInput(errors)
    assert ruleset is not None

    entry = Entry(
        member_id=member.id,
        # The branch the member belonged to on the activity date, not today's: its
        # points count there (boards, ledger), and that branch's secretary reviews it,
        # since the service was done while the member was in that branch.
        branch_id=branch_on(session, member.id, data.activity_date),
        rule_id=data.rule_id,
        ruleset_version=ruleset.version,
        activity_date=data.activity_date,
        period=period_of(data.activity_date),
        quantity=data.quantity,
        description=description,
        status=EntryStatus.PENDING,
        submitted_at=now,
        submitted_by_id=actor.account_id,
    )
    session.add(entry)
    session.flush()
    if prepared:
        assert photo_store is not None
        store_photos(
            session, photo_store, entry.id, prepared, uploaded_by_id=actor.account_id, now=now
        )
    return entry.id


def declarable_from(session: Session, rulebook: Rulebook, today: date) -> date | None:
    """The earliest activity date a member may declare today, or None without rules in
    force (then no date can be declared at all).

    The rules in force today say how many months back (``declare_months_back``); a
    published month in that window is closed too, so the window starts after it.
    """
    ruleset = rulebook.in_force(today)
    if ruleset is None:
        return None
    earliest = ruleset.declare_from(today)
    while earliest <= today and is_frozen(session, period_of(earliest)):
        earliest = date(earliest.year + earliest.month // 12, earliest.month % 12 + 1, 1)
    return earliest


def entry_photo(
    session: Session,
    actor: Principal,
    store: PhotoStore,
    entry_id: int,
    photo_id: int,
    *,
    thumbnail: bool = False,
) -> StoredPhoto:
    """One photo of an entry, for those who may see the entry (``can_view_entry``)."""
    entry = session.get(Entry, entry_id)
    if entry is None:
        raise NotFound(Message(N_("No such entry.")))
    # Who may look comes first: a stranger learns nothing about the entry's photos.
    if not can_view_entry(actor, entry):
        raise PermissionDenied(Message(N_("This entry is not yours to see.")))
    photo = session.scalar(
        select(EntryPhoto).where(EntryPhoto.id == photo_id, EntryPhoto.entry_id == entry_id)
    )
    if photo is None:
        raise NotFound(Message(N_("No such photo.")))
    found = stored_photo(
        store,
        photo.stored_name,
        photo.content_type,
        stem=f"entry-{entry_id}-photo-{photo_id}",
        thumbnail=thumbnail,
    )
    if found is None:
        raise NotFound(Message(N_("The photo file is missing on the server.")))
    return found


def withdraw_entry(session: Session, actor: Principal, entry_id: int, *, now: datetime) -> None:
    """A member takes back their own pending entry."""
    entry = session.scalar(select(Entry).where(Entry.id == entry_id).with_for_update())
    if entry is None:
        raise NotFound(Message(N_("No such entry.")))
    if entry.member_id != actor.member_id:
        raise PermissionDenied(Message(N_("You can only withdraw your own entries.")))
    if entry.status is not EntryStatus.PENDING:
        raise Conflict(Message(N_("Only a pending entry can be withdrawn.")))
    entry.status = EntryStatus.WITHDRAWN
    entry.decided_at = now
    entry.decided_by_id = actor.account_id
    session.flush()


def entry_views_query() -> Select[Entry, str, str, str | None, Decimal | None]:
    decider = aliased(Account)
    award = aliased(LedgerLine)
    return (
        select(Entry, Member.name, Branch.name, decider.display_name, award.points)
        .join(Member, Member.id == Entry.member_id)
        .join(Branch, Branch.id == Entry.branch_id)
        .outerjoin(decider, decider.id == Entry.decided_by_id)
        .outerjoin(award, (award.entry_id == Entry.id) & (award.kind == LedgerKind.AWARD))
    )


def to_views(rows: Iterable[Row[Entry, str, str, str | None, Decimal | None]]) -> list[EntryView]:
    views = []
    for entry, member_name, branch_name, decided_by, points in rows:
        views.append(
            EntryView(
                id=entry.id,
                member_id=entry.member_id,
                member_name=member_name,
                branch_id=entry.branch_id,
                branch_name=branch_name,
                rule_id=entry.rule_id,
                ruleset_version=entry.ruleset_version,
                activity_date=entry.activity_date,
                period=entry.period,
                quantity=entry.quantity,
                description=entry.description,
                status=entry.status,
                submitted_at=entry.submitted_at,
                decided_at=entry.decided_at,
                decided_by=decided_by,
                decision_reason=entry.decision_reason,
                points=points,
            )
        )
    return views


def member_entries(session: Session, actor: Principal, *, limit: int = 100) -> list[EntryView]:
    """The actor's own entries, newest first."""
    if actor.member_id is None:
        return []
    rows = session.execute(
        entry_views_query()
        .where(Entry.member_id == actor.member_id)
        .order_by(Entry.submitted_at.desc(), Entry.id.desc())
        .limit(limit)
    )
    return to_views(rows)


def member_entries_page(
    session: Session, actor: Principal, *, page: int = 1, size: int = ENTRIES_PAGE_SIZE
) -> Page[EntryView]:
    """Page ``page`` of the actor's own entries, newest first (the order of
    ``member_entries``): every entry is on some page, however many there are."""
    if actor.member_id is None:
        return Page(items=[], total=0, page=1, pages=1, size=size)
    rows, total, page, pages = fetch_page(
        session,
        entry_views_query()
        .where(Entry.member_id == actor.member_id)
        .order_by(Entry.submitted_at.desc(), Entry.id.desc()),
        page=page,
        size=size,
    )
    return Page(items=to_views(rows), total=total, page=page, pages=pages, size=size)


def count_by_status(session: Session) -> dict[str, int]:
    counts = {status.value: 0 for status in EntryStatus}
    for status, count in session.execute(select(Entry.status, func.count()).group_by(Entry.status)):
        counts[status.value] = count
    return counts
