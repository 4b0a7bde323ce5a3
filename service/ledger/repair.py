"""The way back for a database whose derived tables drifted from the ledger: rebuild the
summary of open months and the live board totals from the ledger and the rosters.

The ledger (append-only) and the published boards are the records; the summary and the
board tables are derived from them and may be rebuilt at any time. Nothing here writes a
ledger line or a published row, so a published month's board stays what was published.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, insert, select, text
from sqlalchemy.orm import Session

from service.boards.rebuild import TOTALS_COLUMNS
from service.boards.rebuild import rebuild as rebuild_board_totals
from service.persistence.models import LedgerLine, PointsSummary
from service.publication.state import frozen_months, lock_months


@dataclass(frozen=True)
class RepairResult:
    open_months: int  # months whose summary rows were rebuilt
    summary_rows: int  # summary rows written for them
    frozen_months: tuple[str, ...]  # published months left untouched
    board_rows: int  # rows in the live board tables afterwards


def rebuild_derived(session: Session) -> RepairResult:
    """Recompute the summary rows of every month not frozen by a publication from the
    ledger, then every live board table from the summary, the entries and the roster."""
    # Publishing reads the summary and the board tables: it must not freeze a month
    # halfway through a rebuild, nor may a rebuild run under a publication.
    lock_months(session)
    frozen = frozen_months(session)
    stored = set(session.scalars(select(LedgerLine.period).distinct())) | set(
        session.scalars(select(PointsSummary.period).distinct())
    )
    open_periods = sorted(stored - frozen)
    written = 0
    if open_periods:
        session.execute(
            delete(PointsSummary).where(PointsSummary.period.in_(open_periods)),
            execution_options={"synchronize_session": False},
        )
        groups = session.execute(
            select(
                LedgerLine.member_id,
                LedgerLine.period,
                LedgerLine.branch_id,
                LedgerLine.rule_id,
                func.sum(LedgerLine.points),
                func.count(),
            )
            .where(LedgerLine.period.in_(bindparam("periods", expanding=True)))
            .group_by(
                LedgerLine.member_id, LedgerLine.period, LedgerLine.branch_id, LedgerLine.rule_id
            ),
            {"periods": open_periods},
        ).all()
        rows = [
            {
                "member_id": member_id,
                "period": period,
                "branch_id": branch_id,
                "rule_id": rule_id,
                "points": points,
                "line_count": lines,
            }
            for member_id, period, branch_id, rule_id, points, lines in groups
        ]
        if rows:
            session.execute(insert(PointsSummary), rows)
        written = len(rows)
    rebuild_board_totals(session)
    board_rows = sum(
        session.scalar(text(f"SELECT COUNT(*) FROM {table}")) or 0  # noqa: S608 - fixed names
        for table in TOTALS_COLUMNS
    )
    return RepairResult(
        open_months=len(open_periods),
        summary_rows=written,
        frozen_months=tuple(sorted(frozen)),
        board_rows=board_rows,
    )
