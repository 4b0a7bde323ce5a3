"""The email channel against a real SMTP server (aiosmtpd): a personal notification in
the member's language with both parts and the right link, the Message-ID from the
idempotency key, a possible repeat said so; the weekly digest (a week in one email,
once, after quiet hours, with its unsubscribe link; unsubscribing stops the next one);
STARTTLS and implicit TLS; the failures (not configured, no address, a 550, no server)
and the password never shown."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.kernel.config import Settings
from service.notify import email as email_channel
from service.notify.account_settings import settings_for
from service.notify.channels import DeliveryFailed, NothingToSend, SendContext
from service.notify.digest import compose_digests
from service.notify.unsubscribe import unsubscribe
from service.outbox.emit import emit
from service.persistence.db import Database
from service.persistence.notify import (
    Channel,
    Delivery,
    DeliveryStatus,
    Mode,
    NotifyPreference,
)
from tests.conftest import SmallTown
from tests.integration.smtp_support import SmtpServer, free_port, self_signed, smtp_server

# Monday 14 December 2026, 09:00 in Shanghai: the digest day (JIFEN_DIGEST_WEEKDAY=0).
MONDAY = datetime(2026, 12, 14, 1, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Shanghai
PUBLIC = "https://jifen.example.org"
APPROVED = {"rule": "志愿服务", "date": "2026-12-01", "points": "2.0"}


def mail_settings(server: SmtpServer | None, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "smtp_host": server.host if server else "",
        "smtp_port": server.port if server else 587,
        "smtp_security": "none",
        "mail_from": "青溪镇党员积分 <jifen@example.org>",
        "public_url": PUBLIC,
    }
    values.update(changes)
    return Settings(**values)


@pytest.fixture
def server() -> Any:
    with smtp_server() as running:
        yield running


def prepare(
    database: Database,
    account_id: int,
    *,
    locale: str = "zh_CN",
    address: str | None = "member@example.org",
    modes: dict[str, Mode] | None = None,
    quiet: tuple[str, str] | None = None,
) -> str:
    """The account's address, language and preferences; returns its unsubscribe token."""
    with database.transaction() as session:
        row = settings_for(session, account_id)
        row.email = address
        row.locale = locale
        if quiet is not None:
            row.quiet_from, row.quiet_to = quiet
        for kind_id, mode in (modes or {"entry_approved": Mode.EMAIL}).items():
            session.add(NotifyPreference(account_id=account_id, kind=kind_id, mode=mode))
        return row.unsubscribe_token


def emit_one(
    database: Database,
    account_id: int,
    kind_id: str = "entry_approved",
    params: dict[str, Any] | None = None,
    *,
    link: str = "/me/points",
    now: datetime = NOW,
) -> None:
    with database.transaction() as session:
        emit(session, kind_id, params=params or APPROVED, link=link, accounts=[account_id], now=now)


def deliveries(database: Database, channel: Channel) -> list[Delivery]:
    with database.transaction(write=False) as session:
        rows = list(
            session.scalars(
                select(Delivery).where(Delivery.channel == channel).order_by(Delivery.id)
            )
        )
        session.expunge_all()
        return rows


def send(
    database: Database, delivery: Delivery, settings: Settings, *, repeat: bool = False
) -> str:
    with database.transaction(write=False) as session:
        row = session.get(Delivery, delivery.id)
        assert row is not None
        return email_channel.deliver(session, row, SendContext(settings, NOW, repeat))


def parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


# --- a personal notification ------------------------------------------------------------


