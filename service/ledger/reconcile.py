"""Writing the ledger.

The ledger is append-only: a change never edits a line, it appends the difference.
After anything that changes what counts for a member in a year (an approval, a
revocation, a suggestion step, an adjustment, a new ruleset), ``reconcile_member``
scores the member's activities of that year from scratch with the pure engine and
appends one line for every activity whose counted points differ from what the ledger
already holds. The summary table moves with the ledger in the same transaction.

Published months are frozen (DESIGN.md: a published month never changes silently):
reconciliation hands the engine what the ledger holds for their activities as givens
(``frozen_points``) and never appends a line dated in one. Only a correction in
progress opens a published month to reconciliation again. Which months are published
is read under the month lock the caller took (``service.publication.state.hold_months``)
before it checked its own months: no publication can land between that check, this
read and the lines appended.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from service.boards.rebuild import rebuild
from service.boards.totals import (
    apply_summary_deltas,
    participation_changes,
    upsert_adding,
    write_participation,
)
from service.kernel.errors import Conflict
from service.kernel.i18n import N_, Message
from service.kernel.periods import period_of
from service.persistence.meetings import Meeting, MeetingAttendance, MeetingStatus, Outcome
from service.persistence.models import (
    Adjustment,
    AdoptedRuleset,
    Entry,
    EntryStatus,
    LedgerKind,
    LedgerLine,
    Member,
    PointsSummary,
)
from service.publication.state import frozen_months, holds_months
from service.scoring.engine import Activity, Scored, Source, score_activities
from service.scoring.rules import Rulebook

# Ledger sources whose id is an entry's (an entry, or a step of a suggestion).
ENTRY_SOURCES = frozenset({Source.ENTRY, Source.ADOPTED, Source.IMPLEMENTED})
# Ledger sources whose id is a meeting_attendance row's.
ATTENDANCE_SOURCES = frozenset({Source.ATTENDANCE, Source.ABSENCE})

ZERO = Decimal("0.0")
SummaryKey = tuple[int, str, int, str]  # member, period, branch, rule


def append_lines(
    session: Session,
    lines: Iterable[LedgerLine],
    *,
    participation: Mapping[tuple[str, int, int], int] | None = None,
) -> None:
    """Add ledger lines and fold them into the member × month summary and the board
    totals (with ``participation``: whose approved entries came or went, per span and
    branch)."""
    deltas: dict[SummaryKey, tuple[Decimal, int]] = {}
    for line in lines:
        session.add(line)
        key = (line.member_id, line.period, line.branch_id, line.rule_id)
        points, count = deltas.get(key, (ZERO, 0))
        deltas[key] = (points + line.points, count + 1)
    session.flush()
    if deltas or participation:
        upsert_summary(session, deltas, participation=participation)


def upsert_summary(
    session: Session,
    deltas: Mapping[SummaryKey, tuple[Decimal, int]],
    *,
    participation: Mapping[tuple[str, int, int], int] | None = None,
) -> None:
    """Add point deltas to summary rows, creating rows as needed, and move the board
    totals with them (``service.boards.totals``).

    ``INSERT … ON CONFLICT DO UPDATE`` keeps this one statement per row on both
    databases, so two concurrent approvals for the same member cannot both insert.
    Rows are written in key order, so concurrent writers lock them in the same order.
    """
    # On the connection: the session's hook for bulk statements (service.boards.totals) is for
    # writes that bypass these deltas, not for them.
    upsert_adding(
        session.connection(),
        PointsSummary,
        [
            {
                "member_id": member_id,
                "period": period,
                "branch_id": branch_id,
                "rule_id": rule_id,
                "points": points,
                "line_count": count,
            }
            for (member_id, period, branch_id, rule_id), (points, count) in sorted(deltas.items())
        ],
    )
    apply_summary_deltas(session, deltas, participation)


def bulk_insert_summary(session: Session, deltas: Mapping[SummaryKey, tuple[Decimal, int]]) -> None:
    """Insert summary rows for an empty table (seeding); one statement for all rows. The
    board totals are then recomputed from the summary, the entries and the roster."""
    if not deltas:
        rebuild(session)
        return
    session.execute(
        insert(PointsSummary),
        [
            {
                "member_id": m,
                "period": p,
                "branch_id": b,
                "rule_id": r,
                "points": points,
                "line_count": count,
            }
            for (m, p, b, r), (points, count) in deltas.items()
        ],
    )
    rebuild(session)


def _year_bounds(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year, 12, 31)


def member_activities(
    session: Session, rulebook: Rulebook, member_id: int, year: int
) -> list[Activity]:
    """Everything that scores for a member in a year, read from entries, adjustments and
    the attendance of closed meetings (the rulebook names the rule of a meeting's type)."""
    return activities_of(session, rulebook, [member_id], year).get(member_id, [])


def activities_of(
    session: Session, rulebook: Rulebook, member_ids: Collection[int], year: int
) -> dict[int, list[Activity]]:
    """``member_activities`` of several members at once (the ledger check reads a city
    a few hundred members at a time); columns, not ORM objects."""
    first, last = _year_bounds(year)
    activities: dict[int, list[Activity]] = defaultdict(list)
    ids = sorted(member_ids)
    entries = select(
        Entry.id,
        Entry.member_id,
        Entry.rule_id,
        Entry.branch_id,
        Entry.quantity,
        Entry.activity_date,
        Entry.adopted_on,
        Entry.implemented_on,
    ).where(
        Entry.member_id.in_(ids) if len(ids) > 1 else Entry.member_id == ids[0],
        Entry.status == EntryStatus.APPROVED,
        (Entry.activity_date.between(first, last))
        | (Entry.adopted_on.between(first, last))
        | (Entry.implemented_on.between(first, last)),
    )
    for entry in session.execute(entries):
        steps = (
            (Source.ENTRY, entry.activity_date),
            (Source.ADOPTED, entry.adopted_on),
            (Source.IMPLEMENTED, entry.implemented_on),
        )
        for source, day in steps:
            if day is not None and first <= day <= last:
                activities[entry.member_id].append(
                    Activity(
                        source=source,
                        source_id=entry.id,
                        rule_id=entry.rule_id,
                        day=day,
                        branch_id=entry.branch_id,
                        quantity=entry.quantity,
                    )
                )
    adjustments = select(
        Adjustment.id,
        Adjustment.member_id,
        Adjustment.rule_id,
        Adjustment.day,
        Adjustment.branch_id,
        Adjustment.quantity,
        Adjustment.points,
    ).where(
        Adjustment.member_id.in_(ids) if len(ids) > 1 else Adjustment.member_id == ids[0],
        Adjustment.day.between(first, last),
    )
    for adjustment in session.execute(adjustments):
        activities[adjustment.member_id].append(
            Activity(
                source=Source.ADJUSTMENT,
                source_id=adjustment.id,
                rule_id=adjustment.rule_id,
                day=adjustment.day,
                branch_id=adjustment.branch_id,
                quantity=adjustment.quantity,
                points=adjustment.points,
            )
        )
    for member_id, activity in attendance_activities(session, rulebook, ids, first, last):
        activities[member_id].append(activity)
    return dict(activities)


def attendance_activities(
    session: Session, rulebook: Rulebook, member_ids: Collection[int], first: date, last: date
) -> Iterable[tuple[int, Activity]]:
    """The activities of closed meetings' attendance rows dated from ``first`` to ``last``:
    attended → the rule of the meeting's type in the ruleset in force on its day;
    absent without leave → that rule's ``absent_points``, if it has any; on leave or made
    up → nothing. A type no rule scores on that day gives nothing either."""
    ids = sorted(member_ids)
    rows = session.execute(
        select(
            MeetingAttendance.id,
            MeetingAttendance.member_id,
            MeetingAttendance.branch_id,
            MeetingAttendance.outcome,
            Meeting.kind,
            Meeting.day,
        )
        .join(Meeting, Meeting.id == MeetingAttendance.meeting_id)
        .where(
            MeetingAttendance.member_id.in_(ids)
            if len(ids) > 1
            else MeetingAttendance.member_id == ids[0],
            Meeting.status == MeetingStatus.CLOSED,
            Meeting.day.between(first, last),
            MeetingAttendance.outcome.in_((Outcome.ATTENDED, Outcome.ABSENT)),
        )
    )
    for row in rows:
        ruleset = rulebook.in_force(row.day)
        rule = ruleset.meeting_rule(row.kind) if ruleset is not None else None
        if rule is None:
            continue
        if row.outcome is Outcome.ATTENDED:
            source = Source.ATTENDANCE
        elif rule.absent_points is not None:
            source = Source.ABSENCE
        else:
            continue
        yield (
            row.member_id,
            Activity(
                source=source,
                source_id=row.id,
                rule_id=rule.id,
                day=row.day,
                branch_id=row.branch_id,
            ),
        )


def attended_months(session: Session, member_id: int, year: int) -> list[tuple[str, int]]:
    """(month, branch) of each closed meeting of ``year`` the member attended: taking
    part, for participation, like an approved entry (whatever the rules score)."""
    first, last = _year_bounds(year)
    rows = session.execute(
        select(Meeting.period, MeetingAttendance.branch_id)
        .join(Meeting, Meeting.id == MeetingAttendance.meeting_id)
        .where(
            MeetingAttendance.member_id == member_id,
            MeetingAttendance.outcome == Outcome.ATTENDED,
            Meeting.status == MeetingStatus.CLOSED,
            Meeting.day.between(first, last),
        )
    )
    return [(row[0], row[1]) for row in rows]


@dataclass(frozen=True)
class LedgerState:
    """What the ledger holds for one activity: points, and where its lines went."""

    points: Decimal
    rule_id: str
    branch_id: int
    day: date
    ruleset_version: str


def ledger_state(session: Session, member_id: int, year: int) -> dict[str, LedgerState]:
    return ledger_states(session, [member_id], year).get(member_id, {})


def ledger_states(
    session: Session, member_ids: Collection[int], year: int
) -> dict[int, dict[str, LedgerState]]:
    """``ledger_state`` of several members at once."""
    first, last = _year_bounds(year)
    ids = sorted(member_ids)
    rows = session.execute(
        select(
            LedgerLine.member_id,
            LedgerLine.activity_key,
            func.sum(LedgerLine.points),
            func.min(LedgerLine.rule_id),
            func.min(LedgerLine.branch_id),
            func.min(LedgerLine.activity_date),
            func.max(LedgerLine.ruleset_version),
        )
        .where(
            LedgerLine.member_id.in_(ids) if len(ids) > 1 else LedgerLine.member_id == ids[0],
            LedgerLine.activity_date.between(first, last),
        )
        .group_by(LedgerLine.member_id, LedgerLine.activity_key)
    )
    states: dict[int, dict[str, LedgerState]] = defaultdict(dict)
    for member_id, key, points, rule_id, branch_id, day, version in rows:
        states[member_id][key] = LedgerState(points, rule_id, branch_id, day, version)
    return dict(states)


def frozen_points(
    held: Mapping[str, LedgerState],
    activities: Iterable[Activity],
    frozen: Collection[str],
) -> dict[str, Decimal]:
    """What the engine must take as given: every activity dated in a frozen month
    counts what the ledger holds for it (nothing, if the ledger never recorded it)."""
    given = {key: state.points for key, state in held.items() if period_of(state.day) in frozen}
    for activity in activities:
        if period_of(activity.day) in frozen:
            given.setdefault(activity.key, ZERO)
    return given


def score_member_year(
    session: Session,
    rulebook: Rulebook,
    member_id: int,
    year: int,
    *,
    frozen: Collection[str] | None = None,
) -> tuple[list[Scored], dict[str, LedgerState], dict[str, Decimal]]:
    """A member's year scored as reconciliation scores it (published months as givens):
    the scored activities, the ledger state and the frozen values used."""
    if frozen is None:
        frozen = frozen_months(session)
    return score_members_year(session, rulebook, [member_id], year, frozen=frozen)[member_id]


def score_members_year(
    session: Session,
    rulebook: Rulebook,
    member_ids: Collection[int],
    year: int,
    *,
    frozen: Collection[str],
) -> dict[int, tuple[list[Scored], dict[str, LedgerState], dict[str, Decimal]]]:
    """``score_member_year`` for several members, reading them together."""
    activities = activities_of(session, rulebook, member_ids, year)
    held = ledger_states(session, member_ids, year)
    out = {}
    for member_id in member_ids:
        mine = activities.get(member_id, [])
        state = held.get(member_id, {})
        given = frozen_points(state, mine, frozen) if frozen else {}
        out[member_id] = (score_activities(mine, rulebook, frozen=given), state, given)
    return out


def _line(
    member_id: int,
    key: str,
    where: Activity | LedgerState,
    version: str,
    delta: Decimal,
    kind: LedgerKind,
    *,
    now: datetime,
    actor_id: int | None,
    note: str,
) -> LedgerLine:
    source = Source(key.partition(":")[0])
    source_id = int(key.partition(":")[2])
    return LedgerLine(
        member_id=member_id,
        branch_id=where.branch_id,
        period=period_of(where.day),
        activity_date=where.day,
        source=source,
        activity_key=key,
        entry_id=source_id if source in ENTRY_SOURCES else None,
        adjustment_id=source_id if source is Source.ADJUSTMENT else None,
        attendance_id=source_id if source in ATTENDANCE_SOURCES else None,
        rule_id=where.rule_id,
        ruleset_version=version,
        kind=kind,
        points=delta,
        note=note,
        created_at=now,
        created_by_id=actor_id,
    )


def line_change(
    fresh: Scored | None, held_points: Decimal | None, kind: LedgerKind, note: str
) -> tuple[LedgerKind, Decimal, str] | None:
    """The ledger line an activity needs, as (kind, points, why), or None when the ledger
    already holds what a fresh scoring counts. ``fresh`` is the activity scored now
    (None: it no longer counts), ``held_points`` what its lines sum to (None: no line
    yet); a first line is an award (why: the caps that clipped it), a later one takes
    ``kind`` and ``note`` (a reversal, a cap moving, a rescore).

    An entry whose rule rounds a day's or month's total carries its share of that total;
    its lines say so ("rounding_per_day"), so a line that moves when another entry of the
    same day comes or goes explains itself."""
    expected = fresh.counted if fresh else ZERO
    shared = f"rounding_per_{fresh.share_of}" if fresh and fresh.share_of else ""
    if held_points is None:
        assert fresh is not None
        reasons = [*fresh.clipped_by, *([shared] if shared else [])]
        why = ", ".join(reasons) or ("missing rule" if fresh.missing_rule else "")
        return LedgerKind.AWARD, expected, why
    delta = expected - held_points
    if delta == 0:
        return None
    if shared and kind is not LedgerKind.REVERSAL:
        note = f"{note}, {shared}" if note else shared
    return kind, delta, note


# session.info key: the rulebook already checked against the adopted versions in the
# session's current transaction.
_RULES_CHECKED = "jifen.rules_checked"


def require_current_rules(session: Session, rulebook: Rulebook) -> None:
    """Refuse to write points by a rulebook that lacks a version adopted meanwhile.

    A request builds its rulebook before its write transaction; a version adopted in
    between (adoption takes the month lock alone, so it commits before this writer's
    hold is granted) would otherwise score this change by the old rules, and the ledger
    would disagree with ``ledger verify`` until the next rescore. Adopted versions are
    immutable and their names unique, so comparing names is enough. Checked once per
    transaction: under the hold no adoption can commit until it ends.
    """
    marker = (session.get_transaction(), id(rulebook))
    if session.info.get(_RULES_CHECKED) == marker:
        return
    known = {ruleset.version for ruleset in rulebook.rulesets}
    missing = sorted(set(session.scalars(select(AdoptedRuleset.version))) - known)
    if missing:
        raise Conflict(
            Message(
                N_(
                    "The scoring rules changed while this was being saved (version "
                    "%(versions)s was adopted); nothing was saved: please try again."
                ),
                {"versions": ", ".join(missing)},
            )
        )
    session.info[_RULES_CHECKED] = marker


def reconcile_member(
    session: Session,
    rulebook: Rulebook,
    member_id: int,
    year: int,
    *,
    now: datetime,
    actor_id: int | None,
    causes: Mapping[str, LedgerKind] | None = None,
    default_kind: LedgerKind = LedgerKind.CAP,
    note: str = "",
) -> list[LedgerLine]:
    """Bring the ledger for ``member_id`` in ``year`` in line with a fresh scoring.

    ``causes`` names the kind of line for the activities the caller changed (e.g. a
    revoked entry gets a reversal); other activities whose points moved as a
    consequence (caps re-allocated) get ``default_kind``. An activity seen for the first
    time always gets an award line, even of 0 points, so the ledger records that it was
    counted and what clipped it.
    """
    if not holds_months(session):
        raise RuntimeError(
            "reconcile_member needs the month lock: the caller takes hold_months "
            "(service/publication/state.py) before it checks that its months are open"
        )
    require_current_rules(session, rulebook)
    causes = causes or {}
    # One reconciliation per member at a time. Without this lock, two approvals for the
    # same member on PostgreSQL (READ COMMITTED) each read the other's half-committed
    # state and write contradicting lines. SQLite's BEGIN IMMEDIATE already serialises.
    session.execute(select(Member.id).where(Member.id == member_id).with_for_update())
    scored_list, held, given = score_member_year(session, rulebook, member_id, year)
    # Participation (an approved entry dated in a span, for a branch, or a closed
    # meeting attended) moves with the same activities, published months included: it
    # follows the entries and the attendance, not the points.
    joined = participation_changes(
        session,
        member_id,
        year,
        [
            *(
                (period_of(s.activity.day), s.activity.branch_id)
                for s in scored_list
                if s.activity.source is Source.ENTRY
            ),
            *attended_months(session, member_id, year),
        ],
    )
    write_participation(session, joined)
    scored = {s.activity.key: s for s in scored_list}
    lines: list[LedgerLine] = []
    for key in sorted(scored.keys() | held.keys()):
        if key in given:
            continue  # a published month's activity: what was published stands
        fresh = scored.get(key)
        state = held.get(key)
        change = line_change(
            fresh, state.points if state else None, causes.get(key, default_kind), note
        )
        if change is None:
            continue
        kind, delta, why = change
        where: Activity | LedgerState
        if fresh is not None:
            where, version = fresh.activity, fresh.ruleset_version
        else:
            assert state is not None
            where, version = state, state.ruleset_version
        lines.append(
            _line(member_id, key, where, version, delta, kind, now=now, actor_id=actor_id, note=why)
        )
    if lines or joined:
        append_lines(session, lines, participation=joined)
    return lines


def summary_deltas(lines: Iterable[LedgerLine]) -> dict[SummaryKey, tuple[Decimal, int]]:
    deltas: dict[SummaryKey, tuple[Decimal, int]] = defaultdict(lambda: (ZERO, 0))
    for line in lines:
        key = (line.member_id, line.period, line.branch_id, line.rule_id)
        points, count = deltas[key]
        deltas[key] = (points + line.points, count + 1)
    return dict(deltas)
