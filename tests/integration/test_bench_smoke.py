"""The benchmark's data generator (bench/generate.py) writes the real schema with bulk
inserts, bypassing the services: at a tiny scale, on the database type under test, the
result must pass ``jifen ledger verify`` and give the same boards a page at a time as
whole, so the generator cannot silently drift from the schema or the scoring."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.generate import SCALES, generate, libpq_url
from service.boards.live import member_board
from service.boards.pages import exempt_page, member_page
from service.database import open_database
from service.ledger.verify import verify_ledger
from service.persistence.meetings import Meeting
from service.persistence.models import Entry, EntryStatus
from service.scoring.rules import Rulebook


@pytest.fixture
def bench_url(tmp_path: Path) -> Iterator[str]:
    """A database of the smoke test's own (the generator starts from an empty one)."""
    test_url = os.environ.get("JIFEN_TEST_DATABASE_URL")
    if not test_url:
        yield f"sqlite:///{tmp_path / 'bench-smoke.sqlite3'}"
        return
    name = f"jifen_bench_smoke_{uuid.uuid4().hex[:8]}"
    url = f"{test_url.rsplit('/', 1)[0]}/{name}"
    yield url
    import psycopg

    base = libpq_url(test_url).rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def test_generated_data_passes_the_ledger_check(bench_url: str, rulebook: Rulebook) -> None:
    result = generate("tiny", bench_url)
    scale = SCALES["tiny"]
    assert result.counts["members"] == scale.members
    assert result.counts["branches"] == scale.branches
    assert result.counts["entries"] > scale.members * scale.months
    database = open_database(bench_url)
    try:
        with database.transaction(write=False) as session:
            report = verify_ledger(session, rulebook)
            assert report.ok, [d.describe() for d in report.differences[:10]]
            assert report.ledger_lines == result.counts["ledger_lines"]
            pending = session.scalar(
                select(func.count()).where(Entry.status == EntryStatus.PENDING)
            )
            assert pending == result.counts["pending"]
            assert pending or result.today.day == 1  # the current month's last days
            period = result.current_period
            whole = member_board(session, period)
            paged = member_page(session, period, 1, size=10)
            assert paged.rows == whole.ranked[:10]
            assert paged.without_points == whole.without_points
            # The exempt members with points: counted on the board, on pages of their own.
            assert paged.exempt_members == len(whole.exempt)
            assert exempt_page(session, period, 1, size=10).lines == whole.exempt[:10]
    finally:
        database.dispose()


def test_the_meetings_scenario_closes_its_meeting_and_leaves_the_ledger_whole(
    bench_url: str, rulebook: Rulebook
) -> None:
    """Scenario 7 at a tiny scale: a year of meetings written in bulk, a 50-member
    meeting closed through the service, the compliance table read; the ledger check
    still agrees (attending counts as taking part: the board totals were rebuilt)."""
    from bench.meetings import meetings
    from bench.report import Report

    result = generate("tiny", bench_url)
    database = open_database(bench_url)
    try:
        report = Report("tiny", "sqlite", "now", {})
        meetings(report, database, result, rulebook)
        figures = {row.name: row for row in report.rows}
        assert "close a 50-member meeting" in figures, report.notes
        assert any(name.startswith("compliance table, all 30") for name in figures)
        for row in report.rows:
            assert row.value > 0 and row.ratio is not None and row.ratio > 0
        with database.transaction(write=False) as session:
            closed = session.scalar(
                select(func.count()).select_from(Meeting).where(Meeting.status == "closed")
            )
            assert closed and closed > 30 * 25  # up to November: 30 a branch
            report_ = verify_ledger(session, rulebook)
            assert report_.ok, [d.describe() for d in report_.differences[:10]]
    finally:
        database.dispose()
