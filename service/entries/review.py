"""Reviewing entries: the secretary's queue, approval and rejection."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.permissions import require_may_decide, require_reviewer
from service.accounts.principal import Principal
from service.entries.entry import EntryView, entry_views_query, to_views
from service.entries.notices import entry_approved, entry_rejected
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.i18n import ENTRY_STATUS_LABELS, N_, Message
from service.kernel.periods import period_of
from service.ledger.reconcile import reconcile_member, score_member_year
from service.persistence.models import Branch, Entry, EntryStatus, LedgerKind
from service.persistence.pagination import page_bounds
from service.publication.state import frozen_months, hold_months, is_frozen
from service.scoring.engine import Activity, Scored, Source, score_activities
from service.scoring.rules import Rulebook

REASON_MAX = 500
# Page sizes the queue offers; the first is the default.
QUEUE_PAGE_SIZES = (25, 50)
# More than two full pages at once is not a selection a reviewer made by hand.
BULK_MAX = 2 * QUEUE_PAGE_SIZES[-1]


@dataclass(frozen=True)
class ReviewQueue:
    entries: list[EntryView]
    own_pending: int  # the reviewer's own entries, which someone else must review


def _queue_conditions(actor: Principal) -> list[Any]:
    """What puts a pending entry in the actor's queue: a branch they review, and not
    their own entry."""
    conditions: list[Any] = [Entry.status == EntryStatus.PENDING]
    if not actor.is_admin:
        conditions.append(Entry.branch_id.in_(actor.reviewer_branch_ids))
    if actor.member_id is not None:
        conditions.append(Entry.member_id != actor.member_id)
    return conditions


def _own_pending(session: Session, actor: Principal) -> int:
    if actor.member_id is None:
        return 0
    return (
        session.scalar(
            select(func.count())
            .select_from(Entry)
            .where(Entry.member_id == actor.member_id, Entry.status == EntryStatus.PENDING)
        )
        or 0
    )


def review_queue(session: Session, actor: Principal) -> ReviewQueue:
    """Pending entries the actor may decide, oldest first."""
    require_reviewer(actor)
    query = entry_views_query().where(*_queue_conditions(actor))
    entries = to_views(session.execute(query.order_by(Entry.submitted_at, Entry.id)))
    return ReviewQueue(entries=entries, own_pending=_own_pending(session, actor))


@dataclass(frozen=True)
class QueueFilter:
    """Narrows the queue: one rule, one branch, activity dates from and to (inclusive)."""

    rule_id: str | None = None
    branch_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    @property
    def active(self) -> bool:
        return any(
            value is not None
            for value in (self.rule_id, self.branch_id, self.date_from, self.date_to)
        )

    def conditions(self) -> list[Any]:
        conditions: list[Any] = []
        if self.rule_id is not None:
            conditions.append(Entry.rule_id == self.rule_id)
        if self.branch_id is not None:
            conditions.append(Entry.branch_id == self.branch_id)
        if self.date_from is not None:
            conditions.append(Entry.activity_date >= self.date_from)
        if self.date_to is not None:
            conditions.append(Entry.activity_date <= self.date_to)
        return conditions


@dataclass(frozen=True)
class QueuePage:
    """One page of the filtered queue, with what the filter form offers."""

    entries: list[EntryView]
    matching: int  # entries the filter matches, every page together
    pending: int  # the whole queue, unfiltered
    own_pending: int
    page: int
    pages: int
    size: int
    rule_ids: list[str]  # the rules of the queue's entries, for the rule filter
    branches: list[tuple[int, str]]  # the branches the queue holds entries of

    @property
    def first(self) -> int:
        """1-based position of the page's first entry (0 on an empty page)."""
        return (self.page - 1) * self.size + 1 if self.entries else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.size + len(self.entries)