def test_an_approval_is_one_email_in_the_members_language(
    database: Database, town: SmallTown, server: SmtpServer
) -> None:
    member = town.account_ids["member"]
    prepare(database, member)
    emit_one(database, member)
    (delivery,) = deliveries(database, Channel.EMAIL)

    address = send(database, delivery, mail_settings(server))

    assert address == "member@example.org"
    (message,) = server.mailbox.messages
    assert message["Subject"] == "已通过：2026-12-01 的 志愿服务"
    assert message["To"] == "member@example.org"
    assert "jifen@example.org" in message["From"]
    assert message["Message-ID"] == f"<{delivery.idempotency_key}@jifen.example.org>"
    assert message["X-Jifen-Idempotency-Key"] == delivery.idempotency_key
    assert message["X-Jifen-Possible-Repeat"] is None
    assert message["List-Unsubscribe"] is None  # only digests have one
    assert message.get_content_type() == "multipart/alternative"
    plain, html = parts(message)
    for part in (plain, html):
        assert "志愿服务" in part and "2.0" in part
        assert f"{PUBLIC}/me/points" in part
        assert "查看我的积分" in part
        assert f"{PUBLIC}/me/notifications" in part
    assert '<html lang="zh-CN">' in html
    assert message["Content-Language"] == "zh-CN"
    assert f"查看我的积分：{PUBLIC}/me/points" in plain
    assert server.mailbox.envelopes == [("jifen@example.org", ["member@example.org"])]


def test_english_for_an_account_that_reads_english(
    database: Database, town: SmallTown, server: SmtpServer
) -> None:
    member = town.account_ids["member"]
    prepare(database, member, locale="en")
    emit_one(database, member)
    (delivery,) = deliveries(database, Channel.EMAIL)
    send(database, delivery, mail_settings(server))
    (message,) = server.mailbox.messages
    assert message["Subject"] == "Approved: 志愿服务 on 2026-12-01"
    plain, html = parts(message)
    assert f"See my points: {PUBLIC}/me/points" in plain
    assert f'<a href="{PUBLIC}/me/points">See my points</a>' in html


def test_a_possible_repeat_says_so(database: Database, town: SmallTown, server: SmtpServer) -> None:
    member = town.account_ids["member"]
    prepare(database, member, locale="en")
    emit_one(database, member)
    (delivery,) = deliveries(database, Channel.EMAIL)
    send(database, delivery, mail_settings(server), repeat=True)
    send(database, delivery, mail_settings(server), repeat=True)
    first, second = server.mailbox.messages
    assert first["Message-ID"] == second["Message-ID"]  # the same message, recognisably
    assert first["X-Jifen-Possible-Repeat"] == "yes"
    plain, html = parts(first)
    assert "may repeat one sent earlier" in plain and delivery.idempotency_key in plain
    assert "may repeat one sent earlier" in html


def test_every_parameter_is_escaped_in_the_html(
    database: Database, town: SmallTown, server: SmtpServer
) -> None:
    member = town.account_ids["member"]
    prepare(database, member, locale="en", modes={"entry_rejected": Mode.EMAIL})
    reason = '<script>alert("x")</script> & <b>'
    rule = "志愿<i>服务</i>\r\nBcc: everyone@example.org"
    params = {"rule": rule, "date": "2026-12-01", "reason": reason}
    emit_one(database, member, "entry_rejected", params, link="/entries/1")
    (delivery,) = deliveries(database, Channel.EMAIL)
    send(database, delivery, mail_settings(server))
    message = server.mailbox.messages[0]
    # A line break in a member's words cannot add a header.
    assert message["Bcc"] is None
    assert (
        message["Subject"]
        == "Not approved: 志愿<i>服务</i> Bcc: everyone@example.org on 2026-12-01"
    )
    assert server.mailbox.envelopes[0][1] == ["member@example.org"]
    plain, html = parts(message)
    assert reason in plain  # plain text is text
    assert "<script>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in html


def test_without_a_public_address_the_link_is_a_path_and_says_so(
    database: Database, town: SmallTown, server: SmtpServer
) -> None:
    member = town.account_ids["member"]
    prepare(database, member, locale="en")
    emit_one(database, member)
    (delivery,) = deliveries(database, Channel.EMAIL)
    send(database, delivery, mail_settings(server, public_url=None))
    message = server.mailbox.messages[0]
    assert message["Message-ID"] == f"<{delivery.idempotency_key}@jifen>"
    plain, _html = parts(message)
    assert "See my points: /me/points" in plain
    assert "public address is not configured" in plain


