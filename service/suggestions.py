"""Suggestions (建言献策) after approval: adopted (采纳), then implemented (落实)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts import Principal
from service.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.i18n import N_, Message
from service.ledger import reconcile_member
from service.models import Entry, EntryStatus, Member
from service.review import _check_reviewer
from service.scoring.rules import Rulebook


class Step:
    ADOPTED = "adopted"
    IMPLEMENTED = "implemented"


def _suggestion(session: Session, actor: Principal, rulebook: Rulebook, entry_id: int) -> Entry:
    entry = session.scalar(select(Entry).where(Entry.id == entry_id).with_for_update())
    if entry is None:
        raise NotFound(Message(N_("No such entry.")))
    _check_reviewer(actor, entry)
    ruleset = rulebook.in_force(entry.activity_date)
    rule = ruleset.rule(entry.rule_id) if ruleset else None
    if rule is None or not rule.suggestion:
        raise Conflict(Message(N_("This entry is not a suggestion.")))
    if entry.status is not EntryStatus.APPROVED:
        raise Conflict(Message(N_("Only an approved suggestion can be adopted or implemented.")))
    return entry


def _check_day(entry: Entry, day: date, today: date, after: date) -> None:
    if day > today:
        raise InvalidInput({"day": Message(N_("The date cannot be in the future."))})
    if day < after:
        raise InvalidInput(
            {"day": Message(N_("The date cannot be before %(day)s."), {"day": after.isoformat()})}
        )


def mark_step(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    entry_id: int,
    step: str,
    *,
    day: date,
    today: date,
    now: datetime,
) -> None:
    """Record that a suggestion was adopted or implemented on ``day``; the step's points
    (from the rule) count in that day's month."""
    entry = _suggestion(session, actor, rulebook, entry_id)
    if step == Step.ADOPTED:
        if entry.adopted_on is not None:
            raise Conflict(Message(N_("This suggestion is already marked adopted.")))
        _check_day(entry, day, today, entry.activity_date)
        entry.adopted_on, entry.adopted_by_id = day, actor.account_id
    elif step == Step.IMPLEMENTED:
        if entry.adopted_on is None:
            raise Conflict(Message(N_("A suggestion is adopted before it is implemented.")))
        if entry.implemented_on is not None:
            raise Conflict(Message(N_("This suggestion is already marked implemented.")))
        _check_day(entry, day, today, entry.adopted_on)
        entry.implemented_on, entry.implemented_by_id = day, actor.account_id
    else:
        raise NotFound(Message(N_("No such step.")))
    session.flush()
    reconcile_member(
        session, rulebook, entry.member_id, day.year, now=now, actor_id=actor.account_id
    )


@dataclass(frozen=True)
class SuggestionView:
    entry_id: int
    member_name: str
    activity_date: date
    description: str
    status: EntryStatus
    adopted_on: date | None
    implemented_on: date | None

    @property
    def stage(self) -> str:
        if self.implemented_on:
            return Step.IMPLEMENTED
        if self.adopted_on:
            return Step.ADOPTED
        return self.status.value


def branch_suggestions(
    session: Session, actor: Principal, rulebook: Rulebook, branch_id: int
) -> list[SuggestionView]:
    """A branch's suggestions, newest first, with how far each has come."""
    if not (actor.can_review_branch(branch_id) or actor.member_branch_id == branch_id):
        raise PermissionDenied(Message(N_("You do not have access to this branch.")))
    suggestion_rules = {
        rule.id for ruleset in rulebook.rulesets for rule in ruleset.rules if rule.suggestion
    }
    rows = session.execute(
        select(Entry, Member.name)
        .join(Member, Member.id == Entry.member_id)
        .where(
            Entry.branch_id == branch_id,
            Entry.rule_id.in_(suggestion_rules),
            Entry.status.in_([EntryStatus.PENDING, EntryStatus.APPROVED]),
        )
        .order_by(Entry.activity_date.desc(), Entry.id.desc())
    )
    return [
        SuggestionView(
            entry_id=entry.id,
            member_name=name,
            activity_date=entry.activity_date,
            description=entry.description,
            status=entry.status,
            adopted_on=entry.adopted_on,
            implemented_on=entry.implemented_on,
        )
        for entry, name in rows
    ]
