"""Pure scoring: from a member's approved activities to points. No database access.

A member's points are a pure function of their activities and the ruleset in force on
each activity's date. Caps clip running sums per rule, per day, month and year; the
sums are taken in activity-date order (then source, then id), never in approval order,
so approving the same entries in any order gives the same numbers.

Published months are frozen: their activities come in as givens (``frozen``: activity
key → the points the ledger holds for it). They take their cap room first, whatever
their date, and only the activities of open months are scored, with the room left. So
nothing that happens in an open month can move a point of a published month, and the
result still depends only on the set of activities and the frozen values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum

from service.kernel.i18n import N_, Message
from service.scoring.points import TENTH
from service.scoring.rules import RoundingScope, Rule, Rulebook, UnitRounding

ONE = Decimal(1)
ZERO = Decimal("0.0")
# Manual adjustments have no rule of their own; their lines use this id.
MANUAL_RULE_ID = "adjustment"


class Source(StrEnum):
    """What produced points: an entry, a later suggestion step, or an adjustment."""

    ENTRY = "entry"
    ADOPTED = "adopted"
    IMPLEMENTED = "implemented"
    ADJUSTMENT = "adjustment"
    # A member's attendance at a closed meeting (组织生活): the rule whose meeting_types
    # name the meeting's type gives the points. The id is the meeting_attendance row's.
    ATTENDANCE = "attendance"
    # Absent without leave from a closed meeting: the rule's ``absent_points`` (if any).
    ABSENCE = "absence"


_SOURCE_ORDER = {
    Source.ENTRY: 0,
    Source.ATTENDANCE: 1,
    Source.ADOPTED: 2,
    Source.IMPLEMENTED: 3,
    Source.ABSENCE: 4,
    Source.ADJUSTMENT: 5,
}
# Sources whose points use up a rule's cap room: what a member did (declared or
# attended). Suggestion steps, absences and adjustments are never capped.
CAPPED_SOURCES = frozenset({Source.ENTRY, Source.ATTENDANCE})


@dataclass(frozen=True)
class Activity:
    """One scoring fact about a member: an approved entry, a step of a suggestion, or
    an adjustment (a deduction by rule, or manual points)."""

    source: Source
    source_id: int
    rule_id: str
    day: date
    branch_id: int
    quantity: Decimal = ONE
    points: Decimal | None = None  # manual adjustments only

    @property
    def key(self) -> str:
        return f"{self.source.value}:{self.source_id}"

    @property
    def sort_key(self) -> tuple[date, int, int]:
        return (self.day, _SOURCE_ORDER[self.source], self.source_id)


@dataclass(frozen=True)
class Scored:
    activity: Activity
    ruleset_version: str
    raw: Decimal
    counted: Decimal
    clipped_by: tuple[str, ...] = ()  # cap names that reduced this activity's points
    missing_rule: bool = False
    frozen: bool = False  # a published month's activity: ``counted`` is what was published
    # "day" or "month" when the rule rounds the member's total (``rounding_per``): ``raw``
    # is then this entry's share of the rounded total, not the entry rounded alone.
    share_of: str | None = None

    @property
    def clipped(self) -> Decimal:
        return self.raw - self.counted


def _rounded(rule: Rule, quantity: Decimal) -> Decimal:
    if rule.rounding is UnitRounding.HALF_UP:
        return quantity.quantize(ONE, rounding=ROUND_HALF_UP)
    if rule.rounding is UnitRounding.DOWN:
        return quantity.quantize(ONE, rounding=ROUND_DOWN)
    return quantity.quantize(TENTH)


def _declared(rule: Rule, quantity: Decimal) -> Decimal:
    """The quantity one entry contributes to a rounded total: at most the per-entry limit."""
    counted = quantity.quantize(TENTH)
    if rule.max_units_per_entry is not None:
        counted = min(counted, rule.max_units_per_entry)
    return counted


def _total_points(rule: Rule, quantity: Decimal) -> Decimal:
    """Points for a total quantity rounded as a whole (``rounding_per`` day or month)."""
    assert rule.points_per_unit is not None
    return (rule.points_per_unit * _rounded(rule, quantity)).quantize(TENTH, rounding=ROUND_HALF_UP)


def units(rule: Rule, quantity: Decimal) -> Decimal:
    """The number of units that score for ``quantity`` on its own under the rule's rounding."""
    counted = _rounded(rule, quantity)
    if rule.max_units_per_entry is not None:
        counted = min(counted, rule.max_units_per_entry)
    return counted


