"""The group-robot channels against a local receiver standing in for 企业微信 and 钉钉:
the documented JSON formats, 钉钉's timestamp+HMAC signature, absolute links, errcodes
that will never heal going straight to the dead-letter list, and nothing private ever
posted to a group, whatever a row says."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from service.kernel.config import Settings
from service.kernel.i18n import catalog
from service.notify import robots
from service.notify.sender import run_once
from service.outbox import emit as outbox
from service.outbox.kinds import KINDS, dump_params, render
from service.persistence.db import Database
from service.persistence.notify import (
    Audience,
    Channel,
    Delivery,
    DeliveryStatus,
    Notification,
    RobotService,
    RobotWebhook,
)
from tests.conftest import SmallTown
from tests.robot_receiver import Receiver, running_receiver

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai: not quiet
SECRET = "SEC0123456789abcdef0123456789abcdef"
MEETING = {
    "meeting": "十二月主题党日",
    "branch": "金湾工业园区联合党支部",
    "date": "2026-12-10",
    "time": "14:00",
    "place": "园区会议室",
}


def settings(**values: object) -> Settings:
    defaults: dict[str, object] = {"env": "test", "public_url": "https://jifen.example.org"}
    return Settings(**{**defaults, **values})  # type: ignore[arg-type]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def add_robots(database: Database, town: SmallTown, receiver: Receiver) -> tuple[int, int]:
    with database.transaction() as session:
        wecom = RobotWebhook(
            branch_id=town.jinwan, service=RobotService.WECOM, url=receiver.url("/wecom")
        )
        ding = RobotWebhook(
            branch_id=town.jinwan,
            service=RobotService.DINGTALK,
            url=receiver.url("/dingtalk"),
            secret=SECRET,
        )
        session.add_all([wecom, ding])
        session.flush()
        return wecom.id, ding.id


def announce(database: Database, town: SmallTown, *, now: datetime = NOW) -> int:
    with database.transaction() as session:
        (note,) = outbox.emit(
            session,
            "meeting_scheduled",
            params=MEETING,
            link="/meetings/7",
            broadcast="branch",
            branch_id=town.jinwan,
            robots="branch",
            now=now,
        )
        return note.id


def deliveries(database: Database) -> list[Delivery]:
    with database.transaction(write=False) as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_wecom_and_dingtalk_payloads_match_their_formats(
    database: Database, town: SmallTown, receiver: Receiver
) -> None:
    add_robots(database, town, receiver)
    announce(database, town)
    report = run_once(database, settings(), now=NOW)
    assert (report.claimed, report.sent) == (2, 2)

    words = render("meeting_scheduled", dump_params(MEETING), catalog("zh_CN").gettext)
    posts = {post.path: post for post in receiver.snapshot()}
    assert set(posts) == {"/wecom", "/dingtalk"}

    wecom = posts["/wecom"]
    assert wecom.query == {"key": "secret-token-0123456789"}
    assert set(wecom.body) == {"msgtype", "markdown"}
    assert wecom.body["msgtype"] == "markdown"
    assert set(wecom.body["markdown"]) == {"content"}
    content = wecom.body["markdown"]["content"]
    assert content.startswith(f"### {words.title}\n")
    assert words.body in content
    assert f"[{words.action}](https://jifen.example.org/meetings/7)" in content

    ding = posts["/dingtalk"]
    assert ding.body["msgtype"] == "markdown"
    assert set(ding.body["markdown"]) == {"title", "text"}
    assert ding.body["markdown"]["title"] == words.title
    assert words.body in ding.body["markdown"]["text"]

    # Each post carries its delivery's idempotency key; the address recorded is masked.
    rows = {row.channel: row for row in deliveries(database)}
    assert wecom.key == rows[Channel.WECOM].idempotency_key
    assert ding.key == rows[Channel.DINGTALK].idempotency_key
    for row in rows.values():
        assert row.status == DeliveryStatus.SENT
        assert row.sent_at == NOW
        assert "secret-token" not in row.address and row.address.endswith("?…6789")
        assert row.claimed_by is None and row.attempts == 0


def test_the_dingtalk_signature_verifies(
    database: Database, town: SmallTown, receiver: Receiver
) -> None:
    add_robots(database, town, receiver)
    announce(database, town)
    run_once(database, settings(), now=NOW)
    (ding,) = [post for post in receiver.snapshot() if post.path == "/dingtalk"]
    assert ding.query["access_token"] == "secret-token-0123456789"
    timestamp = int(ding.query["timestamp"])
    # 钉钉 refuses a timestamp more than an hour from its own clock.
    assert abs(timestamp - time.time() * 1000) < 60_000
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    assert ding.query["sign"] == expected  # parse_qs undid the URL encoding
    # Without a secret the URL carries no signature.
    assert "sign" not in next(p for p in receiver.snapshot() if p.path == "/wecom").query


def test_signed_url_encodes_the_signature() -> None:
    # A secret whose signature at this time holds "+", "/" or "=" (base64): all escaped.
    url = robots.signed_url("https://oapi.dingtalk.com/robot/send?access_token=abc", "s", 1000)
    sign = robots.dingtalk_sign("s", 1000)
    assert url.startswith("https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1000")
    raw = url.split("&sign=")[1]
    assert not any(char in raw for char in "+/=")
    assert parse_qs(urlsplit(url).query)["sign"] == [sign]


def test_a_link_without_public_url_is_the_path(
    database: Database, town: SmallTown, receiver: Receiver
) -> None:
    add_robots(database, town, receiver)
    announce(database, town)
    run_once(database, settings(public_url=None), now=NOW)
    for post in receiver.snapshot():
        assert "](/meetings/7)" in post.text


@pytest.mark.parametrize(
    ("errcode", "dead"),
    [
        (310000, {Channel.DINGTALK}),  # 钉钉: sign not match / keywords not in content
        (300001, {Channel.DINGTALK}),  # 钉钉: token is not exist
        (93000, {Channel.WECOM}),  # 企业微信: invalid webhook url
        (45009, set()),  # 企业微信: api freq out of limit
        (-1, set()),  # system busy
    ],
)
def test_errcodes_that_never_heal_are_dead_at_once(
    database: Database, town: SmallTown, receiver: Receiver, errcode: int, dead: set[Channel]
) -> None:
    add_robots(database, town, receiver)
    announce(database, town)
    receiver.errcode = errcode
    report = run_once(database, settings(), now=NOW)
    assert (report.dead, report.retrying, report.sent) == (len(dead), 2 - len(dead), 0)
    for row in deliveries(database):
        expected = DeliveryStatus.DEAD if row.channel in dead else DeliveryStatus.PENDING
        assert row.status == expected
        assert row.attempts == 1
        assert f"errcode {errcode}" in row.last_error
        assert "secret-token" not in row.last_error


def test_a_removed_or_disabled_robot_is_skipped(
    database: Database, town: SmallTown, receiver: Receiver
) -> None:
    wecom_id, _ = add_robots(database, town, receiver)
    announce(database, town)
    with database.transaction() as session:
        hook = session.get(RobotWebhook, wecom_id)
        assert hook is not None
        hook.enabled = False
    report = run_once(database, settings(), now=NOW)
    assert (report.sent, report.skipped) == (1, 1)
    skipped = [row for row in deliveries(database) if row.status == DeliveryStatus.SKIPPED]
    assert skipped[0].webhook_id == wecom_id
    assert skipped[0].last_error == "the group robot is turned off"


def test_nothing_private_reaches_a_group_robot(
    database: Database, town: SmallTown, receiver: Receiver
) -> None:
    """A private kind never reaches a group: emit refuses to address one to a group, and
    a row that says otherwise anyway (a bug, a hand edit) is refused by the channel."""
    wecom_id, ding_id = add_robots(database, town, receiver)
    member = town.account_ids["member"]
    private = [item for item in KINDS.values() if item.private]
    secret_words = "没有照片，不予认定"
    with database.transaction() as session:
        for item in private:
            with pytest.raises(outbox.PrivacyError):
                outbox.emit(
                    session,
                    item.id,
                    params={"reason": secret_words},
                    link="/x",
                    broadcast="branch",
                    branch_id=town.jinwan,
                    robots="branch",
                    now=NOW,
                )
            # The same kind to one account: no robot delivery is written.
            outbox.emit(
                session, item.id, params={"reason": secret_words}, link="/x", accounts=[member]
            )
        assert not session.scalars(
            select(Delivery).where(Delivery.channel.in_((Channel.WECOM, Channel.DINGTALK)))
        ).all()
        # Forged rows: a private notification as a branch broadcast with robot deliveries.
        for item in private:
            note = Notification(
                kind=item.id,
                audience=Audience.BRANCH,
                branch_id=town.jinwan,
                params=dump_params({"reason": secret_words}),
                link="/x",
                created_at=NOW,
            )
            session.add(note)
            session.flush()
            for hook_id, channel in ((wecom_id, Channel.WECOM), (ding_id, Channel.DINGTALK)):
                session.add(
                    Delivery(
                        notification_id=note.id,
                        channel=channel,
                        webhook_id=hook_id,
                        idempotency_key=outbox.new_key(),
                        created_at=NOW,
                        not_before=NOW,
                        next_attempt_at=NOW,
                    )
                )
    announce(database, town)  # and one group message that may go
    report = run_once(database, settings(), now=NOW)
    assert report.sent == 2
    assert report.dead == 2 * len(private)
    posts = receiver.snapshot()
    assert len(posts) == 2
    for post in posts:
        assert secret_words not in post.text
        assert MEETING["meeting"] in post.text
    for row in deliveries(database):
        if row.status == DeliveryStatus.DEAD:
            assert "is not for groups: refused" in row.last_error


def test_a_possible_repeat_says_so(database: Database, town: SmallTown, receiver: Receiver) -> None:
    add_robots(database, town, receiver)
    announce(database, town)
    # A sender claimed both and died: the lease ran out without a result.
    with database.transaction() as session:
        for row in session.scalars(select(Delivery)):
            row.claimed_by = "dead-host:1:abcd"
            row.claimed_until = NOW
    run_once(database, settings(default_locale="en"), now=NOW)
    for post in receiver.snapshot():
        assert robots.REPEAT_LINE in post.text
        assert post.key is not None
