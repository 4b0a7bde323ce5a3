"""Concurrent approvals on a real database: no "database is locked", nothing counted twice."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.errors import Conflict
from service.kernel.periods import town_today
from service.persistence.db import Database
from service.persistence.models import LedgerLine, PointsSummary
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

# Another process, thread or engine reads what the test writes: real commits.
pytestmark = pytest.mark.commits


def _submit(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    who: str,
    n: int,
    rule_id: str = "study",
) -> list[int]:
    principal = town.principal(database, who)
    today = town_today(utcnow(), "Asia/Shanghai")
    ids = []
    with database.transaction() as session:
        for index in range(n):
            ids.append(
                submit_entry(
                    session,
                    principal,
                    rulebook,
                    EntryInput(
                        rule_id,
                        # Stay inside this month so the monthly cap is one window.
                        max(today.replace(day=1), today - timedelta(days=index % 3)),
                        Decimal(1),
                        f"参加支部活动 {index}",
                    ),
                    today=today,
                    now=utcnow(),
                )
            )
    return ids


def _race(
    database: Database, town: SmallTown, rulebook: Rulebook, entry_ids: list[int]
) -> Counter[str]:
    secretary = town.principal(database, "secretary")
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(len(entry_ids))

    def approve(entry_id: int) -> None:
        start.wait()
        try:
            with database.transaction() as session:
                approve_entry(session, secretary, rulebook, entry_id, now=utcnow())
            outcome = "approved"
        except Conflict:
            outcome = "conflict"
        except Exception as exc:  # recorded so the assertion shows what went wrong
            outcome = f"error: {exc!r}"
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=approve, args=(entry_id,)) for entry_id in entry_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_same_entry_approved_by_many_at_once_counts_once(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    (entry_id,) = _submit(database, town, rulebook, "member", 1)
    outcomes = _race(database, town, rulebook, [entry_id] * 12)
    assert outcomes == Counter({"approved": 1, "conflict": 11})
    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(LedgerLine)) == 1
        assert session.scalar(select(func.sum(PointsSummary.points))) == Decimal("2.0")


def test_many_entries_approved_at_once_all_count(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    entry_ids = _submit(database, town, rulebook, "member", 8)
    entry_ids += _submit(database, town, rulebook, "member2", 8)
    outcomes = _race(database, town, rulebook, entry_ids)
    assert outcomes == Counter({"approved": 16})
    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(LedgerLine)) == 16
        # Same member, same month, same rule from several threads: the summary upsert
        # must add up, not overwrite (study: 2 points, eight each stay under its cap).
        assert session.scalar(select(func.sum(PointsSummary.points))) == Decimal("32.0")
        assert session.scalar(select(func.sum(PointsSummary.line_count))) == 16


def test_capped_entries_approved_at_once_respect_the_cap(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    """Eight good deeds each (2 points, at most 10 a month), approved in a race: whatever
    order the threads win in, each member ends with exactly the cap, and the summary
    agrees with the ledger."""
    entry_ids = _submit(database, town, rulebook, "member", 8, "good_deed")
    entry_ids += _submit(database, town, rulebook, "member2", 8, "good_deed")
    assert _race(database, town, rulebook, entry_ids) == Counter({"approved": 16})
    with database.transaction(write=False) as session:
        ledger = dict(
            session.execute(
                select(LedgerLine.member_id, func.sum(LedgerLine.points)).group_by(
                    LedgerLine.member_id
                )
            ).all()
        )
        summary = dict(
            session.execute(
                select(PointsSummary.member_id, func.sum(PointsSummary.points)).group_by(
                    PointsSummary.member_id
                )
            ).all()
        )
    capped = {
        town.member_ids["member"]: Decimal("10.0"),
        town.member_ids["member2"]: Decimal("10.0"),
    }
    assert ledger == capped
    assert summary == capped


def test_objections_raised_at_once_stop_at_the_limit(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    """One member posting objections to many lines at once: the count and the insert
    happen under a lock on the member, so the limit holds on PostgreSQL too (without it
    every thread counted none before any committed and all were accepted)."""
    from service.kernel.errors import InvalidInput
    from service.kernel.periods import period_of, shift_period
    from service.persistence.models import Objection, PublishedBranchRow, PublishedMemberRow
    from service.publication.objections import LineRef, raise_objection
    from service.publication.publish import publish_month

    admin = town.principal(database, "admin")
    today = town_today(utcnow(), "Asia/Shanghai")
    period = shift_period(period_of(today), -1)
    with database.transaction() as session:
        # Nothing needs to count for members to object to the board.
        publication_id = publish_month(
            session, admin, rulebook, period, now=utcnow(), confirm_empty=True
        ).id
    with database.transaction(write=False) as session:
        lines = [
            LineRef(member_id=member_id)
            for member_id in session.scalars(
                select(PublishedMemberRow.member_id).where(
                    PublishedMemberRow.publication_id == publication_id
                )
            )
        ] + [
            LineRef(branch_id=branch_id)
            for branch_id in session.scalars(
                select(PublishedBranchRow.branch_id).where(
                    PublishedBranchRow.publication_id == publication_id
                )
            )
        ]
    assert len(lines) >= 6
    member2 = town.principal(database, "member2")
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(len(lines))

    def object_to(line: LineRef) -> None:
        start.wait()
        try:
            with database.transaction() as session:
                raise_objection(session, member2, period, line, "有误", now=utcnow(), limit=3)
            outcome = "raised"
        except InvalidInput:
            outcome = "limit"
        except Exception as exc:  # recorded so the assertion shows what went wrong
            outcome = f"error: {exc!r}"
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=object_to, args=(line,)) for line in lines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == Counter({"raised": 3, "limit": len(lines) - 3})
    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Objection)) == 3