# --- nothing to send, and failures --------------------------------------------------------


def test_no_smtp_host_or_no_address_is_nothing_to_send(
    database: Database, town: SmallTown, server: SmtpServer
) -> None:
    member, member2 = town.account_ids["member"], town.account_ids["member2"]
    prepare(database, member)
    prepare(database, member2, address=None)
    emit_one(database, member)
    emit_one(database, member2)
    first, second = deliveries(database, Channel.EMAIL)
    with pytest.raises(NothingToSend, match="email is not configured"):
        send(database, first, mail_settings(None))
    with pytest.raises(NothingToSend, match="no email address"):
        send(database, second, mail_settings(server))
    assert server.mailbox.messages == []


def test_a_550_for_the_recipient_is_a_permanent_failure(
    database: Database, town: SmallTown, server: SmtpServer
) -> None:
    member = town.account_ids["member"]
    prepare(database, member, address="gone@example.org")
    emit_one(database, member)
    (delivery,) = deliveries(database, Channel.EMAIL)
    server.mailbox.refuse.add("gone@example.org")
    with pytest.raises(DeliveryFailed) as failed:
        send(database, delivery, mail_settings(server))
    assert failed.value.permanent
    assert "550" in str(failed.value)
    assert server.mailbox.messages == []


def test_no_server_is_a_failure_worth_retrying(database: Database, town: SmallTown) -> None:
    member = town.account_ids["member"]
    prepare(database, member)
    emit_one(database, member)
    (delivery,) = deliveries(database, Channel.EMAIL)
    settings = mail_settings(
        None,
        smtp_host="127.0.0.1",
        smtp_port=free_port(),  # nobody listens there
        smtp_username="jifen",
        smtp_password="very-secret-password",
        smtp_timeout_seconds=2,
    )
    with pytest.raises(DeliveryFailed) as failed:
        send(database, delivery, settings)
    assert not failed.value.permanent
    assert "very-secret-password" not in str(failed.value)


def test_sign_in_and_a_refused_password_that_is_never_shown(
    database: Database, town: SmallTown, caplog: pytest.LogCaptureFixture
) -> None:
    member = town.account_ids["member"]
    prepare(database, member, locale="en")
    emit_one(database, member)
    emit_one(database, member)
    first, second = deliveries(database, Channel.EMAIL)
    with smtp_server(login=("jifen", "right-password")) as running:
        good = mail_settings(running, smtp_username="jifen", smtp_password="right-password")
        send(database, first, good)
        assert len(running.mailbox.messages) == 1
        bad = mail_settings(running, smtp_username="jifen", smtp_password="wrong-password-xyz")
        with pytest.raises(DeliveryFailed) as failed:
            send(database, second, bad)
    assert not failed.value.permanent  # the office may fix the password
    assert "535" in str(failed.value)
    assert "wrong-password-xyz" not in str(failed.value)
    assert "wrong-password-xyz" not in caplog.text


# --- TLS -------------------------------------------------------------------------------


