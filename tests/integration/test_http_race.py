"""Concurrent approvals over real HTTP: ``jifen serve`` in a process of its own, on the
test database (SQLite or PostgreSQL), and fifty threads posting the approve form at
once, with the session cookie and CSRF token a browser would send.

tests/integration/test_concurrency.py proves the same at the service layer; this adds
everything between the socket and the service: the request transaction, the thread
pool, the connection pool, the error pages.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from service.entries.entry import EntryInput, submit_entry
from service.kernel.i18n import ENTRY_STATUS_LABELS, N_, Message
from service.kernel.periods import town_today
from service.ledger.verify import verify_ledger
from service.persistence.db import Database
from service.persistence.models import Entry, EntryStatus, LedgerLine, PointsSummary
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import PASSWORD, SmallTown
from tests.live_server import (
    ServerProcess,
    SignedIn,
    process_database_url,
    process_env,
    start_server,
)
from web.i18n import translations

# Another process, thread or engine reads what the test writes: real commits.
pytestmark = pytest.mark.commits

THREADS = 50
# Everyone who may review 金湾's entries: its secretary, its instructor, the office.
REVIEWERS = ("secretary", "instructor", "admin")
NOT_PENDING = N_("This entry is no longer pending (now: %(status)s); nothing was changed.")
TROUBLE = ("database is locked", "Traceback", "unhandled error", "OperationalError")


@pytest.fixture
def server(database: Database, tmp_path: Path) -> Iterator[ServerProcess]:
    """``jifen serve`` on the test database; stopped before the database is emptied."""
    env = process_env(process_database_url(database), upload_dir=str(tmp_path / "uploads"))
    running = start_server(env, tmp_path / "server.log")
    try:
        yield running
    finally:
        running.stop()


def _submit(
    database: Database, town: SmallTown, rulebook: Rulebook, rule_id: str, count: int
) -> list[int]:
    """``count`` entries of 金湾's member under ``rule_id``, dated in this month."""
    principal = town.principal(database, "member")
    today = town_today(utcnow(), "Asia/Shanghai")
    first = today.replace(day=1)
    ids = []
    with database.transaction() as session:
        for index in range(count):
            day = max(first, today - timedelta(days=index % 20))
            data = EntryInput(rule_id, day, Decimal(1), f"第 {index} 件好事")
            ids.append(submit_entry(session, principal, rulebook, data, today=today, now=utcnow()))
    return ids


@dataclass(frozen=True)
class Outcome:
    reviewer: str
    english: bool
    status: int
    location: str
    body: str
    sent: float  # time.perf_counter() when the request left
    answered: float  # and when its answer was in


