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
    event,
    inspect,
    literal,
    select,
    text,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import ORMExecuteState, Session

from service.persistence.models import (
    BoardCount,
    BranchRoster,
    BranchTotal,
    GroupTotal,
    Member,
    MemberStatus,
    Participation,
    PointsSummary,
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


def _table(model: Any) -> Table:
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
    table = _table(model)
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


# --- moving the totals with the summary ----------------------------------------------------


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
    _move_branches(connection, branch_points, branch_joined)
    _move_counts(connection, flips)
    _move_groups(connection, groups)


def _upsert_totals(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Add to members' totals (a new row takes the member's exempt flag as given)."""
    if not rows:
        return
    table = _table(PointsTotal)
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


def _move_branches(
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
    table = _table(BranchTotal)
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


def _move_counts(connection: Connection, changes: Mapping[tuple[str, bool, bool], int]) -> None:
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


def _move_groups(connection: Connection, changes: Mapping[tuple[str, str, int], Decimal]) -> None:
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


def _move_roster(connection: Connection, changes: Mapping[int, int]) -> None:
    """Move branches' member counts, on the roster and on each of their span rows."""
    moved = [(branch_id, change) for branch_id, change in sorted(changes.items()) if change]
    upsert_adding(
        connection,
        BranchRoster,
        [{"branch_id": branch_id, "members": change} for branch_id, change in moved],
    )
    table = _table(BranchTotal)
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


# --- participation ---------------------------------------------------------------------------


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
    table = _table(Participation)
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


# --- the roster: a member's class or branch changes ------------------------------------------


def _history(obj: Member, name: str) -> tuple[Any, Any] | None:
    """(before, after) of an attribute changed in this flush, or None."""
    state = inspect(obj)
    history = state.attrs[name].history
    if not history.has_changes():
        return None
    before = history.deleted[0] if history.deleted else None
    after = history.added[0] if history.added else getattr(obj, name)
    return before, after


def _class_of(status: Any, active: Any) -> MemberClass:
    return MemberClass(MemberStatus(status) is MemberStatus.EXEMPT, bool(active))


def _member_changes(session: Session, _context: Any) -> None:
    connection: Connection | None = None
    for obj in list(session.new):
        if isinstance(obj, Member):
            connection = connection or session.connection()
            _roster_joined(connection, obj.id, obj.branch_id, _class_of(obj.status, obj.active))
    for obj in list(session.dirty):
        if not isinstance(obj, Member) or not session.is_modified(obj):
            continue
        status = _history(obj, "status")
        active = _history(obj, "active")
        branch = _history(obj, "branch_id")
        if status is None and active is None and branch is None:
            continue
        before = _class_of(status[0] if status else obj.status, active[0] if active else obj.active)
        after = _class_of(obj.status, obj.active)
        old_branch = branch[0] if branch else obj.branch_id
        if before == after and old_branch == obj.branch_id:
            continue
        connection = connection or session.connection()
        _member_moved(connection, obj.id, old_branch, obj.branch_id, before, after)
    for obj in list(session.deleted):
        if isinstance(obj, Member):
            connection = connection or session.connection()
            member = _class_of(obj.status, obj.active)
            _move_counts(connection, {(ROSTER, member.exempt, member.active): -1})
            if member.eligible:
                _move_roster(connection, {obj.branch_id: -1})


def _roster_joined(
    connection: Connection, member_id: int, branch_id: int, member: MemberClass
) -> None:
    _move_counts(connection, {(ROSTER, member.exempt, member.active): 1})
    if member.eligible:
        _move_roster(connection, {branch_id: 1})


def _member_moved(
    connection: Connection,
    member_id: int,
    old_branch: int,
    new_branch: int,
    before: MemberClass,
    after: MemberClass,
) -> None:
    """Move a member's totals and counts from one class (and branch) to another."""
    # The roster first: the lock order of approvals is the branch's roster row, then its
    # span rows (service.boards.totals._move_branches).
    roster: dict[int, int] = defaultdict(int)
    if before.eligible:
        roster[old_branch] -= 1
    if after.eligible:
        roster[new_branch] += 1
    _move_roster(connection, roster)
    if before != after:
        groups: dict[tuple[str, str, int], Decimal] = defaultdict(lambda: ZERO)
        totals = connection.execute(
            select(PointsTotal.period, PointsTotal.points).where(PointsTotal.member_id == member_id)
        ).all()
        if before.exempt != after.exempt:
            table = _table(PointsTotal)
            connection.execute(
                table.update().where(table.c.member_id == member_id).values(exempt=after.exempt)
            )
            # The member's points count for their branches (and the town's groups)
            # again, or no longer.
            sign = 1 if before.exempt else -1
            points: dict[tuple[str, int], Decimal] = defaultdict(lambda: ZERO)
            for period, branch_id, rule_id, total in connection.execute(
                select(
                    PointsSummary.period,
                    PointsSummary.branch_id,
                    PointsSummary.rule_id,
                    PointsSummary.points,
                ).where(PointsSummary.member_id == member_id)
            ):
                groups[(period, rule_id, group_bucket(branch_id))] += sign * total
                for span in span_keys(period):
                    points[(span, branch_id)] += sign * total
        else:
            points = {}
        joined: dict[tuple[str, int], int] = {}
        if before.eligible != after.eligible:
            sign = 1 if after.eligible else -1
            for period, branch_id in connection.execute(
                select(Participation.period, Participation.branch_id).where(
                    Participation.member_id == member_id
                )
            ):
                joined[(period, branch_id)] = sign
        _move_branches(connection, points, joined)
        counts: dict[tuple[str, bool, bool], int] = defaultdict(int)
        counts[(ROSTER, before.exempt, before.active)] -= 1
        counts[(ROSTER, after.exempt, after.active)] += 1
        for period, total in totals:
            if total != 0:
                counts[(period, before.exempt, before.active)] -= 1
                counts[(period, after.exempt, after.active)] += 1
        _move_counts(connection, counts)
        _move_groups(connection, groups)


STALE = "jifen_board_totals_stale"


def _bulk_statement(state: ORMExecuteState) -> None:
    """ORM bulk statements that change what the board tables are sums of (members, the
    summary, entries' status) bypass the flush hook and the ledger's deltas: the board
    tables are then recomputed before the commit. The app issues none on a live
    database (a transfer's update of pending entries' branch does not count); bulk
    loads and tests do."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    statement: Any = state.statement
    name = getattr(getattr(statement, "table", None), "name", None)
    if name in (Member.__tablename__, PointsSummary.__tablename__, "ledger_line") or (
        name == "entry" and (state.is_delete or state.is_insert)
    ):
        state.session.info[STALE] = True
    elif name == "entry":
        changed = {getattr(column, "key", str(column)) for column in _updated(statement)}
        if changed & {"status", "period"}:
            state.session.info[STALE] = True


def _updated(statement: Any) -> list[Any]:
    values = getattr(statement, "_values", None) or {}
    return list(values)


def _before_commit(session: Session) -> None:
    if session.info.pop(STALE, False):
        rebuild(session)


def _after_rollback(session: Session) -> None:
    session.info.pop(STALE, None)


_installed = False


def install() -> None:
    """Register the roster hooks on every Session (idempotent; done on import)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _member_changes)
    event.listen(Session, "do_orm_execute", _bulk_statement)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_rollback", _after_rollback)
    _installed = True