def test_starttls_and_implicit_tls_verify_the_certificate(
    database: Database, town: SmallTown, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = town.account_ids["member"]
    prepare(database, member)
    for _ in range(3):
        emit_one(database, member)
    starttls, implicit, untrusted = deliveries(database, Channel.EMAIL)
    cert = self_signed(tmp_path)
    with smtp_server(starttls_cert=cert) as running:
        settings = mail_settings(running, smtp_host="localhost", smtp_security="starttls")
        # A certificate the system does not trust is refused (worth a retry: the
        # office may fix the server), and nothing is sent in the clear.
        with pytest.raises(DeliveryFailed, match="SSL"):
            send(database, untrusted, settings)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
        send(database, starttls, settings)
        assert len(running.mailbox.messages) == 1
    with smtp_server(implicit_tls_cert=cert) as running:
        settings = mail_settings(running, smtp_host="localhost", smtp_security="tls")
        send(database, implicit, settings)
        assert len(running.mailbox.messages) == 1


def test_the_connection_follows_the_security_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, Any]] = []

    class Plain:
        def __init__(self, host: str, port: int, timeout: float) -> None:
            made.append(("plain", (host, port, timeout)))

        def starttls(self, context: Any) -> None:
            made.append(("starttls", context.verify_mode))

        def close(self) -> None:
            pass

    class Implicit:
        def __init__(self, host: str, port: int, timeout: float, context: Any) -> None:
            made.append(("tls", (host, port, context.check_hostname)))

    monkeypatch.setattr(smtplib, "SMTP", Plain)
    monkeypatch.setattr(smtplib, "SMTP_SSL", Implicit)
    base: dict[str, Any] = {"env": "test", "smtp_host": "mail.example.org"}
    base["smtp_timeout_seconds"] = 5
    email_channel.connect(Settings(**base, smtp_security="starttls", smtp_port=587))
    assert made == [("plain", ("mail.example.org", 587, 5)), ("starttls", 2)]  # CERT_REQUIRED
    made.clear()
    email_channel.connect(Settings(**base, smtp_security="tls", smtp_port=465))
    assert made == [("tls", ("mail.example.org", 465, True))]
    made.clear()
    email_channel.connect(Settings(**base, smtp_security="none", smtp_port=25))
    assert made == [("plain", ("mail.example.org", 25, 5))]


# --- the weekly digest ---------------------------------------------------------------------


def a_week_of_items(database: Database, account_id: int) -> None:
    """Seven days, one approval a day and a meeting on two of them (digest both)."""
    for day in range(7):
        when = MONDAY - timedelta(days=7 - day)
        emit_one(
            database, account_id, params={**APPROVED, "date": f"2026-12-{7 + day:02d}"}, now=when
        )
    for day in (1, 4):
        when = MONDAY - timedelta(days=7 - day)
        params = {
            "branch": "金湾",
            "meeting": f"主题党日 {day}",
            "date": "2026-12-20",
            "time": "14:00",
            "place": "党群服务中心",
        }
        emit_one(database, account_id, "meeting_scheduled", params, link="/meetings/9", now=when)


DIGEST = {"entry_approved": Mode.DIGEST, "meeting_scheduled": Mode.DIGEST}


def test_a_digest_groups_a_week_in_one_email(
    database: Database, town: SmallTown, server: SmtpServer
) -> None:
    member = town.account_ids["member"]
    token = prepare(database, member, locale="en", modes=DIGEST)
    a_week_of_items(database, member)
    assert len(deliveries(database, Channel.DIGEST)) == 9
    assert deliveries(database, Channel.EMAIL) == []
    settings = mail_settings(server)

    with database.transaction() as session:
        assert compose_digests(session, settings, MONDAY) == 1
    # The same day again, with a message that came after the digest: nothing new (it
    # waits for next week's).
    emit_one(database, member, now=MONDAY + timedelta(hours=1))
    with database.transaction() as session:
        assert compose_digests(session, settings, MONDAY + timedelta(hours=3)) == 0

    (digest,) = deliveries(database, Channel.EMAIL)
    assert digest.notification_id is None and digest.account_id == member
    assert digest.subject == "Your weekly Jifen digest: 9 messages"
    *items, later = deliveries(database, Channel.DIGEST)
    assert {(i.digest_id, i.status) for i in items} == {(digest.id, DeliveryStatus.SENT)}
    assert (later.digest_id, later.status) == (None, DeliveryStatus.PENDING)

    send(database, digest, settings)
    (message,) = server.mailbox.messages
    assert message["Subject"] == "Your weekly Jifen digest: 9 messages"
    assert message["Message-ID"] == f"<{digest.idempotency_key}@jifen.example.org>"
    unsubscribe_url = f"{PUBLIC}/notify/unsubscribe/{token}"
    assert message["List-Unsubscribe"] == f"<{unsubscribe_url}/one-click>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain, html = parts(message)
    for day in range(7, 14):
        assert f"Approved: 志愿服务 on 2026-12-{day:02d}" in plain
    assert plain.count(f"{PUBLIC}/me/points") == 7
    assert "Meeting: 主题党日 1 on 2026-12-20" in plain and "主题党日 4" in plain
    # grouped by kind, in the kinds' order: the approvals, then the meetings
    approvals = plain.index("## An entry of mine is approved")
    meetings = plain.index("## A meeting of my branch is scheduled")
    assert approvals < plain.index("2026-12-13") < meetings < plain.index("主题党日 1")
    assert unsubscribe_url in plain and f'href="{unsubscribe_url}"' in html