def queue_page(
    session: Session,
    actor: Principal,
    queue_filter: QueueFilter | None = None,
    *,
    page: int = 1,
    size: int = QUEUE_PAGE_SIZES[0],
) -> QueuePage:
    """Page ``page`` of the pending entries the actor may decide, narrowed by
    ``queue_filter``, oldest first (the order ``review_queue`` gives)."""
    require_reviewer(actor)
    queue_filter = queue_filter or QueueFilter()
    if size not in QUEUE_PAGE_SIZES:
        size = QUEUE_PAGE_SIZES[0]
    base = _queue_conditions(actor)
    narrowed = [*base, *queue_filter.conditions()]
    matching = session.scalar(select(func.count()).select_from(Entry).where(*narrowed)) or 0
    pages, page = page_bounds(matching, page, size)
    entries = to_views(
        session.execute(
            entry_views_query()
            .where(*narrowed)
            .order_by(Entry.submitted_at, Entry.id)
            .limit(size)
            .offset((page - 1) * size)
        )
    )
    pending = (
        matching
        if not queue_filter.active
        else session.scalar(select(func.count()).select_from(Entry).where(*base)) or 0
    )
    rule_ids = sorted(session.scalars(select(Entry.rule_id).where(*base).distinct()))
    branches = [
        (row[0], row[1])
        for row in session.execute(
            select(Branch.id, Branch.name)
            .join(Entry, Entry.branch_id == Branch.id)
            .where(*base)
            .group_by(Branch.id, Branch.name, Branch.code)
            .order_by(Branch.code)
        )
    ]
    return QueuePage(
        entries=entries,
        matching=matching,
        pending=pending,
        own_pending=_own_pending(session, actor),
        page=page,
        pages=pages,
        size=size,
        rule_ids=rule_ids,
        branches=branches,
    )


def _entry_for_decision(session: Session, actor: Principal, entry_id: int) -> Entry:
    # FOR UPDATE serialises concurrent decisions on PostgreSQL; on SQLite the write
    # transaction (BEGIN IMMEDIATE) already does.
    entry = session.scalar(select(Entry).where(Entry.id == entry_id).with_for_update())
    if entry is None:
        raise NotFound(Message(N_("No such entry.")))
    require_may_decide(actor, entry.branch_id, entry.member_id)
    if entry.status is not EntryStatus.PENDING:
        raise Conflict(
            Message(
                N_("This entry is no longer pending (now: %(status)s); nothing was changed."),
                {"status": Message(ENTRY_STATUS_LABELS[entry.status.value])},
            )
        )
    return entry


def approve_entry(
    session: Session, actor: Principal, rulebook: Rulebook, entry_id: int, *, now: datetime
) -> Decimal:
    """Approve a pending entry and write its ledger lines; returns the points it counts for
    (after caps)."""
    # Before the entry's row lock, and before asking whether its month is published: a
    # publication of the month waits for this approval, or this approval for it.
    hold_months(session)
    entry = _entry_for_decision(session, actor, entry_id)
    if is_frozen(session, entry.period):
        raise Conflict(
            Message(
                N_(
                    "%(period)s is published: an entry dated in it can no longer be approved. "
                    "The organisation office can open a correction of that month."
                ),
                {"period": entry.period},
            )
        )
    ruleset = rulebook.in_force(entry.activity_date)
    if ruleset is None or ruleset.rule(entry.rule_id) is None:
        raise Conflict(
            Message(N_("The rule of this entry no longer exists; reject it with a reason."))
        )
    entry.status = EntryStatus.APPROVED
    entry.decided_at = now
    entry.decided_by_id = actor.account_id
    session.flush()
    lines = reconcile_member(
        session,
        rulebook,
        entry.member_id,
        entry.activity_date.year,
        now=now,
        actor_id=actor.account_id,
    )
    key = f"entry:{entry.id}"
    points = sum((line.points for line in lines if line.activity_key == key), Decimal("0.0"))
    entry_approved(session, entry, rulebook, points, now=now)
    return points


def revoke_entry(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    entry_id: int,
    reason: str,
    *,
    now: datetime,
) -> None:
    """Take back an approval: the entry stops counting through reversal lines, never by
    deleting what was written."""
    # Before the row lock and the "is it published?" checks (see approve_entry).
    hold_months(session)
    entry = session.scalar(select(Entry).where(Entry.id == entry_id).with_for_update())
    if entry is None:
        raise NotFound(Message(N_("No such entry.")))
    # Who may act comes before what they typed: a stranger learns nothing from the form.
    require_may_decide(actor, entry.branch_id, entry.member_id)
    if entry.status is not EntryStatus.APPROVED:
        raise Conflict(Message(N_("Only an approved entry can be revoked.")))
    # The entry's points and those of its suggestion steps all go: none may sit in a
    # published month.
    for day in (entry.activity_date, entry.adopted_on, entry.implemented_on):
        if day is not None and is_frozen(session, period_of(day)):
            raise Conflict(
                Message(
                    N_(
                        "%(period)s is published: points dated in it can no longer be "
                        "revoked. The organisation office can open a correction of that month."
                    ),
                    {"period": period_of(day)},
                )
            )
    reason = _required_reason(reason, N_("Say why the approval is revoked."))
    entry.status = EntryStatus.REVOKED
    entry.revoked_at = now
    entry.revoked_by_id = actor.account_id
    entry.revoke_reason = reason
    session.flush()
    # The entry and its suggestion steps; "adjustment:<id>" is another activity that
    # merely shares the number.
    steps = (Source.ENTRY, Source.ADOPTED, Source.IMPLEMENTED)
    causes = {f"{source.value}:{entry.id}": LedgerKind.REVERSAL for source in steps}
    years = {d.year for d in (entry.activity_date, entry.adopted_on, entry.implemented_on) if d}
    for year in sorted(years):
        reconcile_member(
            session,
            rulebook,
            entry.member_id,
            year,
            now=now,
            actor_id=actor.account_id,
            causes=causes,
            note=reason,
        )


