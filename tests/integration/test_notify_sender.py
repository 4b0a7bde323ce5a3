"""The sender: retries with doubling backoff and a limit, then the dead-letter list and a
retry from it; quiet hours hold a robot post until morning; a failing delivery never
blocks the others; parallel senders deliver each message exactly once (PostgreSQL's
SKIP LOCKED, SQLite's single writer); the ``jifen notify`` commands."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from service.cli import main
from service.cli.common import CliContext
from service.database import open_database
from service.notify import robots
from service.notify.channels import DeliveryFailed, SendContext
from service.notify.dead_letters import dead_letters, retry_dead
from service.notify.sender import RunReport, backoff, run_once, scrub
from service.outbox import emit as outbox
from service.persistence.db import Database
from service.persistence.notify import (
    Channel,
    Delivery,
    DeliveryStatus,
    NotifySettings,
    RobotService,
    RobotWebhook,
)
from tests.conftest import SmallTown
from tests.integration.test_notify_robots import (
    MEETING,
    NOW,
    add_robots,
    announce,
    deliveries,
    settings,
)
from tests.live_server import process_database_url
from tests.robot_receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def test_backoff_doubles_up_to_a_day() -> None:
    config = settings(notify_backoff_seconds=60)
    assert [backoff(config, n).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert backoff(config, 30) == timedelta(days=1)


def test_scrub_masks_every_url() -> None:
    text = "POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abcdef-SECRET-9876 failed"
    assert scrub(text) == "POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?…9876 failed"
    # Punctuation after a URL stays; a URL masked already is left as it is.
    assert scrub("at http://h/p?key=SECRET-abcd: refused") == "at http://h/p?…abcd: refused"
    assert scrub("http://h/p?…abcd: refused") == "http://h/p?…abcd: refused"


def test_a_500_retries_with_backoff_then_is_dead_and_a_retry_sends_it(
    database: Database, town: SmallTown, receiver: Receiver
) -> None:
    _, ding_id = add_robots(database, town, receiver)
    with database.transaction() as session:
        # One robot is enough here: the 钉钉 one is turned off, so emit posts to 企业微信.
        session.execute(
            update(RobotWebhook).where(RobotWebhook.id == ding_id).values(enabled=False)
        )
    announce(database, town)
    receiver.status = 500
    config = settings(notify_max_attempts=4, notify_backoff_seconds=60)
    now = NOW
    waits = []
    for attempt in range(1, 5):
        report = run_once(database, config, now=now)
        (row,) = deliveries(database)
        assert row.attempts == attempt
        assert "HTTP 500" in row.last_error and "secret-token" not in row.last_error
        if attempt < 4:
            assert report.retrying == 1 and row.status == DeliveryStatus.PENDING
            waits.append((row.next_attempt_at - now).total_seconds())
            # Not due before its time: a pass a second early claims nothing.
            early = run_once(database, config, now=row.next_attempt_at - timedelta(seconds=1))
            assert early.claimed == 0
            now = row.next_attempt_at
        else:
            assert report.dead == 1 and row.status == DeliveryStatus.DEAD
    assert waits == [60, 120, 240]
    assert receiver.snapshot() == []

    office = town.principal(database, "admin")
    with database.transaction(write=False) as session:
        (letter,) = dead_letters(session, office)
        assert letter.kind == "meeting_scheduled" and letter.delivery.attempts == 4
    receiver.status = 200
    with database.transaction() as session:
        assert retry_dead(session, office, [letter.delivery.id], now=now) == 1
    report = run_once(database, config, now=now)
    assert report.sent == 1
    (row,) = deliveries(database)
    assert row.status == DeliveryStatus.SENT
    assert len(receiver.snapshot()) == 1


def test_quiet_hours_hold_a_robot_post_until_morning(
    database: Database, town: SmallTown, receiver: Receiver
) -> None:
    add_robots(database, town, receiver)
    late = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)  # 23:00 in Asia/Shanghai
    announce(database, town, now=late)
    report = run_once(database, settings(), now=late)
    assert (report.held, report.sent) == (2, 0)
    morning = datetime(2026, 12, 8, 23, 0, tzinfo=UTC)  # 07:00 on the 9th
    for row in deliveries(database):
        assert row.not_before == morning
        assert row.attempts == 0 and row.claimed_by is None
    assert run_once(database, settings(), now=morning - timedelta(minutes=1)).claimed == 0
    assert receiver.snapshot() == []
    assert run_once(database, settings(), now=morning).sent == 2
    assert len(receiver.snapshot()) == 2


def test_an_email_waits_for_its_recipients_quiet_hours(database: Database, town: SmallTown) -> None:
    """The recipient's own quiet hours (not the town's) hold an email."""
    member = town.account_ids["member"]
    sent: list[int] = []

    def fake_email(_session: object, delivery: Delivery, _context: SendContext) -> str:
        sent.append(delivery.id)
        return "member@example.org"

    with database.transaction() as session:
        session.add(
            NotifySettings(
                account_id=member,
                email="member@example.org",
                quiet_from="09:00",
                quiet_to="12:00",
                unsubscribe_token="t" * 20,
            )
        )
        outbox.emit(
            session,
            "warning_opened",  # emailed by default
            params={"period": "2026-Q3", "deadline": "2026-12-31"},
            link="/warnings/1",
            accounts=[member],
            now=NOW,
        )
    channels = {Channel.EMAIL: fake_email}
    report = run_once(database, settings(), now=NOW, channels=channels)  # 10:00 local
    assert (report.held, sent) == (1, [])
    (row,) = deliveries(database)
    assert row.not_before == datetime(2026, 12, 8, 4, 0, tzinfo=UTC)  # 12:00 local
    assert run_once(database, settings(), now=row.not_before, channels=channels).sent == 1
    (row,) = deliveries(database)
    assert row.address == "member@example.org" and sent == [row.id]


def test_a_failing_delivery_never_blocks_the_others(
    database: Database, town: SmallTown, receiver: Receiver
) -> None:
    add_robots(database, town, receiver)
    for _ in range(3):
        announce(database, town)

    def broken(_session: object, _delivery: Delivery, _context: SendContext) -> str:
        raise RuntimeError("boom at https://qyapi.weixin.qq.com/send?key=LEAKED-KEY-1234")

    channels = {Channel.WECOM: broken, Channel.DINGTALK: robots.deliver}
    report = run_once(database, settings(notify_batch_size=2), now=NOW, channels=channels)
    assert (report.sent, report.retrying) == (3, 3)
    for row in deliveries(database):
        if row.channel == Channel.WECOM:
            assert row.status == DeliveryStatus.PENDING and row.attempts == 1
            assert "RuntimeError" in row.last_error and "LEAKED" not in row.last_error
        else:
            assert row.status == DeliveryStatus.SENT
    assert [post.path for post in receiver.snapshot()] == ["/dingtalk"] * 3


def test_a_channel_that_breaks_its_session_never_blocks_the_others(
    database: Database, town: SmallTown, receiver: Receiver
) -> None:
    add_robots(database, town, receiver)
    for _ in range(2):
        announce(database, town)

    def broken(session: Session, _delivery: Delivery, _context: SendContext) -> str:
        # On PostgreSQL this aborts the read transaction: its commit fails too.
        session.execute(text("SELECT * FROM no_such_table"))
        return "never"

    channels = {Channel.WECOM: broken, Channel.DINGTALK: robots.deliver}
    report = run_once(database, settings(), now=NOW, channels=channels)
    assert (report.sent, report.retrying) == (2, 2)
    for row in deliveries(database):
        if row.channel == Channel.WECOM:
            assert row.status == DeliveryStatus.PENDING and row.attempts == 1
            assert row.claimed_by is None
            assert "no_such_table" in row.last_error


def test_a_permanent_failure_is_dead_at_once(database: Database, town: SmallTown) -> None:
    add_robots(database, town, Receiver(base_url="http://127.0.0.1:9"))
    announce(database, town)

    def refused(_session: object, _delivery: Delivery, _context: SendContext) -> str:
        raise DeliveryFailed("bad signature", permanent=True)

    channels = {Channel.WECOM: refused, Channel.DINGTALK: refused}
    report = run_once(database, settings(), now=NOW, channels=channels)
    assert report.dead == 2
    assert all(row.attempts == 1 for row in deliveries(database))


def test_an_unreachable_robot_is_retried(database: Database, town: SmallTown) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    add_robots(database, town, Receiver(base_url="http://127.0.0.1:9"))
    announce(database, town)
    report = run_once(database, settings(), now=NOW)
    assert report.retrying == 2
    for row in deliveries(database):
        assert "?…6789: URLError" in row.last_error and "secret-token" not in row.last_error


def test_a_failing_before_step_does_not_stop_the_deliveries(
    database: Database, town: SmallTown, receiver: Receiver
) -> None:
    add_robots(database, town, receiver)
    announce(database, town)

    def sweep(_session: object, _settings: object, _now: datetime) -> int:
        raise RuntimeError("the sweep broke")

    def digests(_session: object, _settings: object, _now: datetime) -> int:
        return 3

    report = run_once(database, settings(), now=NOW, before=(sweep, digests))
    assert report.before == {"sweep": -1, "digests": 3}
    assert report.sent == 2


def test_a_stop_gives_back_the_claims_not_yet_delivered(
    database: Database, town: SmallTown, receiver: Receiver
) -> None:
    add_robots(database, town, receiver)
    announce(database, town)
    stop = threading.Event()

    def first_then_stop(session: object, delivery: Delivery, context: SendContext) -> str:
        stop.set()
        return robots.deliver(session, delivery, context)  # type: ignore[arg-type]

    channels = {Channel.WECOM: first_then_stop, Channel.DINGTALK: first_then_stop}
    report = run_once(database, settings(), now=NOW, channels=channels, stop=stop)
    assert (report.sent, report.released) == (1, 1)
    pending = [row for row in deliveries(database) if row.status == DeliveryStatus.PENDING]
    assert len(pending) == 1 and pending[0].claimed_by is None


# --- parallel senders -------------------------------------------------------------------

PARALLEL = 200


@pytest.mark.commits
def test_two_senders_in_parallel_deliver_each_message_exactly_once(
    database: Database, town: SmallTown, receiver: Receiver
) -> None:
    with database.transaction() as session:
        session.add(
            RobotWebhook(
                branch_id=town.jinwan, service=RobotService.WECOM, url=receiver.url("/wecom")
            )
        )
    with database.transaction() as session:
        for index in range(PARALLEL):
            outbox.emit(
                session,
                "meeting_scheduled",
                params={**MEETING, "meeting": f"会议 {index}"},
                link=f"/meetings/{index}",
                broadcast="branch",
                branch_id=town.jinwan,
                robots="branch",
            )
    config = settings(notify_batch_size=10, quiet_hours="00:00-00:00")
    url = process_database_url(database)
    reports: list[RunReport] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def sender() -> None:
        own = open_database(url)
        try:
            start.wait()
            reports.append(run_once(own, config))
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert len(reports) == 2
    keys = receiver.keys()
    assert len(keys) == PARALLEL
    assert set(keys.values()) == {1}, "a message was posted twice"
    assert sum(report.sent for report in reports) == PARALLEL
    assert sum(report.lost for report in reports) == 0
    with database.transaction(write=False) as session:
        counts = dict(
            session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
        )
        sent_keys = set(session.scalars(select(Delivery.idempotency_key)))
    assert counts == {DeliveryStatus.SENT: PARALLEL}
    assert sent_keys == set(keys)


@pytest.mark.commits
def test_a_sender_skips_rows_another_is_claiming(
    database: Database, town: SmallTown, receiver: Receiver
) -> None:
    """PostgreSQL: rows another sender has locked mid-claim are skipped, not waited for
    (SKIP LOCKED). SQLite: a claim waits for the other writer, then claims (one writer
    at a time), and fails nothing."""
    add_robots(database, town, receiver)
    for _ in range(5):
        announce(database, town, now=datetime.now(UTC) - timedelta(minutes=1))
    config = settings(quiet_hours="00:00-00:00")
    other = open_database(process_database_url(database))
    remaining = 0
    try:
        with other.engine.connect() as connection:
            transaction = connection.begin()
            if connection.dialect.name == "postgresql":
                locked = set(
                    connection.scalars(
                        select(Delivery.id).order_by(Delivery.id).limit(4).with_for_update()
                    )
                )
                started = time.monotonic()
                report = run_once(database, config)
                assert time.monotonic() - started < 5, "the sender waited for the locks"
                assert report.sent == 10 - len(locked)
                transaction.rollback()
                sent = {row.id for row in deliveries(database) if row.status == "sent"}
                assert sent.isdisjoint(locked)
                remaining = len(locked)
            else:
                connection.execute(update(Delivery).values(last_error=""))  # the write lock
                timer = threading.Timer(1.0, transaction.rollback)
                timer.start()
                started = time.monotonic()
                report = run_once(database, config)
                timer.join()
                assert time.monotonic() - started >= 0.9, "the claim did not wait"
                assert report.sent == 10
    finally:
        other.dispose()
    assert run_once(database, config).sent == remaining
    assert all(row.status == DeliveryStatus.SENT for row in deliveries(database))
    assert set(receiver.keys().values()) == {1}


# --- the commands ------------------------------------------------------------------------


def test_notify_commands(database: Database, town: SmallTown, receiver: Receiver) -> None:
    add_robots(database, town, receiver)
    announce(database, town, now=datetime.now(UTC) - timedelta(minutes=1))
    receiver.status = 500
    config = settings(notify_max_attempts=1, quiet_hours="00:00-00:00")

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, ["notify", *args], obj=CliContext(config, database))

    result = invoke("run")
    assert result.exit_code == 0, result.output
    assert "0 sent" in result.output and "2 dead" in result.output

    result = invoke("dead", "--by", "admin")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    ids = [line.split("\t")[0] for line in lines]
    for line in lines:
        assert "meeting_scheduled" in line and "HTTP 500" in line
        assert "secret-token" not in line

    result = invoke("retry", "--by", "admin")
    assert result.exit_code == 2  # neither ids nor --all
    result = invoke("retry", ids[0], "--by", "admin")
    assert "1 messages will be sent again" in result.output
    result = invoke("retry", "--all", "--by", "admin")
    assert "1 messages will be sent again" in result.output
    receiver.status = 200
    result = invoke("run")
    assert "2 sent" in result.output
    result = invoke("dead", "--by", "admin")
    assert "no dead messages" in result.output
    assert all(row.status == DeliveryStatus.SENT for row in deliveries(database))


def test_notify_dead_needs_the_office(database: Database, town: SmallTown) -> None:
    config = settings()
    result = CliRunner().invoke(
        main, ["notify", "dead", "--by", "member"], obj=CliContext(config, database)
    )
    assert result.exit_code == 1
