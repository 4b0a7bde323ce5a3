"""A branch's achievements, in the words of the town report: good deeds done (做好事实事),
suggestions made, adopted and implemented (建言献策, with their titles), volunteer hours;
per month and for the year.

Public to every signed-in user, so only approved entries count (a revoked one no
longer does) and nothing about deductions is read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import Session

from service.kernel.errors import NotFound
from service.kernel.i18n import N_, Message
from service.kernel.periods import period_of
from service.persistence.models import Branch, BranchKind, Entry, EntryStatus, Member, Organisation
from service.persistence.pagination import PAGE_SIZE, Page, fetch_page
from service.scoring.rules import Rule, Rulebook, RuleGroup

ZERO = Decimal("0.0")
HOUR_UNITS = frozenset({"hour", "hours"})


@dataclass
class MonthTally:
    period: str
    deeds: int = 0
    suggestions: int = 0
    adopted: int = 0
    implemented: int = 0
    hours: Decimal = ZERO

    @property
    def empty(self) -> bool:
        return not (
            self.deeds or self.suggestions or self.adopted or self.implemented or self.hours
        )


@dataclass(frozen=True)
class Suggestion:
    entry_id: int
    title: str  # the entry's description, as the member wrote it
    made_on: date
    adopted_on: date | None
    implemented_on: date | None


@dataclass(frozen=True)
class BranchAchievements:
    branch_id: int
    name: str
    kind: BranchKind
    organisations: int
    members: int
    year: int
    months: tuple[MonthTally, ...]  # January to December
    total: MonthTally
    deeds_by_rule: tuple[tuple[str, int], ...]  # rule id and count, most first
    suggestions: tuple[Suggestion, ...]  # made, adopted or implemented this year
    active_months: tuple[MonthTally, ...] = field(default=())


def _rule(rulebook: Rulebook, rule_id: str, day: date) -> Rule | None:
    ruleset = rulebook.in_force(day)
    return ruleset.rule(rule_id) if ruleset else None


def is_hours(rule: Rule) -> bool:
    return rule.per_unit and (rule.unit_en or "").lower() in HOUR_UNITS


def is_deed(rule: Rule) -> bool:
    """A reward counted one by one: good deeds, help given to fellow workers."""
    return rule.group is RuleGroup.REWARD and not rule.suggestion and not rule.per_unit


def branch_achievements(
    session: Session, rulebook: Rulebook, branch_id: int, year: int
) -> BranchAchievements:
    """What the branch's members did in ``year`` while members of it, from approved
    entries: deeds and volunteer hours by activity date, each suggestion step by the
    date it happened."""
    branch = session.get(Branch, branch_id)
    if branch is None:
        raise NotFound(Message(N_("No such branch.")))
    first, last = date(year, 1, 1), date(year, 12, 31)
    months = {f"{year:04d}-{m:02d}": MonthTally(f"{year:04d}-{m:02d}") for m in range(1, 13)}
    deeds: Counter[str] = Counter()
    suggestions: list[Suggestion] = []
    entries = session.scalars(
        select(Entry)
        .where(
            Entry.branch_id == branch_id,
            Entry.status == EntryStatus.APPROVED,
            (Entry.activity_date.between(first, last))
            | (Entry.adopted_on.between(first, last))
            | (Entry.implemented_on.between(first, last)),
        )
        .order_by(Entry.activity_date, Entry.id)
    )
    for entry in entries:
        rule = _rule(rulebook, entry.rule_id, entry.activity_date)
        if rule is None:
            continue
        made_this_year = first <= entry.activity_date <= last
        month = months.get(period_of(entry.activity_date))
        if rule.suggestion:
            steps = [
                (entry.activity_date, "suggestions"),
                (entry.adopted_on, "adopted"),
                (entry.implemented_on, "implemented"),
            ]
            for day, name in steps:
                if day is not None and first <= day <= last:
                    tally = months[period_of(day)]
                    setattr(tally, name, getattr(tally, name) + 1)
            suggestions.append(
                Suggestion(
                    entry.id,
                    entry.description,
                    entry.activity_date,
                    entry.adopted_on,
                    entry.implemented_on,
                )
            )
        elif not made_this_year or month is None:
            continue
        elif is_hours(rule):
            month.hours += entry.quantity
        elif is_deed(rule):
            month.deeds += 1
            deeds[rule.id] += 1
    tallies = tuple(months.values())
    total = MonthTally(
        str(year),
        deeds=sum(t.deeds for t in tallies),
        suggestions=sum(t.suggestions for t in tallies),
        adopted=sum(t.adopted for t in tallies),
        implemented=sum(t.implemented for t in tallies),
        hours=sum((t.hours for t in tallies), ZERO),
    )
    organisations = session.scalar(
        select(func.count()).select_from(Organisation).where(Organisation.branch_id == branch_id)
    )
    members = session.scalar(
        select(func.count()).select_from(Member).where(Member.branch_id == branch_id, Member.active)
    )
    return BranchAchievements(
        branch_id=branch.id,
        name=branch.name,
        kind=branch.kind,
        organisations=organisations or 0,
        members=members or 0,
        year=year,
        months=tallies,
        total=total,
        deeds_by_rule=tuple(sorted(deeds.items(), key=lambda item: (-item[1], item[0]))),
        suggestions=tuple(suggestions),
        active_months=tuple(t for t in tallies if not t.empty),
    )


def year_suggestions_page(
    session: Session,
    rulebook: Rulebook,
    branch_id: int,
    year: int,
    *,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> Page[Suggestion]:
    """Page ``page`` of the suggestions ``branch_achievements`` lists for ``year`` (made,
    adopted or implemented in it; approved only), oldest first, cut in the database."""
    if session.get(Branch, branch_id) is None:
        raise NotFound(Message(N_("No such branch.")))
    first, last = date(year, 1, 1), date(year, 12, 31)
    # A rule is a suggestion in the ruleset the entry was scored under.
    suggestion_rules = [
        and_(
            Entry.ruleset_version == ruleset.version,
            Entry.rule_id.in_([rule.id for rule in ruleset.rules if rule.suggestion]),
        )
        for ruleset in rulebook.rulesets
        if any(rule.suggestion for rule in ruleset.rules)
    ]
    rows, total, page, pages = fetch_page(
        session,
        select(
            Entry.id, Entry.description, Entry.activity_date, Entry.adopted_on, Entry.implemented_on
        )
        .where(
            Entry.branch_id == branch_id,
            Entry.status == EntryStatus.APPROVED,
            or_(*suggestion_rules) if suggestion_rules else false(),
            (Entry.activity_date.between(first, last))
            | (Entry.adopted_on.between(first, last))
            | (Entry.implemented_on.between(first, last)),
        )
        .order_by(Entry.activity_date, Entry.id),
        page=page,
        size=size,
    )
    items = [Suggestion(row[0], row[1], row[2], row[3], row[4]) for row in rows]
    return Page(items=items, total=total, page=page, pages=pages, size=size)
