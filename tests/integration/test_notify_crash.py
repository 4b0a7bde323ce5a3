"""A sender killed mid-batch loses no message and repeats at most the one in flight.

``jifen notify run --loop`` runs in a process of its own against a robot receiver that
answers slowly; after a few posts it gets kill -9 (no chance to record anything). Its
claims expire after the (short) lease; then ``jifen notify run`` delivers the rest.
Every message arrives; a message posted twice is the one that was in flight, and its
second post carries the same idempotency key and the "may repeat" line. A SIGTERM, by
contrast, stops the loop cleanly: the delivery in flight is recorded, the rest of the
batch given back.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from service.notify import robots
from service.outbox import emit as outbox
from service.persistence.db import Database
from service.persistence.notify import Delivery, DeliveryStatus, RobotService, RobotWebhook
from tests.conftest import SmallTown
from tests.integration.test_notify_robots import MEETING
from tests.live_server import JIFEN, process_database_url, process_env, run_jifen
from tests.robot_receiver import Receiver, running_receiver

# Another process reads what the test writes: real commits.
pytestmark = pytest.mark.commits

MESSAGES = 30
LEASE_S = 3


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def _outbox(database: Database, town: SmallTown, receiver: Receiver) -> set[str]:
    """MESSAGES meetings announced to one 企业微信 robot; their idempotency keys."""
    with database.transaction() as session:
        session.add(
            RobotWebhook(
                branch_id=town.jinwan, service=RobotService.WECOM, url=receiver.url("/wecom")
            )
        )
    with database.transaction() as session:
        for index in range(MESSAGES):
            outbox.emit(
                session,
                "meeting_scheduled",
                params={**MEETING, "meeting": f"会议 {index}"},
                link=f"/meetings/{index}",
                broadcast="branch",
                branch_id=town.jinwan,
                robots="branch",
            )
        return set(session.scalars(select(Delivery.idempotency_key)))


def _env(database: Database) -> dict[str, str]:
    return process_env(
        process_database_url(database),
        notify_lease_seconds=str(LEASE_S),
        notify_batch_size="5",
        # Whenever the suite runs: no quiet hours; the posts in English.
        quiet_hours="00:00-00:00",
        default_locale="en",
    )


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [*JIFEN, "notify", "run", "--loop", "--interval", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_for_posts(receiver: Receiver, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while len(receiver.snapshot()) < count:
        assert process.poll() is None, "the sender ended early"
        assert time.monotonic() < deadline, "the sender posted too little"
        time.sleep(0.05)


def _rows(database: Database) -> list[Delivery]:
    with database.transaction(write=False) as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_kill_9_mid_batch_loses_none_and_repeats_at_most_the_one_in_flight(
    database: Database, town: SmallTown, receiver: Receiver, tmp_path: Path
) -> None:
    keys = _outbox(database, town, receiver)
    env = _env(database)
    # A slow robot: the receiver records a post on arrival and answers a second later,
    # so the kill, right after the fourth post arrives, lands while it is in flight.
    receiver.delay = 1.0
    process = _start(env, tmp_path / "sender.log")
    try:
        _wait_for_posts(receiver, 4, process)
    finally:
        process.kill()
        process.wait(10)
    posted_before = len(receiver.snapshot())
    unrecorded = [
        row
        for row in _rows(database)
        if row.status == DeliveryStatus.PENDING and row.claimed_by is not None
    ]
    assert unrecorded, "the kill left no claim behind"
    assert posted_before < MESSAGES

    receiver.delay = 0
    time.sleep(LEASE_S + 0.5)  # the dead sender's claims expire
    result = run_jifen(["notify", "run"], env)
    assert result.returncode == 0, result.stderr

    rows = _rows(database)
    assert all(row.status == DeliveryStatus.SENT for row in rows)
    received = receiver.keys()
    assert set(received) == keys, "a message was lost"
    repeated = [key for key, count in received.items() if count > 1]
    assert len(repeated) == 1, f"not just the one in flight repeated: {repeated}"
    assert all(count <= 2 for count in received.values())
    for key in repeated:
        first, second = [post for post in receiver.snapshot() if post.key == key]
        assert robots.REPEAT_LINE not in first.text
        assert robots.REPEAT_LINE in second.text
    # Only the rows claimed when the sender died say they may repeat.
    unrecorded_keys = {row.idempotency_key for row in unrecorded}
    for post in receiver.snapshot():
        if robots.REPEAT_LINE in post.text:
            assert post.key in unrecorded_keys


def test_sigterm_stops_the_loop_cleanly(
    database: Database, town: SmallTown, receiver: Receiver, tmp_path: Path
) -> None:
    _outbox(database, town, receiver)
    env = _env(database)
    receiver.delay = 0.2
    log = tmp_path / "sender.log"
    process = _start(env, log)
    try:
        _wait_for_posts(receiver, 3, process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert "stopped" in log.read_text()
    rows = _rows(database)
    # Every post that went out is recorded; nothing stays claimed.
    sent = [row for row in rows if row.status == DeliveryStatus.SENT]
    assert len(sent) == len(receiver.snapshot())
    assert all(row.claimed_until is None for row in rows)
    assert all(row.claimed_by is None for row in rows if row.status == DeliveryStatus.PENDING)