def _approve_all_at_once(server: ServerProcess, entry_ids: list[int]) -> list[Outcome]:
    """One thread per entry id (repeat an id to race on it). Each thread has its own
    connection, opened before the start, and posts the approve form when all are ready.
    Every second thread asks for English, the others get the default language."""
    signed_in = {name: SignedIn(server.base_url, name, PASSWORD) for name in REVIEWERS}
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    start = threading.Barrier(len(entry_ids), timeout=60)

    def approve(index: int, entry_id: int) -> None:
        who = signed_in[REVIEWERS[index % len(REVIEWERS)]]
        english = index % 2 == 1
        with who.client() as client:
            if english:
                client.headers["Accept-Language"] = "en"
            client.get("/static/app.css")  # open the connection before the race
            start.wait()
            sent = time.perf_counter()
            try:
                response = who.post_form(client, f"/review/{entry_id}/approve")
                status, location = response.status_code, response.headers.get("location", "")
                body = response.text
            except httpx.HTTPError as exc:  # recorded: the assertion shows what happened
                status, location, body = 0, "", repr(exc)
            outcome = Outcome(
                who.username, english, status, location, body, sent, time.perf_counter()
            )
        with lock:
            outcomes.append(outcome)

    threads = [
        threading.Thread(target=approve, args=(index, entry_id), name=f"approve-{index}")
        for index, entry_id in enumerate(entry_ids)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "an approval never answered"
    return outcomes


def _most_in_flight(outcomes: list[Outcome]) -> int:
    """How many requests were waiting for their answer at the same moment."""
    events = sorted(
        [(outcome.sent, 1) for outcome in outcomes]
        + [(outcome.answered, -1) for outcome in outcomes]
    )
    most = current = 0
    for _moment, step in events:
        current += step
        most = max(most, current)
    return most


def _not_pending_text(english: bool) -> str:
    """The conflict message as the page shows it in that language."""
    gettext = (lambda text: text) if english else translations("zh_CN").gettext
    message = Message(NOT_PENDING, {"status": Message(ENTRY_STATUS_LABELS["approved"])})
    return message.render(gettext)


def _assert_server_healthy(server: ServerProcess, outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        assert outcome.status != 500, f"500 for {outcome.reviewer}: {outcome.body[:2000]}"
        assert "database is locked" not in outcome.body
    log = server.log()
    for trouble in TROUBLE:
        assert trouble not in log, f"{trouble!r} in the server log:\n{log[-5000:]}"
    assert server.process.poll() is None, "the server died"


def _verify(database: Database, rulebook: Rulebook) -> None:
    with database.transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
    assert report.ok, [difference.describe() for difference in report.differences]


def test_fifty_reviewers_approve_one_entry_once(
    database: Database, town: SmallTown, rulebook: Rulebook, server: ServerProcess
) -> None:
    (entry_id,) = _submit(database, town, rulebook, "suggestion", 1)

    outcomes = _approve_all_at_once(server, [entry_id] * THREADS)

    _assert_server_healthy(server, outcomes)
    # A race, not a queue: most requests were in flight together.
    assert _most_in_flight(outcomes) >= THREADS // 2
    statuses = Counter(outcome.status for outcome in outcomes)
    assert statuses == Counter({303: 1, 409: THREADS - 1}), statuses
    (winner,) = [outcome for outcome in outcomes if outcome.status == 303]
    assert winner.location == "/review?done=approved"
    for outcome in outcomes:
        if outcome.status == 409:
            # The queue page again, with a banner that says what happened, in the
            # reader's language: already decided, nothing changed.
            assert _not_pending_text(outcome.english) in outcome.body, outcome.body[:2000]
            assert 'role="alert"' in outcome.body

    with database.transaction(write=False) as session:
        entry = session.get(Entry, entry_id)
        assert entry is not None and entry.status is EntryStatus.APPROVED
        assert entry.decided_by_id == town.account_ids[winner.reviewer]
        lines = session.execute(
            select(LedgerLine.points).where(LedgerLine.activity_key == f"entry:{entry_id}")
        ).all()
        assert [points for (points,) in lines] == [Decimal("1.0")]
        summary = session.scalar(
            select(func.sum(PointsSummary.points)).where(
                PointsSummary.member_id == town.member_ids["member"]
            )
        )
        assert summary == Decimal("1.0")
    _verify(database, rulebook)


def test_fifty_entries_of_one_member_approved_at_once_respect_the_cap(
    database: Database, town: SmallTown, rulebook: Rulebook, server: ServerProcess
) -> None:
    """Fifty good deeds of one member (2 points each, at most 10 a month), each approved
    by its own thread: every approval succeeds, and the month counts exactly the cap
    whatever order the requests won in."""
    entry_ids = _submit(database, town, rulebook, "good_deed", THREADS)

    outcomes = _approve_all_at_once(server, entry_ids)

    _assert_server_healthy(server, outcomes)
    # A race, not a queue: most requests were in flight together.
    assert _most_in_flight(outcomes) >= THREADS // 2
    assert Counter(outcome.status for outcome in outcomes) == Counter({303: THREADS})
    assert {outcome.location for outcome in outcomes} == {"/review?done=approved"}
    member_id = town.member_ids["member"]
    with database.transaction(write=False) as session:
        statuses = Counter(
            session.scalars(select(Entry.status).where(Entry.id.in_(entry_ids))).all()
        )
        assert statuses == Counter({EntryStatus.APPROVED: THREADS})
        ledger = session.scalar(
            select(func.sum(LedgerLine.points)).where(LedgerLine.member_id == member_id)
        )
        summary = session.scalar(
            select(func.sum(PointsSummary.points)).where(PointsSummary.member_id == member_id)
        )
        # Every entry was recorded (an award line, of 0 points once the cap is full).
        recorded = session.scalar(
            select(func.count(func.distinct(LedgerLine.activity_key))).where(
                LedgerLine.member_id == member_id
            )
        )
    cap = Decimal("10.0")
    assert (ledger, summary, recorded) == (cap, cap, THREADS)
    _verify(database, rulebook)