install()


# --- recomputing everything --------------------------------------------------------------------

QUARTER_SQL = (
    "substr({col}, 1, 4) || '-Q' || "
    "CAST((CAST(substr({col}, 6, 2) AS INTEGER) + 2) / 3 AS VARCHAR(1))"
)
SPAN_SQL = {
    "month": "{col}",
    "quarter": QUARTER_SQL,
    "year": "substr({col}, 1, 4)",
}


ROSTER_SQL = (
    "SELECT branch_id, COUNT(*) AS members FROM member "
    "WHERE active = TRUE AND status <> 'exempt' GROUP BY branch_id"
)


# The town's points per month, rule and bucket from its non-exempt members.
GROUP_TOTAL_SQL = (
    f"SELECT s.period AS period, s.rule_id AS rule_id, s.branch_id % {GROUP_BUCKETS} AS bucket, "
    "SUM(s.points) AS points FROM points_summary s JOIN member m ON m.id = s.member_id "
    f"WHERE m.status <> 'exempt' GROUP BY s.period, s.rule_id, s.branch_id % {GROUP_BUCKETS}"
)


def _span(kind: str, column: str) -> str:
    return SPAN_SQL[kind].format(col=column)


def totals_queries(*, built: bool = False) -> dict[str, str]:
    """SELECTs giving each table's rows from the summary, the entries and the roster: what
    ``rebuild`` writes and what ``jifen ledger verify`` compares the tables with. With
    ``built``, later tables read the ones ``rebuild`` has just written before them
    (members' totals, participation, the roster) instead of working them out again."""
    member_totals = " UNION ALL ".join(
        f"SELECT {_span(kind, 's.period')} AS period, s.member_id AS member_id, "
        "SUM(s.points) AS points, m.status = 'exempt' AS exempt "
        "FROM points_summary s JOIN member m ON m.id = s.member_id "
        f"GROUP BY {_span(kind, 's.period')}, s.member_id, m.status"
        for kind in SPAN_SQL
    )
    participation = " UNION ".join(
        f"SELECT {_span(kind, 'e.period')} AS period, e.branch_id AS branch_id, "
        "e.member_id AS member_id FROM entry e WHERE e.status = 'approved'"
        for kind in SPAN_SQL
    )
    branch_points = " UNION ALL ".join(
        f"SELECT {_span(kind, 's.period')} AS period, s.branch_id AS branch_id, "
        "SUM(CASE WHEN m.status = 'exempt' THEN 0 ELSE s.points END) AS points "
        "FROM points_summary s JOIN member m ON m.id = s.member_id "
        f"GROUP BY {_span(kind, 's.period')}, s.branch_id"
        for kind in SPAN_SQL
    )
    participants = (
        "SELECT p.period AS period, p.branch_id AS branch_id, COUNT(*) AS participants "
        f"FROM {'participation' if built else f'({participation})'} p "
        "JOIN member m ON m.id = p.member_id "
        "WHERE m.active = TRUE AND m.status <> 'exempt' GROUP BY p.period, p.branch_id"
    )
    roster = "branch_roster" if built else f"({ROSTER_SQL})"
    totals = "points_total" if built else f"({member_totals})"
    return {
        "points_total": f"SELECT period, member_id, points, exempt FROM ({member_totals}) t",
        "participation": f"SELECT period, branch_id, member_id FROM ({participation}) p",
        "branch_total": (
            "SELECT k.period, k.branch_id, COALESCE(b.points, 0) AS points, "
            "COALESCE(c.participants, 0) AS participants, COALESCE(r.members, 0) AS members, "
            "CASE WHEN COALESCE(r.members, 0) = 0 THEN 0.0 "
            "ELSE CAST(COALESCE(b.points, 0) AS DOUBLE PRECISION) / r.members END "
            "AS per_member_key, "
            "CASE WHEN COALESCE(r.members, 0) = 0 THEN 0.0 "
            "ELSE CAST(COALESCE(c.participants, 0) AS DOUBLE PRECISION) / r.members END "
            "AS participation_key "
            f"FROM (SELECT period, branch_id FROM ({branch_points}) x UNION "
            f"SELECT period, branch_id FROM ({participants}) y) k "
            f"LEFT JOIN ({branch_points}) b ON b.period = k.period AND b.branch_id = k.branch_id "
            f"LEFT JOIN ({participants}) c ON c.period = k.period AND c.branch_id = k.branch_id "
            f"LEFT JOIN {roster} r ON r.branch_id = k.branch_id"
        ),
        "board_count": (
            "SELECT '' AS scope, m.status = 'exempt' AS exempt, m.active AS active, "
            "COUNT(*) AS members FROM member m GROUP BY m.status = 'exempt', m.active "
            "UNION ALL "
            "SELECT t.period AS scope, t.exempt AS exempt, m.active AS active, "
            f"COUNT(*) AS members FROM {totals} t JOIN member m ON m.id = t.member_id "
            "WHERE t.points <> 0 GROUP BY t.period, t.exempt, m.active"
        ),
        "branch_roster": ROSTER_SQL,
        "group_total": GROUP_TOTAL_SQL,
    }


