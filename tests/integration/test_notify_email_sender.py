"""End to end through the sender (``service.notify.sender.run_once``, what ``jifen
notify run`` does) to a real SMTP server (aiosmtpd): an approval is one email with the
right link and is recorded sent; quiet hours hold it until morning; the weekly digest
is composed by the pass's ``before`` step and goes out as one email; a 550 goes
straight to the dead-letter list and email switched off is recorded as skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from service.notify.digest import compose_digests
from service.notify.sender import run_once
from service.persistence.db import Database
from service.persistence.notify import Channel, Delivery, DeliveryStatus, Mode
from tests.conftest import SmallTown
from tests.integration.smtp_support import SmtpServer, smtp_server
from tests.integration.test_notify_email import (
    DIGEST,
    MONDAY,
    NOW,
    PUBLIC,
    a_week_of_items,
    emit_one,
    mail_settings,
    parts,
    prepare,
)


@pytest.fixture
def server() -> Any:
    with smtp_server() as running:
        yield running


def emails(database: Database) -> list[Delivery]:
    with database.transaction(write=False) as session:
        rows = list(
            session.scalars(
                select(Delivery).where(Delivery.channel == Channel.EMAIL).order_by(Delivery.id)
            )
        )
        session.expunge_all()
        return rows


def test_an_approval_goes_out_once_through_the_sender(
    database: Database, town: SmallTown, server: SmtpServer
) -> None:
    member = town.account_ids["member"]
    prepare(database, member)
    emit_one(database, member)
    settings = mail_settings(server)

    report = run_once(database, settings, now=NOW)
    again = run_once(database, settings, now=NOW + timedelta(minutes=1))

    assert (report.sent, again.claimed) == (1, 0)
    (message,) = server.mailbox.messages
    assert message["Subject"] == "已通过：2026-12-01 的 志愿服务"
    plain, html = parts(message)
    assert f"{PUBLIC}/me/points" in plain and f"{PUBLIC}/me/points" in html
    (delivery,) = emails(database)
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.address == "member@example.org"
    assert message["Message-ID"] == f"<{delivery.idempotency_key}@jifen.example.org>"
    assert message["X-Jifen-Possible-Repeat"] is None


def test_quiet_hours_hold_the_email_until_morning(
    database: Database, town: SmallTown, server: SmtpServer
) -> None:
    member = town.account_ids["member"]
    prepare(database, member)
    late = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    morning = datetime(2026, 12, 8, 23, 0, tzinfo=UTC)  # 07:00 the next day
    emit_one(database, member, now=late)
    settings = mail_settings(server)

    held = run_once(database, settings, now=late)
    assert (held.held, held.sent) == (1, 0)
    assert run_once(database, settings, now=morning - timedelta(minutes=1)).claimed == 0
    assert server.mailbox.messages == []
    sent = run_once(database, settings, now=morning)
    assert sent.sent == 1
    assert len(server.mailbox.messages) == 1
    (delivery,) = emails(database)
    assert delivery.attempts == 0  # waiting is not a failed attempt


def test_the_weekly_digest_through_the_sender(
    database: Database, town: SmallTown, server: SmtpServer
) -> None:
    member = town.account_ids["member"]
    token = prepare(database, member, locale="en", modes=DIGEST)
    a_week_of_items(database, member)
    settings = mail_settings(server)

    report = run_once(database, settings, now=MONDAY, before=[compose_digests])
    second = run_once(database, settings, now=MONDAY + timedelta(hours=1), before=[compose_digests])

    assert report.before == {"compose_digests": 1} and report.sent == 1
    assert second.before == {"compose_digests": 0} and second.claimed == 0
    (message,) = server.mailbox.messages
    assert message["Subject"] == "Your weekly Jifen digest: 9 messages"
    assert message["List-Unsubscribe"] == f"<{PUBLIC}/notify/unsubscribe/{token}/one-click>"
    (digest,) = emails(database)
    assert digest.status == DeliveryStatus.SENT and digest.notification_id is None


def test_a_550_is_dead_at_once_and_no_smtp_host_is_skipped(
    database: Database, town: SmallTown, server: SmtpServer
) -> None:
    member, member2 = town.account_ids["member"], town.account_ids["member2"]
    prepare(database, member, address="gone@example.org")
    prepare(database, member2, modes={"entry_approved": Mode.EMAIL})
    emit_one(database, member)
    server.mailbox.refuse.add("gone@example.org")
    report = run_once(database, mail_settings(server), now=NOW)
    assert report.dead == 1
    emit_one(database, member2)
    report = run_once(database, mail_settings(None), now=NOW)
    assert report.skipped == 1
    dead, skipped = emails(database)
    assert (dead.status, dead.attempts) == (DeliveryStatus.DEAD, 1)
    assert "550" in dead.last_error
    assert (skipped.status, skipped.last_error) == (
        DeliveryStatus.SKIPPED,
        "email is not configured",
    )
    assert server.mailbox.messages == []
