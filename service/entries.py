"""Declaring, withdrawing and listing entries (积分申报)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session, aliased

from service.accounts import Principal
from service.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.i18n import N_, Message
from service.models import Account, Branch, Entry, EntryStatus, LedgerKind, LedgerLine, Member
from service.periods import period_of
from service.publication import is_frozen
from service.scoring.engine import quantity_problem
from service.scoring.rules import Rulebook
from service.transfers import branch_on

DESCRIPTION_MAX = 2000


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
) -> int:
    """Record a member's declaration as a pending entry and return its id."""
    if actor.member_id is None:
        raise PermissionDenied(Message(N_("Only party members can declare entries.")))
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
    if data.activity_date > today:
        errors["activity_date"] = Message(N_("The date cannot be in the future."))
    elif is_frozen(session, period_of(data.activity_date)):
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
    return entry.id


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


def count_by_status(session: Session) -> dict[str, int]:
    counts = {status.value: 0 for status in EntryStatus}
    for status, count in session.execute(select(Entry.status, func.count()).group_by(Entry.status)):
        counts[status.value] = count
    return counts