def entry_points(rule: Rule, quantity: Decimal) -> Decimal:
    """Points one entry earns on its own before caps; one decimal place, never a float.

    Under ``rounding_per`` day or month this is what the entry would earn were it the
    member's only one in the window; ``score_activities`` gives it its share instead."""
    if rule.points is not None:
        return rule.points.quantize(TENTH)
    assert rule.points_per_unit is not None
    return (rule.points_per_unit * units(rule, quantity)).quantize(TENTH, rounding=ROUND_HALF_UP)


def quantity_problem(rule: Rule, quantity: Decimal) -> Message | None:
    """Why ``quantity`` cannot be declared under ``rule``, or None when it can."""
    if quantity != quantity.quantize(TENTH):
        return Message(N_("Use at most one decimal place."))
    if not rule.per_unit:
        if quantity != ONE:
            return Message(
                N_(
                    "This item scores per occurrence: declare each occurrence as its own entry "
                    "with quantity 1."
                )
            )
        return None
    if quantity <= 0:
        return Message(N_("The quantity must be greater than zero."))
    if rule.max_units_per_entry is not None and quantity > rule.max_units_per_entry:
        return Message(
            N_("At most %(max)s per entry."), {"max": f"{rule.max_units_per_entry.normalize()}"}
        )
    if rule.rounding_per is RoundingScope.ENTRY and units(rule, quantity) <= 0:
        # Under a rounded day or month total a small entry still adds to the total.
        return Message(N_("This quantity is too small to score any points."))
    return None


def _cap_windows(rule_id: str, day: date) -> dict[str, tuple[str, str, object]]:
    return {
        "cap_per_day": (rule_id, "day", day),
        "cap_per_month": (rule_id, "month", (day.year, day.month)),
        "cap_per_year": (rule_id, "year", day.year),
    }


def _rounding_window(rule: Rule, version: str, day: date) -> tuple[str, str, object] | None:
    if rule.rounding_per is RoundingScope.DAY:
        return (rule.id, version, day)
    if rule.rounding_per is RoundingScope.MONTH:
        return (rule.id, version, (day.year, day.month))
    return None


