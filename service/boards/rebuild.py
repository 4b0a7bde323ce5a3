"""Recomputing every board total from the summary, the entries and the roster in SQL:
after bulk loads, and for ``jifen ledger verify`` to compare the stored tables with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    text,
)
from sqlalchemy.orm import Session

from service.boards.totals import GROUP_BUCKETS

# Set by a bulk statement that changes members or entries (roster_hooks); the totals are
# rebuilt before that transaction commits.
STALE = "jifen_board_totals_stale"


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
    # Taking part: an approved entry, or attending a closed meeting (组织生活).
    participation = " UNION ".join(
        [
            *(
                f"SELECT {_span(kind, 'e.period')} AS period, e.branch_id AS branch_id, "
                "e.member_id AS member_id FROM entry e WHERE e.status = 'approved'"
                for kind in SPAN_SQL
            ),
            *(
                f"SELECT {_span(kind, 'mt.period')} AS period, a.branch_id AS branch_id, "
                "a.member_id AS member_id FROM meeting_attendance a "
                "JOIN meeting mt ON mt.id = a.meeting_id "
                "WHERE mt.status = 'closed' AND a.outcome = 'attended'"
                for kind in SPAN_SQL
            ),
        ]
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
