"""Applying a checked roster in batches, so that a large import never holds the
database's write lock for long.

On SQLite the write lock belongs to a transaction: one transaction for 50,000 rows held
it for 38 seconds, and a sign-in meanwhile waited out the busy timeout and failed. Here
the whole file is checked first in a read transaction (nothing locked, nothing
written), and only a clean file is written, ``batch_rows`` rows per write transaction;
between two batches the lock is free long enough for any writer waiting on it to go.

What the office sees stays all or nothing for a clean file. The one way to end half
way is a change by someone else between the check and a batch (a member created with
the same number, a transfer): each batch is checked again inside its own transaction,
the batch with a problem writes nothing, and the report says which rows were saved.
Importing the same file again is safe and finishes the job: rows already saved are
unchanged, so it writes only the rest.

Each batch commits through the ``Database``'s sessions, so the audit log and the board
totals (the branches' roster counts) are kept batch by batch.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError, OperationalError

from service.kernel.i18n import N_, Message
from service.people.roster_file import Table
from service.people.roster_import import ImportReport, Problem, Progress, import_roster
from service.persistence.db import Database

# Rows per write transaction: at about a millisecond a row, the lock is held for
# well under a second at a time.
BATCH_ROWS = 500
# SQLite has no queue of waiting writers: each retries after sleeping up to 100 ms.
# Pausing longer than that between batches lets every waiting writer in.
SQLITE_PAUSE_S = 0.12


def apply_roster(
    database: Database,
    table: Table,
    *,
    actor_id: int | None,
    batch_rows: int = BATCH_ROWS,
    checking: Progress | None = None,
    saving: Progress | None = None,
    pause: Callable[[float], None] = time.sleep,
) -> ImportReport:
    """Check ``table`` and, if it has no problem, create and update its members in
    batches of ``batch_rows`` rows. ``checking(done, total)`` follows the check,
    ``saving(done, total)`` the rows written. The report counts every batch saved; when
    a batch meets a problem, ``saved_through`` names the last row saved before it."""
    started = time.perf_counter()
    with database.transaction(write=False) as session:
        report = import_roster(session, table, apply=False, progress=checking)
    if not report.ok:
        return report
    report.changes = []
    report.unchanged = 0
    # PostgreSQL locks rows, not the database: other writers need no pause there.
    wait = SQLITE_PAUSE_S if database.engine.dialect.name == "sqlite" else 0.0
    total = len(table.rows)
    for start in range(0, total, batch_rows):
        if start:
            pause(wait)
        rows = table.rows[start : start + batch_rows]
        # The same columns (and header row, for the row numbers of its problems).
        batch = dataclasses.replace(table, rows=rows)
        try:
            with database.transaction() as session:
                done = import_roster(session, batch, apply=True, actor_id=actor_id)
        except (IntegrityError, OperationalError) as exc:
            if isinstance(exc, OperationalError) and "locked" not in str(exc):
                raise
            # Another writer got in between this batch's check and its write (on
            # PostgreSQL two imports can create the same member at once), or the
            # database stayed busy: the batch wrote nothing; the same file finishes it.
            report.problems = [Problem(rows[0][0], None, _interrupted(exc))]
            report.problem_count = 1
            break
        if not done.applied:
            report.problems = done.problems
            report.problem_count = done.problem_count
            break
        report.changes.extend(done.changes)
        report.unchanged += done.unchanged
        report.saved_through = rows[-1][0]
        if saving:
            saving(min(start + batch_rows, total), total)
    else:
        report.applied = True
    report.seconds = time.perf_counter() - started
    return report


def _interrupted(exc: Exception) -> Message:
    if isinstance(exc, IntegrityError):
        return Message(
            N_(
                "Someone changed these members while the import ran; this row and those "
                "after it were not saved. Import the same file again."
            )
        )
    return Message(
        N_(
            "The database was busy; this row and those after it were not saved. Import "
            "the same file again."
        )
    )