def test_a_digest_in_chinese(database: Database, town: SmallTown, server: SmtpServer) -> None:
    member = town.account_ids["member"]
    prepare(database, member, modes=DIGEST)
    a_week_of_items(database, member)
    settings = mail_settings(server)
    with database.transaction() as session:
        compose_digests(session, settings, MONDAY)
    (digest,) = deliveries(database, Channel.EMAIL)
    send(database, digest, settings)
    message = server.mailbox.messages[0]
    assert message["Subject"] == "本周 Jifen 摘要：9 条消息"
    plain, _html = parts(message)
    assert "已通过：2026-12-07 的 志愿服务" in plain


def test_the_digest_waits_for_its_day_and_the_end_of_quiet_hours(
    database: Database, town: SmallTown
) -> None:
    member, member2 = town.account_ids["member"], town.account_ids["member2"]
    prepare(database, member, modes=DIGEST)  # the town's quiet hours: 22:00-07:00
    prepare(database, member2, modes=DIGEST, quiet=("06:00", "10:00"))
    a_week_of_items(database, member)
    a_week_of_items(database, member2)
    settings = mail_settings(None)
    monday = datetime(2026, 12, 14, tzinfo=UTC)  # 08:00 in Shanghai
    with database.transaction() as session:
        assert compose_digests(session, settings, MONDAY - timedelta(days=1)) == 0  # Sunday
        # 06:30 on Monday in Shanghai: both in quiet hours
        assert compose_digests(session, settings, monday - timedelta(hours=1, minutes=30)) == 0
        assert compose_digests(session, settings, monday) == 1  # 08:00: member's are over
        assert compose_digests(session, settings, monday + timedelta(hours=1)) == 0  # 09:00
        assert compose_digests(session, settings, monday + timedelta(hours=2)) == 1  # 10:00
    emails = deliveries(database, Channel.EMAIL)
    assert [(e.account_id, e.created_at) for e in emails] == [
        (member, monday),
        (member2, monday + timedelta(hours=2)),
    ]


def test_unsubscribing_stops_the_next_weeks_digest(
    database: Database, town: SmallTown, server: SmtpServer
) -> None:
    member = town.account_ids["member"]
    token = prepare(database, member, modes=DIGEST)
    a_week_of_items(database, member)
    settings = mail_settings(server)
    with database.transaction() as session:
        assert compose_digests(session, settings, MONDAY) == 1
    # During the next week: two more items, then the member unsubscribes.
    emit_one(database, member, now=MONDAY + timedelta(days=1))
    with database.transaction() as session:
        assert unsubscribe(session, token, now=MONDAY + timedelta(days=2)) == 2
        assert unsubscribe(session, "no-such-token", now=MONDAY) is None
    emit_one(database, member, now=MONDAY + timedelta(days=3))
    with database.transaction() as session:
        assert compose_digests(session, settings, MONDAY + timedelta(days=7)) == 0
        modes = dict(
            session.execute(
                select(NotifyPreference.kind, NotifyPreference.mode).where(
                    NotifyPreference.account_id == member
                )
            ).all()
        )
    assert modes == {"entry_approved": Mode.INBOX, "meeting_scheduled": Mode.INBOX}
    items = deliveries(database, Channel.DIGEST)
    assert len(items) == 10  # the one after unsubscribing went to the inbox only
    assert items[-1].status == DeliveryStatus.SKIPPED
    assert len(deliveries(database, Channel.EMAIL)) == 1  # last week's only
