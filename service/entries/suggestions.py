"""Suggestions (建言献策) after approval: adopted (采纳), then implemented (落实)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from service.accounts.permissions import require_branch_access, require_may_decide, require_reviewer
from service.accounts.principal import Principal
from service.kernel.errors import Conflict, InvalidInput, NotFound
from service.kernel.i18n import N_, Message
from service.kernel.periods import period_of
from service.ledger.reconcile import reconcile_member
from service.persistence.models import Branch, Entry, EntryStatus, LedgerLine, Member
from service.persistence.pagination import PAGE_SIZE, Page, fetch_page
from service.publication.state import hold_months, is_frozen
from service.scoring.engine import Source
from service.scoring.rules import Rulebook

ZERO = Decimal("0.0")


class Step:
    ADOPTED = "adopted"
    IMPLEMENTED = "implemented"


STEPS = (Step.ADOPTED, Step.IMPLEMENTED)


def _suggestion(
    session: Session, actor: Principal, rulebook: Rulebook, entry_id: int, branch_id: int | None
) -> Entry:
    entry = session.scalar(select(Entry).where(Entry.id == entry_id).with_for_update())
    if entry is None or (branch_id is not None and entry.branch_id != branch_id):
        raise NotFound(Message(N_("No such entry.")))
    require_may_decide(actor, entry.branch_id, entry.member_id)
    ruleset = rulebook.in_force(entry.activity_date)
    rule = ruleset.rule(entry.rule_id) if ruleset else None
    if rule is None or not rule.suggestion:
        raise Conflict(Message(N_("This entry is not a suggestion.")))
    if entry.status is not EntryStatus.APPROVED:
        raise Conflict(Message(N_("Only an approved suggestion can be adopted or implemented.")))
    return entry


def _check_day(session: Session, day: date, today: date, after: date) -> None:
    if day > today:
        raise InvalidInput({"day": Message(N_("The date cannot be in the future."))})
    if is_frozen(session, period_of(day)):
        raise InvalidInput(
            {
                "day": Message(
                    N_(
                        "%(period)s is published: a suggestion step dated in it can no longer "
                        "be recorded. The organisation office can open a correction."
                    ),
                    {"period": period_of(day)},
                )
            }
        )
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
    branch_id: int | None = None,
) -> None:
    """Record that a suggestion was adopted or implemented on ``day``; the step's points
    (from the rule) count in that day's month. ``branch_id``, when given, is the branch
    page the step is marked from: the entry must be one of its suggestions.

    A step counts for the entry's branch (the branch the member was in when making the
    suggestion, ``Entry.branch_id``), even if the member has transferred since: the
    suggestion was made to that branch, and its secretary adopts it. The ledger takes
    the step's branch from the entry (service/ledger/reconcile.py)."""
    if step not in STEPS:
        raise NotFound(Message(N_("No such step.")))
    # Before the entry's row lock and the "is the month published?" check.
    hold_months(session)
    entry = _suggestion(session, actor, rulebook, entry_id, branch_id)
    if step == Step.ADOPTED:
        if entry.adopted_on is not None:
            raise Conflict(Message(N_("This suggestion is already marked adopted.")))
        _check_day(session, day, today, entry.activity_date)
        entry.adopted_on, entry.adopted_by_id = day, actor.account_id
    else:
        if entry.adopted_on is None:
            raise Conflict(Message(N_("A suggestion is adopted before it is implemented.")))
        if entry.implemented_on is not None:
            raise Conflict(Message(N_("This suggestion is already marked implemented.")))
        _check_day(session, day, today, entry.adopted_on)
        entry.implemented_on, entry.implemented_by_id = day, actor.account_id
    session.flush()
    reconcile_member(
        session, rulebook, entry.member_id, day.year, now=now, actor_id=actor.account_id
    )


@dataclass(frozen=True)
class SuggestionView:
    entry_id: int
    member_id: int
    member_name: str
    rule_id: str
    ruleset_version: str
    activity_date: date
    description: str
    status: EntryStatus
    adopted_on: date | None
    implemented_on: date | None
    # Points each stage counts for now (ledger sums, caps applied); None before it.
    approved_points: Decimal | None
    adopted_points: Decimal | None
    implemented_points: Decimal | None

    @property
    def stage(self) -> str:
        if self.implemented_on:
            return Step.IMPLEMENTED
        if self.adopted_on:
            return Step.ADOPTED
        return self.status.value

    @property
    def next_step(self) -> str | None:
        """The step that can be marked next, if any."""
        if self.status is not EntryStatus.APPROVED or self.implemented_on:
            return None
        return Step.IMPLEMENTED if self.adopted_on else Step.ADOPTED

    @property
    def earliest(self) -> date:
        """The earliest date the next step may carry."""
        return self.adopted_on or self.activity_date


