"""A flood of objections over real HTTP: ``jifen serve`` in a process of its own, on the
test database (SQLite or PostgreSQL), and forty threads of one member posting the
objection form at the same moment.

Issue 15, item 11: one member posted 40 objections in 0.8 s and 39 were accepted. The
limit per member and month's board is counted under a lock on the member's row, so
parallel posts cannot all read "below the limit" before any of them is saved.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from service.kernel.periods import period_of, shift_period, town_today
from service.persistence.db import Database
from service.persistence.models import Objection
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import PASSWORD, SmallTown
from tests.functional.test_objections_pages import publish
from tests.live_server import (
    ServerProcess,
    SignedIn,
    process_database_url,
    process_env,
    start_server,
)

# Another process reads what the test writes: real commits.
pytestmark = pytest.mark.commits

POSTS = 40
LIMIT = 5
TROUBLE = ("database is locked", "Traceback", "unhandled error", "OperationalError")


@pytest.fixture
def server(database: Database, tmp_path: Path) -> Iterator[ServerProcess]:
    env = process_env(
        process_database_url(database),
        upload_dir=str(tmp_path / "uploads"),
        objections_per_month=str(LIMIT),
    )
    running = start_server(env, tmp_path / "server.log")
    try:
        yield running
    finally:
        running.stop()


def test_forty_objections_at_once_stop_at_the_limit(
    database: Database, town: SmallTown, rulebook: Rulebook, server: ServerProcess
) -> None:
    last_month = shift_period(period_of(town_today(utcnow(), "Asia/Shanghai")), -1)
    publish(database, town, rulebook, last_month, utcnow())
    # Eight lines of the board to object to, five posts each: neither the limit nor the
    # one-objection-per-line rule may let a sixth through.
    lines = [("member", str(member_id)) for member_id in town.member_ids.values()]
    lines += [("branch", str(town.jinwan)), ("branch", str(town.baoyuan))]
    member2 = SignedIn(server.base_url, "member2", PASSWORD)
    statuses: list[int] = []
    bodies: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(POSTS, timeout=60)

    def post(index: int) -> None:
        kind, line_id = lines[index % len(lines)]
        fields = {"period": last_month, kind: line_id, "text": f"第 {index} 条：这一行有误"}
        with member2.client(timeout=120) as client:
            start.wait()
            try:
                response = member2.post_form(client, "/objections/new", fields)
                status, body = response.status_code, response.text
            except httpx.HTTPError as exc:  # recorded: the assertion shows what happened
                status, body = 0, repr(exc)
        with lock:
            statuses.append(status)
            bodies.append(body)

    threads = [threading.Thread(target=post, args=(index,)) for index in range(POSTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert not any(thread.is_alive() for thread in threads), "a post never answered"

    for status, body in zip(statuses, bodies, strict=True):
        # 404: a line the published board does not have (the exempt elder); 409: a second
        # objection to a line already objected to; 422: over the limit.
        assert status in (303, 404, 409, 422), f"{status}: {body[body.find('<main') :][:1500]}"
    log = server.log()
    for trouble in TROUBLE:
        assert trouble not in log, f"{trouble!r} in the server log:\n{log[-5000:]}"
    assert Counter(statuses)[303] == LIMIT
    with database.transaction(write=False) as session:
        saved = session.scalar(select(func.count()).select_from(Objection))
        per_line = session.execute(
            select(Objection.line_member_id, Objection.line_branch_id, func.count()).group_by(
                Objection.line_member_id, Objection.line_branch_id
            )
        ).all()
    assert saved == LIMIT
    assert all(count == 1 for *_line, count in per_line)