# In the order ``rebuild`` fills them (later ones read earlier ones).
TOTALS_COLUMNS = {
    "points_total": "period, member_id, points, exempt",
    "participation": "period, branch_id, member_id",
    "branch_roster": "branch_id, members",
    "branch_total": (
        "period, branch_id, points, participants, members, per_member_key, participation_key"
    ),
    "board_count": "scope, exempt, active, members",
    "group_total": "period, rule_id, bucket, points",
}


def rebuild_statements() -> list[str]:
    """Plain SQL (no parameters) that empties and refills every board table: for the
    ORM (``rebuild``) and for the benchmark's bulk loader alike."""
    statements = [f"DELETE FROM {table}" for table in TOTALS_COLUMNS]
    queries = totals_queries(built=True)
    statements += [
        f"INSERT INTO {table} ({columns}) {queries[table]}"
        for table, columns in TOTALS_COLUMNS.items()
    ]
    return statements


def rebuild(session: Session) -> None:
    """Recompute every board table from the summary, the entries and the roster."""
    session.info.pop(STALE, None)
    for statement in rebuild_statements():
        session.execute(text(statement))


KEY_WIDTH = {
    "points_total": 2,
    "participation": 3,
    "branch_roster": 1,
    "branch_total": 2,
    "board_count": 3,
    "group_total": 3,
}