def _check_branch(session: Session, actor: Principal, branch_id: int) -> Branch:
    branch = session.get(Branch, branch_id)
    if branch is None:
        raise NotFound(Message(N_("No such branch.")))
    require_branch_access(actor, branch_id)
    return branch


SUGGESTIONS_PAGE_SIZE = 25  # each suggestion carries its steps and a date form


def _suggestions_query(
    session: Session, actor: Principal, rulebook: Rulebook, branch_id: int
) -> Select[Entry, str]:
    _check_branch(session, actor, branch_id)
    suggestion_rules = {
        rule.id for ruleset in rulebook.rulesets for rule in ruleset.rules if rule.suggestion
    }
    return (
        select(Entry, Member.name)
        .join(Member, Member.id == Entry.member_id)
        .where(
            Entry.branch_id == branch_id,
            Entry.rule_id.in_(suggestion_rules),
            Entry.status.in_([EntryStatus.PENDING, EntryStatus.APPROVED]),
        )
        .order_by(Entry.activity_date.desc(), Entry.id.desc())
    )


def branch_suggestions(
    session: Session, actor: Principal, rulebook: Rulebook, branch_id: int
) -> list[SuggestionView]:
    """A branch's suggestions, newest first, with how far each has come. Reviewers of
    the branch only: pending suggestions are not public."""
    rows = session.execute(_suggestions_query(session, actor, rulebook, branch_id)).all()
    return _suggestion_views(session, rows)


def branch_suggestions_page(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    branch_id: int,
    *,
    page: int = 1,
    size: int = SUGGESTIONS_PAGE_SIZE,
) -> Page[SuggestionView]:
    """Page ``page`` of ``branch_suggestions``, counted and cut in the database; the
    same check of the branch's reviewers comes first."""
    rows, total, page, pages = fetch_page(
        session, _suggestions_query(session, actor, rulebook, branch_id), page=page, size=size
    )
    return Page(
        items=_suggestion_views(session, rows), total=total, page=page, pages=pages, size=size
    )


def _suggestion_views(session: Session, rows: Sequence[Row[Entry, str]]) -> list[SuggestionView]:
    points: dict[tuple[int, Source], Decimal] = {}
    entry_ids = [row[0].id for row in rows]
    if entry_ids:
        for line in session.execute(
            select(LedgerLine.entry_id, LedgerLine.source, func.sum(LedgerLine.points))
            .where(LedgerLine.entry_id.in_(entry_ids))
            .group_by(LedgerLine.entry_id, LedgerLine.source)
        ):
            if line[0] is not None:
                points[(line[0], line[1])] = line[2]
    views = []
    for entry, name in rows:
        approved = entry.status is EntryStatus.APPROVED
        views.append(
            SuggestionView(
                entry_id=entry.id,
                member_id=entry.member_id,
                member_name=name,
                rule_id=entry.rule_id,
                ruleset_version=entry.ruleset_version,
                activity_date=entry.activity_date,
                description=entry.description,
                status=entry.status,
                adopted_on=entry.adopted_on,
                implemented_on=entry.implemented_on,
                approved_points=points.get((entry.id, Source.ENTRY), ZERO) if approved else None,
                adopted_points=(
                    points.get((entry.id, Source.ADOPTED), ZERO) if entry.adopted_on else None
                ),
                implemented_points=(
                    points.get((entry.id, Source.IMPLEMENTED), ZERO)
                    if entry.implemented_on
                    else None
                ),
            )
        )
    return views


@dataclass(frozen=True)
class BranchChoice:
    branch_id: int
    code: str
    name: str


def _reviewer_branches_query(actor: Principal) -> Select[int, str, str]:
    require_reviewer(actor)
    query = select(Branch.id, Branch.code, Branch.name).order_by(Branch.code, Branch.id)
    if not actor.is_admin:
        query = query.where(Branch.id.in_(actor.reviewer_branch_ids))
    return query


def reviewer_branches(session: Session, actor: Principal) -> list[BranchChoice]:
    """The branches the actor reviews (every branch for an admin), by code."""
    query = _reviewer_branches_query(actor)
    return [BranchChoice(row.id, row.code, row.name) for row in session.execute(query)]


def reviewer_branches_page(
    session: Session, actor: Principal, *, page: int = 1, size: int = PAGE_SIZE
) -> Page[BranchChoice]:
    """Page ``page`` of ``reviewer_branches``: the office sees every branch of the town."""
    rows, total, page, pages = fetch_page(
        session, _reviewer_branches_query(actor), page=page, size=size
    )
    items = [BranchChoice(row.id, row.code, row.name) for row in rows]
    return Page(items=items, total=total, page=page, pages=pages, size=size)


def branch_name(session: Session, actor: Principal, branch_id: int) -> str:
    """The branch's name, for a reviewer of the branch."""
    return _check_branch(session, actor, branch_id).name
