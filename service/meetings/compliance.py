"""Compliance (组织生活开展情况): how many meetings of each type a branch has held this
year against what the rules require.

A meeting counts as held when it is closed with minutes; make-up sessions (补课) and
cancelled meetings do not count. The yearly requirement (``[meetings]
required_per_year``) is the one of the ruleset in force on the as-of day (or on 31
December, for a past year), applied to the whole year, even when that ruleset began
after January: the office must see a branch that has not met all year. What is due by
now is that requirement shared over the months that have ended, rounded down: a type
held monthly (12 a year) falls due at the end of each month, a quarterly one (4 a year)
at the end of each quarter. Party group meetings (党小组会) are required only of the
branches that have a party group; for the others the type does not apply. A branch is
behind when any type that applies has fewer held than due.

The attendance rate is attended / expected over the meetings held: each expected
member's outcome at closing (on leave and absent both count as not attending; a member
who made it up later counts at the make-up, which is not a held meeting).

The whole town takes three queries, grouped by branch (and type) in the database: a city
has 20,000 branches. The attendance, a row per expected member, is the costly one: the
page (``compliance_page``) reads it for its own 50 branches only; the downloads for all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from service.accounts.permissions import viewable_branch_ids
from service.accounts.principal import Principal
from service.kernel.errors import NotFound, PermissionDenied
from service.kernel.i18n import N_, Message
from service.meetings.views import kind_label
from service.persistence.meetings import (
    Meeting,
    MeetingAttendance,
    MeetingStatus,
    Outcome,
    PartyGroup,
)
from service.persistence.models import Branch
from service.persistence.pagination import PAGE_SIZE, Page, page_bounds
from service.scoring.rules import MeetingType, Rulebook

NO_ACCESS = N_("Only the organisation office, instructors and secretaries see compliance.")
BRANCH_NOT_FOUND = N_("No such branch.")

# Required only of a branch that has a party group.
GROUP_KIND = MeetingType.GROUP.value


class KindCompliance(NamedTuple):
    """One meeting type at one branch (a tuple: a city's table makes 100,000 of them)."""

    kind: str
    held: int
    due_so_far: int
    required: int  # for the whole year
    applies: bool = True  # False: party group meetings at a branch without a group

    @property
    def behind(self) -> bool:
        return self.applies and self.held < self.due_so_far

    @property
    def label(self) -> Message:
        return kind_label(self.kind)


@dataclass(frozen=True)
class ComplianceRow:
    branch_id: int
    branch_code: str
    branch_name: str
    year: int
    kinds: tuple[KindCompliance, ...]  # the required types, in MeetingType order
    held_total: int  # every meeting held, required type or not
    attended: int
    expected: int

    @property
    def behind(self) -> bool:
        return any(k.behind for k in self.kinds)

    @property
    def attendance_rate(self) -> Decimal | None:
        """Percent with one decimal; None when no held meeting expected anyone."""
        if not self.expected:
            return None
        rate = Decimal(self.attended * 100) / Decimal(self.expected)
        return rate.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    def kind(self, kind: str) -> KindCompliance | None:
        return next((k for k in self.kinds if k.kind == kind), None)


@dataclass(frozen=True)
class Requirement:
    """What the rules ask of every branch for one type in ``year``, as of a day (party
    group meetings: of every branch with a party group)."""

    kind: str
    per_year: int  # the ruleset's number
    required: int  # for the whole year: the ruleset's number
    due_so_far: int


# --- the requirement ------------------------------------------------------------------


def _reference_day(year: int, as_of: date) -> date:
    return min(as_of, date(year, 12, 31))


def requirements(rulebook: Rulebook, year: int, *, as_of: date) -> tuple[Requirement, ...]:
    """Every type the ruleset in force on ``as_of`` (31 December for a past year)
    requires, in MeetingType order, applied to the whole of ``year``: what is due by
    ``as_of`` is the yearly number times the months ended over 12, rounded down."""
    ruleset = rulebook.in_force(_reference_day(year, as_of))
    if ruleset is None:
        return ()
    if as_of.year > year:
        months_ended = 12
    elif as_of.year < year:
        months_ended = 0
    else:
        months_ended = as_of.month - 1
    result = []
    for kind in MeetingType:
        per_year = ruleset.meetings.required_per_year.get(kind, 0)
        if per_year <= 0:
            continue
        result.append(
            Requirement(
                kind=kind.value,
                per_year=per_year,
                required=per_year,
                due_so_far=per_year * months_ended // 12,
            )
        )
    return tuple(result)


# --- the counts -----------------------------------------------------------------------


def _held_conditions(year: int) -> list[Any]:
    """A held meeting of ``year``: closed, with minutes, not a make-up session. The
    bounds on ``starts_at`` (a day wider than the year on each side: it is UTC, the day
    is the town's) let the (status, starts_at) index narrow the scan."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    return [
        Meeting.status == MeetingStatus.CLOSED,
        Meeting.makeup_of_id.is_(None),
        Meeting.minutes.is_not(None),
        func.trim(Meeting.minutes) != "",
        Meeting.starts_at >= datetime(year, 1, 1, tzinfo=UTC) - timedelta(days=1),
        Meeting.starts_at < datetime(year + 1, 1, 1, tzinfo=UTC) + timedelta(days=1),
        Meeting.day >= first,
        Meeting.day <= last,
    ]


def _attendance(
    session: Session, year: int, branch_ids: list[int] | None
) -> dict[int, tuple[int, int]]:
    """(attended, expected) at the held meetings of ``year``, by branch: the costly part
    (a row per expected member), so a page asks it for its own branches only."""
    attended = func.sum(case((MeetingAttendance.outcome == Outcome.ATTENDED, 1), else_=0))
    query = (
        select(Meeting.branch_id, func.count(), attended)
        .join(MeetingAttendance, MeetingAttendance.meeting_id == Meeting.id)
        .where(*_held_conditions(year), MeetingAttendance.outcome.is_not(None))
        .group_by(Meeting.branch_id)
    )
    if branch_ids is not None:
        query = query.where(Meeting.branch_id.in_(branch_ids))
    return {
        branch_id: (int(present or 0), int(expected or 0))
        for branch_id, expected, present in session.execute(query)
    }


def _kind(requirement: Requirement, held: int, has_group: bool) -> KindCompliance:
    if requirement.kind == GROUP_KIND and not has_group:
        return KindCompliance(requirement.kind, held, 0, 0, applies=False)
    return KindCompliance(requirement.kind, held, requirement.due_so_far, requirement.required)


def _rows(
    session: Session,
    rulebook: Rulebook,
    year: int,
    as_of: date,
    branch_ids: frozenset[int] | None,
    *,
    attendance: bool = True,
) -> list[ComplianceRow]:
    """The branches (``branch_ids``; None: all) by code; without ``attendance`` their
    attended and expected counts are left at 0 (see ``_with_attendance``)."""
    grouped = exists().where(PartyGroup.branch_id == Branch.id)
    branches = select(Branch.id, Branch.code, Branch.name, grouped).order_by(Branch.code, Branch.id)
    held_query = (
        select(Meeting.branch_id, Meeting.kind, func.count())
        .where(*_held_conditions(year))
        .group_by(Meeting.branch_id, Meeting.kind)
    )
    ids = None if branch_ids is None else sorted(branch_ids)
    if ids is not None:
        if not ids:
            return []
        branches = branches.where(Branch.id.in_(ids))
        held_query = held_query.where(Meeting.branch_id.in_(ids))
    held: dict[int, dict[str, int]] = defaultdict(dict)
    for branch_id, kind, count in session.execute(held_query):
        held[branch_id][kind] = count
    present_expected = _attendance(session, year, ids) if attendance else {}
    required = requirements(rulebook, year, as_of=as_of)
    rows = []
    for branch_id, code, name, has_group in session.execute(branches):
        counts = held.get(branch_id, {})
        present, expected = present_expected.get(branch_id, (0, 0))
        rows.append(
            ComplianceRow(
                branch_id=branch_id,
                branch_code=code,
                branch_name=name,
                year=year,
                kinds=tuple(_kind(r, counts.get(r.kind, 0), bool(has_group)) for r in required),
                held_total=sum(counts.values()),
                attended=present,
                expected=expected,
            )
        )
    return rows


def branch_compliance(
    session: Session, rulebook: Rulebook, branch_id: int, year: int, *, as_of: date
) -> ComplianceRow:
    """One branch's compliance in ``year`` as of ``as_of``. No permission check: the
    page that shows it checks who may see the branch."""
    rows = _rows(session, rulebook, year, as_of, frozenset({branch_id}))
    if not rows:
        raise NotFound(Message(BRANCH_NOT_FOUND))
    return rows[0]


def compliance_table(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    year: int,
    *,
    as_of: date,
    behind_only: bool = False,
) -> list[ComplianceRow]:
    """Every branch the actor oversees, by branch code: the office sees all of them, an
    instructor the branches assigned, a secretary their own; a member is refused."""
    scope = viewable_branch_ids(actor)
    if scope is not None and not scope:
        raise PermissionDenied(Message(NO_ACCESS))
    rows = _rows(session, rulebook, year, as_of, scope)
    if behind_only:
        rows = [row for row in rows if row.behind]
    return rows


def compliance_page(
    session: Session,
    actor: Principal,
    rulebook: Rulebook,
    year: int,
    *,
    as_of: date,
    behind_only: bool = False,
    page: int = 1,
) -> tuple[Page[ComplianceRow], int]:
    """``compliance_table`` a page at a time, with how many of all the rows are behind:
    the held counts of every branch (for the filter and the count), the attendance of
    the page's branches only (three queries, the last one small)."""
    scope = viewable_branch_ids(actor)
    if scope is not None and not scope:
        raise PermissionDenied(Message(NO_ACCESS))
    rows = _rows(session, rulebook, year, as_of, scope, attendance=False)
    behind = sum(1 for row in rows if row.behind)
    if behind_only:
        rows = [row for row in rows if row.behind]
    pages, number = page_bounds(len(rows), page, PAGE_SIZE)
    items = rows[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    counts = _attendance(session, year, [row.branch_id for row in items]) if items else {}
    items = [
        replace(row, attended=counts[row.branch_id][0], expected=counts[row.branch_id][1])
        if row.branch_id in counts
        else row
        for row in items
    ]
    return Page(items, len(rows), number, pages, PAGE_SIZE), behind
