"""What the demo town's builder holds in memory until it writes: branch and member
plans, entry drafts, months, ledger events and the replay that scores them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from service.kernel.periods import period_of
from service.ledger.reconcile import line_change
from service.ops.seed.town_file import NamedBranch
from service.persistence.models import (
    BranchKind,
    EntryStatus,
    LedgerKind,
    MemberStatus,
)
from service.scoring.engine import (
    Activity as ScoringActivity,
)
from service.scoring.engine import (
    Scored,
    Source,
    score_activities,
)
from service.scoring.rules import Rulebook

SummaryKey = tuple[int, str, int, str]


@dataclass(frozen=True)
class Profile:
    """How a branch's members behave: how many take part, and in what."""

    active_share: float
    rule_ids: tuple[str, ...]
    weights: tuple[int, ...]
    descriptions: Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class MemberPlan:
    id: int
    branch_id: int
    status: MemberStatus


@dataclass
class BranchPlan:
    id: int
    name: str
    kind: BranchKind
    profile: Profile
    organisation_count: int
    member_count: int = 0
    named: NamedBranch | None = None
    social_only: bool = False
    organisation_ids: list[int] = field(default_factory=list)
    members: list[MemberPlan] = field(default_factory=list)


@dataclass
class Draft:
    seq: int
    member: MemberPlan
    rule_id: str
    ruleset_version: str
    day: date
    quantity: Decimal
    points: Decimal
    description: str
    status: EntryStatus


@dataclass(frozen=True)
class Month:
    period: str
    days: tuple[date, ...]
    elapsed: float  # share of the month that lies on or before ``until``
    current: bool


@dataclass(frozen=True)
class Event:
    """Something a service did to a member's points at ``at``: approve an entry, mark a
    suggestion step, record an adjustment (``add``), or revoke an approval (``remove``,
    with reversal lines for ``reversed_keys``). ``years`` are the years the service
    reconciles afterwards."""

    at: datetime
    member_id: int
    actor_id: int
    years: tuple[int, ...]
    add: tuple[ScoringActivity, ...] = ()
    remove: frozenset[str] = frozenset()
    reversed_keys: frozenset[str] = frozenset()
    note: str = ""


@dataclass(frozen=True)
class CorrectionPlan:
    """An older month corrected during its notice window: a member objects to a
    colleague's line, the office opens a correction, the reviewer revokes the entry,
    the office publishes revision 2 and resolves the objection."""

    period: str
    member_id: int  # whose line is objected to
    fill: Mapping[str, Any]  # for the texts' placeholders
    objected_at: datetime
    opened_at: datetime
    event: Event  # the revocation
    republished_at: datetime
    resolved_at: datetime


@dataclass
class Held:
    """What the ledger holds for one activity (``service.ledger.reconcile.LedgerState``)."""

    points: Decimal
    rule_id: str
    branch_id: int
    day: date
    ruleset_version: str


class Replay:
    """One member's ledger, written in memory the way ``reconcile_member`` writes it."""

    def __init__(self, rulebook: Rulebook, member_id: int) -> None:
        self.rulebook = rulebook
        self.member_id = member_id
        self.activities: dict[str, ScoringActivity] = {}
        self.held: dict[int, dict[str, Held]] = {}
        self.last: dict[int, list[Scored]] = {}

    def apply(self, event: Event) -> list[dict[str, Any]]:
        for activity in event.add:
            self.activities[activity.key] = activity
        for key in event.remove:
            self.activities.pop(key, None)
        lines: list[dict[str, Any]] = []
        for year in sorted(set(event.years)):
            lines += self._reconcile(year, event)
        return lines

    def clipped(self) -> int:
        """Activities whose counted points a cap reduced, after the last event."""
        return sum(s.counted < s.raw for scored in self.last.values() for s in scored)

    def _reconcile(self, year: int, event: Event) -> list[dict[str, Any]]:
        scored_list = score_activities(
            (a for a in self.activities.values() if a.day.year == year), self.rulebook
        )
        self.last[year] = scored_list
        scored = {s.activity.key: s for s in scored_list}
        held = self.held.setdefault(year, {})
        lines = []
        for key in sorted(scored.keys() | held.keys()):
            fresh, state = scored.get(key), held.get(key)
            later = LedgerKind.REVERSAL if key in event.reversed_keys else LedgerKind.CAP
            change = line_change(fresh, state.points if state else None, later, event.note)
            if change is None:
                continue
            kind, delta, why = change
            if fresh is not None:
                activity = fresh.activity
                where = Held(
                    delta,
                    activity.rule_id,
                    activity.branch_id,
                    activity.day,
                    fresh.ruleset_version,
                )
            else:
                assert state is not None
                where = Held(
                    delta, state.rule_id, state.branch_id, state.day, state.ruleset_version
                )
            if state is None:
                held[key] = where
            else:
                state.points += delta
            source, _, source_id = key.partition(":")
            lines.append(
                {
                    "member_id": self.member_id,
                    "branch_id": where.branch_id,
                    "period": period_of(where.day),
                    "activity_date": where.day,
                    "source": Source(source),
                    "activity_key": key,
                    "entry_id": None if source == Source.ADJUSTMENT else int(source_id),
                    "adjustment_id": int(source_id) if source == Source.ADJUSTMENT else None,
                    "rule_id": where.rule_id,
                    "ruleset_version": where.ruleset_version,
                    "kind": kind,
                    "points": delta,
                    "note": why,
                    "created_at": event.at,
                    "created_by_id": event.actor_id,
                }
            )
        return lines


def entry_activity(row: Mapping[str, Any], source: Source, day: date) -> ScoringActivity:
    return ScoringActivity(
        source=source,
        source_id=row["id"],
        rule_id=row["rule_id"],
        day=day,
        branch_id=row["branch_id"],
        quantity=row["quantity"],
    )


def fit(
    values: list[int],
    bounds: list[tuple[int, int]],
    total: int,
    rng: random.Random,
    *,
    what: str,
) -> list[int]:
    """Nudge random draws one at a time until they add up to ``total`` exactly."""
    low = sum(b[0] for b in bounds)
    high = sum(b[1] for b in bounds)
    if not low <= total <= high:
        raise ValueError(f"seeds/town.toml: {total} {what} do not fit between {low} and {high}")
    values = [min(max(v, lo), hi) for v, (lo, hi) in zip(values, bounds, strict=True)]
    gap = total - sum(values)
    while gap:
        i = rng.randrange(len(values))
        if gap > 0 and values[i] < bounds[i][1]:
            values[i] += 1
            gap -= 1
        elif gap < 0 and values[i] > bounds[i][0]:
            values[i] -= 1
            gap += 1
    return values
