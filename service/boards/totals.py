"""Board totals: what the live boards read instead of summing the summary table.

A board is for a span: a month ``2026-07``, a quarter ``2026-Q3`` or a year ``2026``.
Summing a city's summary rows for a span (hundreds of thousands) on every page view is
what made live boards slow; these tables hold the sums and counts instead, moved in the
same transaction as the summary (``apply_summary_deltas``, called by
``service.ledger.reconcile.upsert_summary``), so a page reads an index range and a rank is a count:

- ``points_total``: a member's points in a span over all branches, with the member's
  exempt flag (exempt members are listed apart, never ranked).
- ``branch_total``: a branch's points in a span from its non-exempt members, and how many
  of its active, non-exempt members have an approved entry dated in it.
- ``participation``: who has such an entry, per span and branch (the branch's count
  moves only when the first one comes or the last one goes).
- ``board_count``: members by class (exempt, active) on the roster (scope "") and with
  points other than zero in each span: the page counts ("members without points").
- ``branch_roster``: active, non-exempt members per branch (per-member points and
  participation divide by it).
- ``group_total``: the town's points per month and rule from its non-exempt members
  (the branches board's chart by rule group), split in ``GROUP_BUCKETS`` rows by the
  summary row's branch so that concurrent approvals seldom wait on one row.

The member's class (exempt, active) and branch live on ``member``, which the office
changes through the ORM; ``_member_changes`` (a session hook) moves the totals and counts
with it in the same flush. Bulk loads call ``rebuild`` (``service.ledger.reconcile
.bulk_insert_summary``), which recomputes every table from the summary, the entries and
the roster in SQL; ``jifen ledger verify`` compares the tables with that recomputation.

Lock order on PostgreSQL, the same everywhere so that two transactions never wait on
each other in a circle: the member (reconciliation locks its row), a branch's roster row
(shared by approvals, taken alone by a roster change), the members' totals, branch totals
by span and branch, then the counts, then the group totals; spans by year, quarter,
month.

``branch_total`` also holds the branch's member count and the board's metrics as sort
keys (points per member, participation: double precision, exact for these fractions),
indexed with the points, so the branches board is ranked by index too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    Table,
    case,
    cast,
    delete,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from service.persistence.models import (
    BoardCount,
    BranchRoster,
    BranchTotal,
    GroupTotal,
    Member,
    MemberStatus,
    Participation,
    PointsTotal,
)
from service.scoring.points import to_tenths

ZERO = Decimal("0.0")

ROSTER = ""  # board_count scope of the roster

SummaryKey = tuple[int, str, int, str]  # member, month, branch, rule

# group_total rows per month and rule: a summary row counts in bucket branch_id % this.
GROUP_BUCKETS = 16


def group_bucket(branch_id: int) -> int:
    return branch_id % GROUP_BUCKETS


def quarter_of(period: str) -> str:
    return f"{period[:4]}-Q{(int(period[5:7]) - 1) // 3 + 1}"


def span_keys(period: str) -> tuple[str, str, str]:
    """The spans a month's points count in: its year, its quarter and the month."""
    return period[:4], quarter_of(period), period


