"""Closing one meeting from many browsers at once, over real HTTP: ``jifen serve`` in a
process of its own on the test database (SQLite or PostgreSQL), and the secretary and
the office posting the close form together. The points are written once, every request
gets an answer that says so, and ``jifen ledger verify`` finds the ledger sound."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from service.persistence.db import Database
from service.persistence.meetings import Meeting, MeetingAttendance, MeetingStatus
from service.persistence.models import LedgerLine
from service.scoring.rules import Rulebook
from tests.conftest import PASSWORD, SmallTown
from tests.functional.test_meetings_pages import Meetings, held_day
from tests.live_server import (
    ServerProcess,
    SignedIn,
    process_database_url,
    process_env,
    run_jifen,
    start_server,
)

pytestmark = pytest.mark.commits

THREADS = 12
CLOSERS = ("secretary", "admin")
TROUBLE = ("database is locked", "Traceback", "unhandled error", "OperationalError")


@pytest.fixture
def server(database: Database, tmp_path: Path) -> Iterator[ServerProcess]:
    env = process_env(process_database_url(database), upload_dir=str(tmp_path / "uploads"))
    running = start_server(env, tmp_path / "server.log")
    try:
        yield running
    finally:
        running.stop()


def test_many_closes_at_once_write_the_points_once(
    database: Database, town: SmallTown, rulebook: Rulebook, server: ServerProcess
) -> None:
    meetings = Meetings(database, town, rulebook)
    meeting_id = meetings.schedule(day=held_day())
    meetings.move_to_the_past(meeting_id)
    meetings.tick(meeting_id, "member")
    signed_in = {name: SignedIn(server.base_url, name, PASSWORD) for name in CLOSERS}
    start = threading.Barrier(THREADS, timeout=60)
    answers: list[tuple[int, str, str]] = []
    lock = threading.Lock()

    def close(index: int) -> None:
        who = signed_in[CLOSERS[index % len(CLOSERS)]]
        with who.client() as client:
            client.get("/static/app.css")  # open the connection before the race
            start.wait()
            try:
                response = who.post_form(
                    client, f"/meetings/{meeting_id}/close", {"minutes": f"纪要 {index}"}
                )
                answer = (response.status_code, response.headers.get("location", ""), "")
            except httpx.HTTPError as exc:
                answer = (0, "", repr(exc))
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=close, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)

    assert all(status == 303 for status, _, _ in answers), answers
    done = Counter(location.rsplit("=", 1)[-1] for _, location, _ in answers)
    assert done == Counter({"closed": 1, "already_closed": THREADS - 1}), done
    log = server.log()
    for trouble in TROUBLE:
        assert trouble not in log, log[-5000:]

    with database.transaction(write=False) as session:
        meeting = session.get(Meeting, meeting_id)
        assert meeting is not None and meeting.status is MeetingStatus.CLOSED
        rows = session.scalar(
            select(func.count())
            .select_from(MeetingAttendance)
            .where(MeetingAttendance.meeting_id == meeting_id)
        )
        lines = session.scalars(
            select(LedgerLine.points).where(LedgerLine.attendance_id.is_not(None))
        ).all()
    # One attendance row per member expected (张伟, 李娜, 王书记), one line each.
    assert rows == 3
    assert sorted(f"{points:.1f}" for points in lines) == ["-2.0", "-2.0", "2.0"]
    assert meetings.points_of("member") == ["2.0"]

    env = process_env(process_database_url(database))
    verified = run_jifen(["ledger", "verify"], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
