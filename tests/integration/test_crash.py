"""A crash in the middle of a batch of approvals loses nothing that was acknowledged and
leaves nothing half-written.

``jifen serve`` runs in a process of its own; worker threads approve entry after entry
over HTTP; once a third of them are through, the server gets kill -9 (no shutdown, no
rollback: a power cut as far as the app is concerned). Then, on the same database:
``jifen ledger verify`` finds no difference, every approved entry has its ledger lines
and no pending one has any; the server starts again and the rest is approved.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from service.entries.entry import EntryInput, submit_entry
from service.kernel.periods import town_today
from service.persistence.db import Database
from service.persistence.models import Entry, EntryStatus, LedgerLine
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import PASSWORD, SmallTown
from tests.live_server import (
    ServerProcess,
    SignedIn,
    process_database_url,
    process_env,
    run_jifen,
    start_server,
)

# Another process, thread or engine reads what the test writes: real commits.
pytestmark = pytest.mark.commits

PER_MEMBER = 40
WORKERS = 8
# Plain one-hour volunteer entries (3 points, never near the cap of 8 hours a day) for two
# members; capped good deeds (2 points, 10 a month) for a third, so an approval may also
# move other entries' lines: all of it or none must land.
BATCH = (("member", "volunteer"), ("member2", "volunteer"), ("member3", "good_deed"))
KILL_AFTER = PER_MEMBER * len(BATCH) // 3


@pytest.fixture
def server_env(database: Database, tmp_path: Path) -> dict[str, str]:
    return process_env(process_database_url(database), upload_dir=str(tmp_path / "uploads"))


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """Every server a test starts is stopped before the database is emptied."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


def _submit_batch(database: Database, town: SmallTown, rulebook: Rulebook) -> dict[int, str]:
    """The entries to approve, with their rule: good deeds in this month, so the cap is one
    window; volunteer hours over the last ten days (this month and the one before may be
    declared), at most four hours a day."""
    today = town_today(utcnow(), "Asia/Shanghai")
    rules: dict[int, str] = {}
    with database.transaction() as session:
        for username, rule_id in BATCH:
            principal = town.principal(database, username)
            for index in range(PER_MEMBER):
                day = today - timedelta(days=index % 10)
                if rule_id == "good_deed":
                    day = max(today.replace(day=1), day)
                data = EntryInput(rule_id, day, Decimal(1), f"{rule_id} {index}")
                entry_id = submit_entry(
                    session, principal, rulebook, data, today=today, now=utcnow()
                )
                rules[entry_id] = rule_id
    return rules


class Batch:
    """Worker threads taking entry ids from a queue and approving each over HTTP."""

    def __init__(self, server: ServerProcess, entry_ids: list[int]) -> None:
        # The office may approve the entries of every branch.
        self.admin = SignedIn(server.base_url, "admin", PASSWORD)
        self.todo: queue.Queue[int] = queue.Queue()
        for entry_id in entry_ids:
            self.todo.put(entry_id)
        self.acknowledged: list[int] = []  # answered "approved" (303)
        self.cut_off: list[int] = []  # sent, but the connection died before the answer
        self.refused: list[int] = []  # not even connected: the server was gone
        self.other: list[tuple[int, int, str]] = []
        self.lock = threading.Lock()
        # Notified at every answer (or failure): the test waits on it for the moment to
        # kill the server, instead of polling.
        self.progress = threading.Condition(self.lock)
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._work, args=(index,), name=f"batch-{index}")
            for index in range(WORKERS)
        ]

    def run(self) -> None:
        for thread in self.threads:
            thread.start()

    def wait(self) -> None:
        for thread in self.threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in self.threads), "a worker hung"

    def _work(self, _index: int) -> None:
        who = self.admin
        with who.client(timeout=30) as client:
            while not self.stop.is_set():
                try:
                    entry_id = self.todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    response = who.post_form(client, f"/review/{entry_id}/approve")
                except httpx.ConnectError:
                    with self.lock:
                        self.refused.append(entry_id)
                    continue
                except httpx.HTTPError:
                    with self.lock:
                        self.cut_off.append(entry_id)
                    continue
                with self.progress:
                    if response.status_code == 303:
                        self.acknowledged.append(entry_id)
                    else:
                        self.other.append((entry_id, response.status_code, response.text[:500]))
                    self.progress.notify_all()

    def wait_for(self, acknowledged: int, timeout: float) -> bool:
        """Until ``acknowledged`` approvals are answered (True), an unexpected answer
        comes (True: the caller checks ``other``), or ``timeout`` seconds pass (False)."""
        with self.progress:
            return self.progress.wait_for(
                lambda: len(self.acknowledged) >= acknowledged or bool(self.other), timeout
            )


