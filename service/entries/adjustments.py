"""Deductions (扣分) and manual adjustments, recorded by a secretary with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.permissions import can_record_in_branch, require_recorder
from service.accounts.principal import Principal
from service.kernel.errors import InvalidInput, NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.kernel.periods import period_of
from service.ledger.reconcile import reconcile_member
from service.people.members import MemberChoice
from service.people.transfers import branch_on
from service.persistence.models import Adjustment, Branch, Member
from service.publication.state import hold_month
from service.scoring.engine import MANUAL_RULE_ID, quantity_problem
from service.scoring.points import TENTH
from service.scoring.rules import Recorder, Rulebook

REASON_MAX = 500
# A manual adjustment beyond this is a typo rather than a branch decision: the whole
# yearly scale (base 60, five stars at 96) fits inside it.
MANUAL_LIMIT = Decimal(100)


@dataclass(frozen=True)
class AdjustmentInput:
    member_id: int
    rule_id: str  # a secretary-recorded rule, or MANUAL_RULE_ID
    day: date
    reason: str
    quantity: Decimal = Decimal(1)
    points: Decimal | None = None  # manual adjustments only
    # The branch whose page the adjustment is recorded from: the member must belong to it.
    branch_id: int | None = None


def record_adjustment(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    data: AdjustmentInput,
    *,
    today: date,
    now: datetime,
) -> int:
    """Record a deduction or manual adjustment for a member of the actor's branch."""
    member = session.get(Member, data.member_id)
    if member is None:
        raise NotFound(Message(N_("No such member.")))
    # A deduction or adjustment belongs to the branch the member was in on its day: it
    # counts there, and that branch's secretary records it (after a transfer, the old
    # branch still decides about the time before it).
    branch_id = branch_on(session, member.id, data.day)
    if data.branch_id is not None and branch_id != data.branch_id:
        raise InvalidInput({"member_id": Message(N_("Choose a member of this branch."))})
    require_recorder(actor, branch_id, member.id)

    errors: dict[str, Message] = {}
    reason = data.reason.strip()
    if not reason:
        errors["reason"] = Message(N_("Give the branch's decision as the reason."))
    elif len(reason) > REASON_MAX:
        errors["reason"] = Message(
            N_("Keep the reason under %(max)d characters."), {"max": REASON_MAX}
        )
    if data.day > today:
        errors["day"] = Message(N_("The date cannot be in the future."))
    elif hold_month(session, period_of(data.day)):
        errors["day"] = Message(
            N_(
                "%(period)s is published: deductions and adjustments dated in it can no "
                "longer be recorded. The organisation office can open a correction."
            ),
            {"period": period_of(data.day)},
        )
    ruleset = rulebook.in_force(data.day)
    points: Decimal | None = None
    if ruleset is None:
        errors["day"] = Message(N_("No points rules were in force on that date."))
    elif data.rule_id == MANUAL_RULE_ID:
        if data.points is None or data.points == 0:
            errors["points"] = Message(N_("Give the points to add (or, negative, to take away)."))
        elif abs(data.points) > MANUAL_LIMIT:
            errors["points"] = Message(
                N_("An adjustment is between -%(max)s and %(max)s points."),
                {"max": str(MANUAL_LIMIT)},
            )
        elif data.points != data.points.quantize(TENTH):
            errors["points"] = Message(N_("Use at most one decimal place."))
        else:
            points = data.points
    else:
        rule = ruleset.rule(data.rule_id)
        if rule is None or rule.recorded_by is not Recorder.SECRETARY or rule.from_attendance:
            errors["rule_id"] = Message(N_("Choose an item from the list."))
        elif problem := quantity_problem(rule, data.quantity):
            errors["quantity"] = problem
    if errors:
        raise InvalidInput(errors)

    adjustment = Adjustment(
        member_id=member.id,
        branch_id=branch_id,
        rule_id=data.rule_id,
        day=data.day,
        period=period_of(data.day),
        quantity=data.quantity if points is None else Decimal(1),
        points=points,
        reason=reason,
        created_at=now,
        created_by_id=actor.account_id,
    )
    session.add(adjustment)
    session.flush()
    reconcile_member(
        session, rulebook, member.id, data.day.year, now=now, actor_id=actor.account_id, note=reason
    )
    return adjustment.id


def adjustable_members(session: Session, actor: Principal, branch_id: int) -> list[MemberChoice]:
    """The branch's active members the actor may record an adjustment for (never
    themselves: ``record_adjustment`` refuses that), by member number."""
    if session.get(Branch, branch_id) is None:
        raise NotFound(Message(N_("No such branch.")))
    if not can_record_in_branch(actor, branch_id):
        raise PermissionDenied(
            Message(N_("Only the member's branch secretary records deductions and adjustments."))
        )
    rows = session.execute(
        select(Member.id, Member.code, Member.name)
        .where(Member.branch_id == branch_id, Member.active)
        .order_by(Member.code)
    )
    return [
        MemberChoice(member_id, code, name)
        for member_id, code, name in rows
        if member_id != actor.member_id
    ]