@dataclass(frozen=True)
class TotalsDifference:
    """A board table's row as stored against as recomputed (None: no such row)."""

    table: str
    key: tuple[Any, ...]
    expected: tuple[Any, ...] | None
    found: tuple[Any, ...] | None

    @property
    def member_id(self) -> int | None:
        if self.table == "points_total":
            return int(self.key[1])
        if self.table == "participation":
            return int(self.key[2])
        return None

    @property
    def branch_id(self) -> int | None:
        if self.table in ("branch_total", "branch_roster"):
            return int(self.key[-1] if self.table == "branch_total" else self.key[0])
        if self.table == "participation":
            return int(self.key[1])
        return None


def differences(session: Session) -> list[TotalsDifference]:
    """Every row of the board tables that differs from a recomputation from the summary,
    the entries and the roster (zero rows count as no row on both sides)."""
    out: list[TotalsDifference] = []
    queries = totals_queries()
    for table, columns in TOTALS_COLUMNS.items():
        width = KEY_WIDTH[table]
        stored = _rows_by_key(
            session.execute(text(f"SELECT {columns} FROM {table}")),
            table,
            width,
        )
        expected = _rows_by_key(session.execute(text(queries[table])), table, width)
        for key in sorted(stored.keys() | expected.keys(), key=repr):
            if stored.get(key) != expected.get(key):
                out.append(TotalsDifference(table, key, expected.get(key), stored.get(key)))
    return out


def _rows_by_key(
    rows: Iterable[Any], table: str, width: int
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    out: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in rows:
        values = tuple(row)
        if table == "board_count":
            values = (values[0], bool(values[1]), bool(values[2]), int(values[3]))
        elif table == "points_total":
            values = (values[0], int(values[1]), int(values[2]), bool(values[3]))
        else:
            values = tuple(v if isinstance(v, str | float) else int(v) for v in values)
        key, value = values[:width], values[width:]
        if table in ("board_count", "branch_roster") and value == (0,):
            continue
        if table == "branch_total" and value[:2] == (0, 0):
            continue  # no points, nobody took part: the same as no row
        if table == "group_total" and value == (0,):
            continue
        out[key] = value
    return out