def _state(database: Database) -> tuple[dict[int, EntryStatus], dict[int, list[Decimal]]]:
    with database.transaction(write=False) as session:
        statuses = dict(session.execute(select(Entry.id, Entry.status)).all())
        lines: dict[int, list[Decimal]] = {}
        for key, points in session.execute(
            select(LedgerLine.activity_key, LedgerLine.points).order_by(LedgerLine.id)
        ):
            lines.setdefault(int(key.removeprefix("entry:")), []).append(points)
    return statuses, lines


def _assert_consistent(
    database: Database, env: dict[str, str], rules: dict[int, str]
) -> dict[int, EntryStatus]:
    """The ledger check passes and each entry's lines match its status."""
    verified = run_jifen(["ledger", "verify"], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK" in verified.stdout, verified.stdout
    statuses, lines = _state(database)
    assert set(statuses) == set(rules)
    assert set(lines) <= set(rules), "ledger lines for something that is not an entry"
    for entry_id, status in statuses.items():
        if status is EntryStatus.PENDING:
            assert entry_id not in lines, f"pending entry {entry_id} has ledger lines"
            continue
        assert status is EntryStatus.APPROVED, (entry_id, status)
        assert lines.get(entry_id), f"approved entry {entry_id} has no ledger line"
        if rules[entry_id] == "volunteer":
            assert sum(lines[entry_id]) == Decimal("3.0"), (entry_id, lines[entry_id])
    return statuses


def test_kill_9_mid_batch_loses_nothing_and_restarts_clean(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    server_env: dict[str, str],
    servers: list[ServerProcess],
    tmp_path: Path,
) -> None:
    rules = _submit_batch(database, town, rulebook)
    log = tmp_path / "server.log"
    servers.append(start_server(server_env, log))
    batch = Batch(servers[0], sorted(rules))
    batch.run()
    assert batch.wait_for(KILL_AFTER, timeout=60), "the batch is too slow to crash in the middle"
    assert not batch.other, batch.other
    servers[0].kill()
    batch.stop.set()
    batch.wait()

    assert not batch.other, batch.other
    # Requests were in flight when the server died: a crash mid-batch, not between.
    assert batch.cut_off, "the kill hit no request in flight"
    assert len(batch.acknowledged) < len(rules), "the batch finished before the kill"

    # After the crash: everything acknowledged is there, nothing is half-written.
    statuses = _assert_consistent(database, server_env, rules)
    approved = {entry_id for entry_id, s in statuses.items() if s is EntryStatus.APPROVED}
    assert set(batch.acknowledged) <= approved, "an acknowledged approval was lost"
    # Approved without an answer is allowed: committed just before the kill, its answer
    # died with the server. Then it counts in full, as _assert_consistent checked.
    pending = sorted(set(rules) - approved)
    assert pending, "nothing left to approve after the crash"

    # Restart on the same database and approve the rest.
    servers.append(start_server(server_env, log))
    rest = Batch(servers[1], pending)
    rest.run()
    rest.wait()
    assert not (rest.other or rest.cut_off or rest.refused), (rest.other, rest.cut_off)
    assert sorted(rest.acknowledged) == pending

    statuses = _assert_consistent(database, server_env, rules)
    assert Counter(statuses.values()) == Counter({EntryStatus.APPROVED: len(rules)})
    with database.transaction(write=False) as session:
        totals = dict(
            session.execute(
                select(LedgerLine.member_id, func.sum(LedgerLine.points)).group_by(
                    LedgerLine.member_id
                )
            ).all()
        )
    assert totals == {
        town.member_ids["member"]: Decimal(3 * PER_MEMBER),  # an hour each, 3 points
        town.member_ids["member2"]: Decimal(3 * PER_MEMBER),
        town.member_ids["member3"]: Decimal("10.0"),  # the good-deed cap
    }
    server_log = servers[1].log()
    for trouble in ("database is locked", "Traceback", "unhandled error"):
        assert trouble not in server_log, f"{trouble!r} in the server log:\n{server_log[-5000:]}"