def score_activities(
    activities: Iterable[Activity],
    rulebook: Rulebook,
    *,
    frozen: Mapping[str, Decimal] | None = None,
) -> list[Scored]:
    """Score one member's activities; the result follows activity-date order.

    ``frozen`` maps the keys of published months' activities to the points they were
    published with: those count exactly that and use up cap room before any other
    activity; the rest are scored in activity-date order with the room left.

    A rule with ``rounding_per`` day (month) rounds the member's total quantity under it
    for the day (month), per ruleset version. Each entry's raw points are its share: what
    the rounded total gains when the entry joins the entries before it in activity order,
    ``points(round(before + mine)) - points(round(before))``. The shares add up to the
    rounded total, depend only on the set of entries (not on approval order), and move
    when an entry of the window comes or goes, like cap room does. A day or month never
    spans a published and an open month, so a published window is never re-shared.
    """
    given: Mapping[str, Decimal] = frozen or {}
    used: dict[tuple[str, str, object], Decimal] = {}
    declared: dict[tuple[str, str, object], Decimal] = {}
    scored: list[Scored] = []
    for activity in sorted(activities, key=lambda a: (a.key not in given, a.sort_key)):
        fixed = given.get(activity.key)
        ruleset = rulebook.in_force(activity.day)
        if ruleset is None:
            counted = ZERO if fixed is None else fixed
            scored.append(
                Scored(activity, "", ZERO, counted, missing_rule=True, frozen=fixed is not None)
            )
            continue
        if activity.source is Source.ADJUSTMENT and activity.points is not None:
            points = activity.points.quantize(TENTH)
            counted = points if fixed is None else fixed
            scored.append(
                Scored(activity, ruleset.version, points, counted, frozen=fixed is not None)
            )
            continue
        rule = ruleset.rule(activity.rule_id)
        if rule is None:
            counted = ZERO if fixed is None else fixed
            scored.append(
                Scored(
                    activity,
                    ruleset.version,
                    ZERO,
                    counted,
                    missing_rule=True,
                    frozen=fixed is not None,
                )
            )
            continue
        if activity.source is Source.ADOPTED:
            raw = (rule.adopted_points or ZERO).quantize(TENTH)
        elif activity.source is Source.IMPLEMENTED:
            raw = (rule.implemented_points or ZERO).quantize(TENTH)
        elif activity.source is Source.ABSENCE:
            raw = (rule.absent_points or ZERO).quantize(TENTH)
        else:
            raw = entry_points(rule, activity.quantity)
        share_of = None
        total_window = _rounding_window(rule, ruleset.version, activity.day)
        if activity.source is Source.ENTRY and total_window is not None:
            before = declared.get(total_window, ZERO)
            after = before + _declared(rule, activity.quantity)
            declared[total_window] = after
            raw = _total_points(rule, after) - _total_points(rule, before)
            share_of = rule.rounding_per.value
        if activity.source not in CAPPED_SOURCES:
            counted = raw if fixed is None else fixed
            scored.append(Scored(activity, ruleset.version, raw, counted, frozen=fixed is not None))
            continue
        windows = _cap_windows(rule.id, activity.day)
        room = {
            name: max(ZERO, cap - used.get(windows[name], ZERO)) for name, cap in rule.caps.items()
        }
        if fixed is None:
            counted = min([raw, *room.values()])
            clipped_by = tuple(name for name, left in room.items() if left < raw)
        else:
            counted = fixed
            clipped_by = tuple(name for name, left in room.items() if left < raw and fixed < raw)
        # Usage is tracked whether or not this version caps the rule: a cap that a later
        # version introduces mid-year clips the year's whole sum, and whether an earlier
        # version happened to have a cap must not change that sum.
        for window in windows.values():
            used[window] = used.get(window, ZERO) + counted
        scored.append(
            Scored(
                activity,
                ruleset.version,
                raw,
                counted,
                clipped_by,
                frozen=fixed is not None,
                share_of=share_of,
            )
        )
    if given:
        scored.sort(key=lambda item: item.activity.sort_key)
    return scored


@dataclass(frozen=True)
class YearScore:
    year: int
    ruleset_version: str
    base: Decimal
    points: Decimal
    floor: Decimal | None
    total: Decimal
    stars: int
    flagged: bool

    @property
    def floored(self) -> bool:
        return self.total != self.base + self.points


def year_score(year: int, points: Decimal, rulebook: Rulebook, *, as_of: date) -> YearScore:
    """The yearly score: base plus the year's points, never below the floor.

    Base, floor and star thresholds come from the ruleset in force at the end of the
    year, or on ``as_of`` while the year is still running.
    """
    day = min(date(year, 12, 31), as_of)
    ruleset = rulebook.in_force(day) or rulebook.rulesets[0]
    total = ruleset.base_score + points
    if ruleset.floor is not None:
        total = max(total, ruleset.floor)
    total = total.quantize(TENTH)
    return YearScore(
        year=year,
        ruleset_version=ruleset.version,
        base=ruleset.base_score.quantize(TENTH),
        points=points.quantize(TENTH),
        floor=ruleset.floor,
        total=total,
        stars=ruleset.stars(total),
        flagged=ruleset.flagged(total),
    )
