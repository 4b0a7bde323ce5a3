"""Reviewing entries: the secretary's queue, approval and rejection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts import Principal
from service.entries import EntryView, entry_views_query, to_views
from service.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.i18n import ENTRY_STATUS_LABELS, N_, Message
from service.ledger import reconcile_member, score_member_year
from service.models import Entry, EntryStatus, LedgerKind
from service.periods import period_of
from service.publication import frozen_months, is_frozen
from service.scoring.engine import Activity, Source, score_activities
from service.scoring.rules import Rulebook

REASON_MAX = 500


@dataclass(frozen=True)
class ReviewQueue:
    entries: list[EntryView]
    own_pending: int  # the reviewer's own entries, which someone else must review


def review_queue(session: Session, actor: Principal) -> ReviewQueue:
    """Pending entries the actor may decide, oldest first."""
    if not actor.is_reviewer:
        raise PermissionDenied(Message(N_("Only secretaries and instructors review entries.")))
    query = entry_views_query().where(Entry.status == EntryStatus.PENDING)
    if not actor.is_admin:
        query = query.where(Entry.branch_id.in_(actor.reviewer_branch_ids))
    if actor.member_id is not None:
        query = query.where(Entry.member_id != actor.member_id)
    entries = to_views(session.execute(query.order_by(Entry.submitted_at, Entry.id)))
    own_pending = 0
    if actor.member_id is not None:
        own_pending = (
            session.scalar(
                select(func.count())
                .select_from(Entry)
                .where(Entry.member_id == actor.member_id, Entry.status == EntryStatus.PENDING)
            )
            or 0
        )
    return ReviewQueue(entries=entries, own_pending=own_pending)


def _check_reviewer(actor: Principal, entry: Entry) -> None:
    if not actor.can_review_branch(entry.branch_id):
        raise PermissionDenied(Message(N_("This entry belongs to a branch you do not review.")))
    if actor.member_id is not None and entry.member_id == actor.member_id:
        raise PermissionDenied(
            Message(N_("Nobody reviews their own entry: your instructor will review it."))
        )


def _entry_for_decision(session: Session, actor: Principal, entry_id: int) -> Entry:
    # FOR UPDATE serialises concurrent decisions on PostgreSQL; on SQLite the write
    # transaction (BEGIN IMMEDIATE) already does.
    entry = session.scalar(select(Entry).where(Entry.id == entry_id).with_for_update())
    if entry is None:
        raise NotFound(Message(N_("No such entry.")))
    _check_reviewer(actor, entry)
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
    return sum((line.points for line in lines if line.activity_key == key), Decimal("0.0"))


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
    entry = session.scalar(select(Entry).where(Entry.id == entry_id).with_for_update())
    if entry is None:
        raise NotFound(Message(N_("No such entry.")))
    # Who may act comes before what they typed: a stranger learns nothing from the form.
    _check_reviewer(actor, entry)
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
    session: Session, actor: Principal, entry_id: int, reason: str, *, now: datetime
) -> None:
    """Reject a pending entry; a reason is required so the member knows why."""
    reason = _required_reason(reason, N_("Give the member a reason for the rejection."))
    entry = _entry_for_decision(session, actor, entry_id)
    entry.status = EntryStatus.REJECTED
    entry.decided_at = now
    entry.decided_by_id = actor.account_id
    entry.decision_reason = reason
    session.flush()


@dataclass(frozen=True)
class ApprovalPreview:
    """What approving an entry would do to its member's points, caps included."""

    change: Decimal  # change of the member's total for the year
    raw: Decimal  # what the entry is worth before caps

    @property
    def limited(self) -> bool:
        # Compared on the member's total, not on this entry's line: an earlier-dated
        # entry can take the room and clip a later one that is already approved.
        return self.change < self.raw


def approval_previews(
    session: Session, rulebook: Rulebook, entries: list[EntryView]
) -> dict[int, ApprovalPreview]:
    """Score each pending entry as if approved, next to what its member already has."""
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
        before = sum(
            (s.counted for s in score_activities(current, rulebook, frozen=given)),
            Decimal("0.0"),
        )
        after_scored = score_activities([*current, candidate], rulebook, frozen=given)
        after = sum((s.counted for s in after_scored), Decimal("0.0"))
        mine = next(s for s in after_scored if s.activity.key == candidate.key)
        previews[entry.id] = ApprovalPreview(after - before, mine.raw)
    return previews