def span_order(key: str) -> tuple[int, int, int]:
    """Year before its quarters, a quarter before its months: the one order in which
    rows of several spans are written."""
    year = int(key[:4])
    if len(key) == 4:
        return (year, 0, 0)
    if key[5] == "Q":
        return (year, int(key[6]), 0)
    month = int(key[5:7])
    return (year, (month - 1) // 3 + 1, month)


def table_of(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_UPSERTS: dict[tuple[str, str], Any] = {}


def upsert_adding(connection: Connection, model: Any, rows: list[dict[str, Any]]) -> None:
    """``INSERT … ON CONFLICT (primary key) DO UPDATE`` adding the row's numbers to the
    stored ones, for all ``rows`` in one executemany, in the order given (the order rows
    are locked in). The statement is built once per table and database."""
    if not rows:
        return
    table = table_of(model)
    key = (connection.dialect.name, table.name)
    statement = _UPSERTS.get(key)
    if statement is None:
        builder = postgresql.insert if key[0] == "postgresql" else sqlite.insert
        primary = [column.name for column in table.primary_key.columns]
        added = [column.name for column in table.columns if column.name not in primary]
        insert = builder(table)
        statement = insert.on_conflict_do_update(
            index_elements=primary,
            set_={name: table.c[name] + insert.excluded[name] for name in added},
        )
        _UPSERTS[key] = statement
    connection.execute(statement, rows)


@dataclass(frozen=True)
class MemberClass:
    exempt: bool
    active: bool

    @property
    def eligible(self) -> bool:
        """Counted on the branch boards: active and not exempt."""
        return self.active and not self.exempt


def member_classes(connection: Connection, member_ids: Iterable[int]) -> dict[int, MemberClass]:
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    rows = connection.execute(
        select(Member.id, Member.status, Member.active).where(Member.id.in_(ids))
    )
    return {
        row.id: MemberClass(row.status is MemberStatus.EXEMPT, bool(row.active)) for row in rows
    }


def apply_summary_deltas(
    session: Session,
    deltas: Mapping[SummaryKey, tuple[Decimal, int]],
    participation: Mapping[tuple[str, int, int], int] | None = None,
) -> None:
    """Move the board totals by summary deltas (points per member, month, branch, rule)
    and by participation changes (span, branch, member → +1 joined / -1 left), in the
    transaction that moves the summary."""
    connection = session.connection()
    participation = participation or {}
    classes = member_classes(
        connection, [key[0] for key in deltas] + [key[2] for key in participation]
    )
    member_delta: dict[tuple[int, str], Decimal] = defaultdict(lambda: ZERO)
    branch_points: dict[tuple[str, int], Decimal] = defaultdict(lambda: ZERO)
    branch_joined: dict[tuple[str, int], int] = defaultdict(int)
    groups: dict[tuple[str, str, int], Decimal] = defaultdict(lambda: ZERO)
    for (member_id, period, branch_id, rule_id), (points, _count) in deltas.items():
        eligible_points = not classes[member_id].exempt
        if eligible_points:
            groups[(period, rule_id, group_bucket(branch_id))] += points
        for span in span_keys(period):
            member_delta[(member_id, span)] += points
            if eligible_points:
                branch_points[(span, branch_id)] += points
            else:
                branch_points.setdefault((span, branch_id), ZERO)
    for (span, branch_id, member_id), change in participation.items():
        if classes[member_id].eligible:
            branch_joined[(span, branch_id)] += change
    flips: dict[tuple[str, bool, bool], int] = defaultdict(int)
    # The members are locked (reconciliation takes their row FOR UPDATE): what their
    # totals hold now cannot change before this transaction ends.
    held = {
        (row.member_id, row.period): row.points
        for row in connection.execute(
            select(PointsTotal.member_id, PointsTotal.period, PointsTotal.points).where(
                PointsTotal.member_id.in_(sorted({member for member, _span in member_delta})),
                PointsTotal.period.in_(sorted({span for _member, span in member_delta})),
            )
        )
    }
    rows = []
    for (member_id, span), delta in sorted(
        member_delta.items(), key=lambda item: (item[0][0], span_order(item[0][1]))
    ):
        member = classes[member_id]
        before = held.get((member_id, span), ZERO)
        after = before + delta
        if (before != 0) != (after != 0):
            flips[(span, member.exempt, member.active)] += 1 if after != 0 else -1
        rows.append({"period": span, "member_id": member_id, "points": delta,
                     "exempt": member.exempt})  # fmt: skip
    _upsert_totals(connection, rows)
    move_branches(connection, branch_points, branch_joined)
    move_counts(connection, flips)
    move_groups(connection, groups)


def _upsert_totals(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Add to members' totals (a new row takes the member's exempt flag as given)."""
    if not rows:
        return
    table = table_of(PointsTotal)
    key = (connection.dialect.name, "points_total")
    statement = _UPSERTS.get(key)
    if statement is None:
        builder = postgresql.insert if key[0] == "postgresql" else sqlite.insert
        insert = builder(table)
        statement = insert.on_conflict_do_update(
            index_elements=["period", "member_id"],
            set_={"points": table.c.points + insert.excluded.points},
        )
        _UPSERTS[key] = statement
    connection.execute(statement, rows)


def move_branches(
    connection: Connection,
    points: Mapping[tuple[str, int], Decimal],
    joined: Mapping[tuple[str, int], int],
) -> None:
    keys = sorted(points.keys() | joined.keys(), key=lambda key: (span_order(key[0]), key[1]))
    if not keys:
        return
    # A branch's first row of a span takes its member count from the roster, read under
    # a share lock: a roster change of the branch (which moves the count of every row)
    # waits for this transaction, or this one for it.
    branches = sorted({branch_id for _span, branch_id in keys})
    roster = {
        row.branch_id: row.members
        for row in connection.execute(
            select(BranchRoster.branch_id, BranchRoster.members)
            .where(BranchRoster.branch_id.in_(branches))
            .order_by(BranchRoster.branch_id)
            .with_for_update(read=True)
        )
    }
    rows = []
    for span, branch_id in keys:
        delta = points.get((span, branch_id), ZERO)
        change = joined.get((span, branch_id), 0)
        members = roster.get(branch_id, 0)
        rows.append(
            {
                "period": span,
                "branch_id": branch_id,
                "points": delta,
                "participants": change,
                "members": members,
                # A new row's keys; an existing row's are worked out in the statement.
                "per_member_key": ratio(to_tenths(delta), members),
                "participation_key": ratio(change, members),
            }
        )
    table = table_of(BranchTotal)
    key = (connection.dialect.name, "branch_total")
    statement = _UPSERTS.get(key)
    if statement is None:
        builder = postgresql.insert if key[0] == "postgresql" else sqlite.insert
        insert = builder(table)
        new_points = table.c.points + insert.excluded.points
        new_participants = table.c.participants + insert.excluded.participants
        statement = insert.on_conflict_do_update(
            index_elements=["period", "branch_id"],
            set_={
                "points": new_points,
                "participants": new_participants,
                "per_member_key": key_sql(new_points, table.c.members),
                "participation_key": key_sql(new_participants, table.c.members),
            },
        )
        _UPSERTS[key] = statement
    connection.execute(statement, rows)


def ratio(numerator: int, members: int) -> float:
    """A branch's sort key: ``numerator / members`` in double precision, 0 without
    members (as PER_MEMBER_KEY and PARTICIPATION_KEY compute it in SQL)."""
    return 0.0 if members == 0 else float(numerator) / members


def key_sql(numerator: Any, members: Any) -> Any:
    return case(
        (members == 0, literal(0.0, Float)),
        else_=cast(type_coerce(numerator, Integer), Float) / members,
    )


def move_counts(connection: Connection, changes: Mapping[tuple[str, bool, bool], int]) -> None:
    ordered = sorted(
        ((key, change) for key, change in changes.items() if change),
        key=lambda item: (item[0][0] != ROSTER, span_order(item[0][0]) if item[0][0] else (0,)),
    )
    upsert_adding(
        connection,
        BoardCount,
        [
            {"scope": scope, "exempt": exempt, "active": active, "members": change}
            for (scope, exempt, active), change in ordered
        ],
    )


def move_groups(connection: Connection, changes: Mapping[tuple[str, str, int], Decimal]) -> None:
    """Add to the town's points per month, rule and bucket (in key order: the lock order)."""
    upsert_adding(
        connection,
        GroupTotal,
        [
            {"period": period, "rule_id": rule_id, "bucket": bucket, "points": change}
            for (period, rule_id, bucket), change in sorted(changes.items())
            if change
        ],
    )


def move_roster(connection: Connection, changes: Mapping[int, int]) -> None:
    """Move branches' member counts, on the roster and on each of their span rows."""
    moved = [(branch_id, change) for branch_id, change in sorted(changes.items()) if change]
    upsert_adding(
        connection,
        BranchRoster,
        [{"branch_id": branch_id, "members": change} for branch_id, change in moved],
    )
    table = table_of(BranchTotal)
    for branch_id, change in moved:
        members = table.c.members + change
        connection.execute(
            table.update()
            .where(table.c.branch_id == branch_id)
            .values(
                members=members,
                per_member_key=key_sql(table.c.points, members),
                participation_key=key_sql(table.c.participants, members),
            )
        )


def participation_changes(
    session: Session, member_id: int, year: int, entries: Iterable[tuple[str, int]]
) -> dict[tuple[str, int, int], int]:
    """What to add to and take from the member's participation rows of ``year``, given
    the months and branches of the member's approved entries dated in that year."""
    wanted = {
        (span, branch_id, member_id)
        for period, branch_id in entries
        for span in span_keys(period)
        if span[:4] == str(year)
    }
    held = {
        (row.period, row.branch_id, member_id)
        for row in session.connection().execute(
            select(Participation.period, Participation.branch_id).where(
                Participation.member_id == member_id,
                Participation.period.like(f"{year:04d}%"),
            )
        )
    }
    changes = dict.fromkeys(wanted - held, 1)
    changes.update(dict.fromkeys(held - wanted, -1))
    return changes


def write_participation(session: Session, changes: Mapping[tuple[str, int, int], int]) -> None:
    connection = session.connection()
    table = table_of(Participation)
    added = [
        {"period": span, "branch_id": branch_id, "member_id": member_id}
        for (span, branch_id, member_id), change in sorted(changes.items())
        if change > 0
    ]
    if added:
        connection.execute(table.insert(), added)
    for (span, branch_id, member_id), change in sorted(changes.items()):
        if change < 0:
            connection.execute(
                delete(table).where(
                    table.c.period == span,
                    table.c.branch_id == branch_id,
                    table.c.member_id == member_id,
                )
            )