def _required_reason(reason: str, missing: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInput({"reason": Message(missing)})
    if len(reason) > REASON_MAX:
        too_long = Message(N_("Keep the reason under %(max)d characters."), {"max": REASON_MAX})
        raise InvalidInput({"reason": too_long})
    return reason


def reject_entry(
    session: Session,
    actor: Principal,
    entry_id: int,
    reason: str,
    *,
    now: datetime,
    rulebook: Rulebook | None = None,
) -> None:
    """Reject a pending entry; a reason is required so the member knows why. The
    ``rulebook`` names the rule in the member's notification (without it: the rule's
    id)."""
    reason = _required_reason(reason, N_("Give the member a reason for the rejection."))
    entry = _entry_for_decision(session, actor, entry_id)
    entry.status = EntryStatus.REJECTED
    entry.decided_at = now
    entry.decided_by_id = actor.account_id
    entry.decision_reason = reason
    session.flush()
    entry_rejected(session, entry, rulebook, reason, now=now)


@dataclass(frozen=True)
class ApprovalPreview:
    """What approving an entry would do to its member's points, caps included."""

    change: Decimal  # change of the member's total for the year
    raw: Decimal  # what approving it adds before caps (its worth, or its share of a total)

    @property
    def limited(self) -> bool:
        # Compared on the member's total, not on this entry's line: an earlier-dated
        # entry can take the room and clip a later one that is already approved.
        return self.change < self.raw


def approval_previews(
    session: Session, rulebook: Rulebook, entries: list[EntryView]
) -> dict[int, ApprovalPreview]:
    """Score each pending entry as if approved, next to what its member already has."""
    return _previews(session, rulebook, entries, cumulative=False)


def _sums(scored: Iterable[Scored]) -> tuple[Decimal, Decimal]:
    """(counted, raw) summed."""
    counted = raw = Decimal("0.0")
    for item in scored:
        counted += item.counted
        raw += item.raw
    return counted, raw


def _previews(
    session: Session, rulebook: Rulebook, entries: Iterable[EntryView], *, cumulative: bool
) -> dict[int, ApprovalPreview]:
    """``cumulative``: each entry is scored as approved after the ones before it in
    ``entries`` (a bulk approval in that order), so the changes add up to what the whole
    batch does; otherwise each is scored alone, as the queue's single buttons do."""
    previews: dict[int, ApprovalPreview] = {}
    cache: dict[tuple[int, int], tuple[list[Activity], dict[str, Decimal]]] = {}
    frozen = frozen_months(session)
    for entry in entries:
        year = entry.activity_date.year
        key = (entry.member_id, year)
        if key not in cache:
            scored, _held, given = score_member_year(
                session, rulebook, entry.member_id, year, frozen=frozen
            )
            cache[key] = ([item.activity for item in scored], given)
        current, given = cache[key]
        candidate = Activity(
            source=Source.ENTRY,
            source_id=entry.id,
            rule_id=entry.rule_id,
            day=entry.activity_date,
            branch_id=entry.branch_id,
            quantity=entry.quantity,
        )
        before_scored = score_activities(current, rulebook, frozen=given)
        after_scored = score_activities([*current, candidate], rulebook, frozen=given)
        # What the approval adds before and after caps, over the member's whole year: a
        # rule that rounds a day's total re-shares the day when an entry joins it, so the
        # entry's own share alone could say "limited" where no cap took anything.
        before, before_raw = _sums(before_scored)
        after, after_raw = _sums(after_scored)
        previews[entry.id] = ApprovalPreview(after - before, after_raw - before_raw)
        if cumulative:
            cache[key] = ([*current, candidate], given)
    return previews


# --- approving many entries at once -------------------------------------------------------


@dataclass(frozen=True)
class BulkSelection:
    """The entries a reviewer ticked, as the confirmation page lists them."""

    pending: list[EntryView]  # still pending, in the order they will be approved
    decided: list[EntryView]  # decided (or withdrawn) since the queue was shown
    previews: dict[int, ApprovalPreview]  # each pending entry, after those before it

    @property
    def total(self) -> Decimal:
        return sum((self.previews[e.id].change for e in self.pending), Decimal("0.0"))


@dataclass(frozen=True)
class SkippedEntry:
    entry: EntryView
    reason: Message


@dataclass(frozen=True)
class BulkResult:
    approved: list[tuple[int, Decimal]]  # entry id, the points its own line counts
    skipped: list[SkippedEntry]


def _selected(session: Session, actor: Principal, entry_ids: Iterable[int]) -> list[EntryView]:
    """The entries behind ``entry_ids``, oldest first, once each; refused as a whole when
    one is missing or is not the actor's to decide, before anything is changed. The
    queue never offers such an entry, so the request was made by hand: nothing of it
    is done, and nothing about the entries is shown."""
    require_reviewer(actor)
    wanted = sorted(set(entry_ids))
    if not wanted:
        raise InvalidInput({"entry": Message(N_("Select at least one entry to approve."))})
    if len(wanted) > BULK_MAX:
        raise InvalidInput(
            {"entry": Message(N_("Approve at most %(max)d entries at once."), {"max": BULK_MAX})}
        )
    views = to_views(
        session.execute(
            entry_views_query().where(Entry.id.in_(wanted)).order_by(Entry.submitted_at, Entry.id)
        )
    )
    if len(views) != len(wanted):
        raise NotFound(Message(N_("No such entry.")))
    for view in views:
        require_may_decide(actor, view.branch_id, view.member_id)
    return views


def bulk_selection(
    session: Session, actor: Principal, rulebook: Rulebook, entry_ids: Iterable[int]
) -> BulkSelection:
    """What approving the selected entries would do, for the confirmation page."""
    views = _selected(session, actor, entry_ids)
    pending = [view for view in views if view.status is EntryStatus.PENDING]
    return BulkSelection(
        pending=pending,
        decided=[view for view in views if view.status is not EntryStatus.PENDING],
        previews=_previews(session, rulebook, pending, cumulative=True),
    )


def approve_entries(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    entry_ids: Iterable[int],
    *,
    now: datetime,
) -> BulkResult:
    """Approve each selected entry through ``approve_entry``, oldest first.

    An entry someone else decided in the meantime (or its member withdrew) is skipped
    and named with the reason, never approved twice. A missing entry, or one of a
    branch the actor does not review (or their own), refuses the whole request before
    anything changes (``_selected``).
    """
    approved: list[tuple[int, Decimal]] = []
    skipped: list[SkippedEntry] = []
    for view in _selected(session, actor, entry_ids):
        try:
            # approve_entry raises its Conflicts before it changes anything (the entry is
            # re-read under lock, then checked), so a skipped entry leaves no trace and
            # needs no savepoint.
            points = approve_entry(session, actor, rulebook, view.id, now=now)
        except Conflict as exc:
            skipped.append(SkippedEntry(view, exc.message))
            continue
        approved.append((view.id, points))
    return BulkResult(approved=approved, skipped=skipped)


def reviewable_entries(
    session: Session, actor: Principal, entry_ids: Iterable[int]
) -> list[EntryView]:
    """The entries of ``entry_ids`` the actor may decide, whatever their status, oldest
    first; the others are left out silently. Names the entries a bulk approval skipped
    on the page it redirects to, whose address anyone could edit."""
    require_reviewer(actor)
    wanted = sorted(set(entry_ids))[:BULK_MAX]
    if not wanted:
        return []
    views = to_views(
        session.execute(
            entry_views_query().where(Entry.id.in_(wanted)).order_by(Entry.submitted_at, Entry.id)
        )
    )
    found = []
    for view in views:
        try:
            require_may_decide(actor, view.branch_id, view.member_id)
        except PermissionDenied:
            continue
        found.append(view)
    return found


def revoke_member_entry(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    member_id: int,
    entry_id: int,
    reason: str,
    *,
    now: datetime,
) -> int:
    """Revoke an approval from a member's points page. The entry must be that member's,
    so the page the reviewer returns to is the one whose points changed. Returns the
    year the entry counted in."""
    found = session.execute(
        select(Entry.member_id, Entry.activity_date).where(Entry.id == entry_id)
    ).one_or_none()
    if found is None or found.member_id != member_id:
        raise NotFound(Message(N_("No such entry.")))
    revoke_entry(session, actor, rulebook, entry_id, reason, now=now)
    day: date = found.activity_date
    return day.year
