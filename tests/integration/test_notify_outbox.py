"""The outbox's core: ``emit`` writes notifications and deliveries in the caller's
transaction, per preference; private kinds never reach a group; the inbox shows personal
rows and the broadcasts of the reader's branch and town, and marking read clears the
count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from service.notify import inbox
from service.outbox import emit as outbox
from service.outbox.kinds import KINDS, render
from service.persistence.db import Database
from service.persistence.notify import (
    Channel,
    Delivery,
    Mode,
    Notification,
    NotifyPreference,
    RobotService,
    RobotWebhook,
)
from tests.conftest import SmallTown

# After the town's accounts are made (a broadcast older than an account is not in its
# inbox), whenever the test runs.
NOW = datetime.now(UTC) + timedelta(hours=1)


def _count(database: Database, model: type) -> int:
    with database.transaction(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_an_event_that_rolls_back_leaves_nothing(database: Database, town: SmallTown) -> None:
    with pytest.raises(RuntimeError), database.transaction() as session:
        outbox.emit(
            session,
            "entry_rejected",
            params={"rule": "志愿服务", "date": "2026-12-01", "reason": "no photo"},
            link="/entries/1",
            accounts=[town.account_ids["member"]],
        )
        session.add(
            NotifyPreference(account_id=town.account_ids["member"], kind="x", mode=Mode.OFF)
        )
        raise RuntimeError("the approval failed after emitting")
    assert _count(database, Notification) == 0
    assert _count(database, Delivery) == 0


def test_preferences_decide_the_deliveries(database: Database, town: SmallTown) -> None:
    member, member2, member3 = (town.account_ids[n] for n in ("member", "member2", "member3"))
    with database.transaction() as session:
        session.add(NotifyPreference(account_id=member, kind="entry_approved", mode=Mode.EMAIL))
        session.add(NotifyPreference(account_id=member2, kind="entry_approved", mode=Mode.OFF))
        session.add(NotifyPreference(account_id=member3, kind="entry_approved", mode=Mode.DIGEST))
        # A mandatory kind cannot be turned off: "off" still reaches the inbox.
        session.add(NotifyPreference(account_id=member2, kind="warning_opened", mode=Mode.OFF))
    with database.transaction() as session:
        params = {"rule": "志愿服务", "date": "2026-12-01", "points": "2.0"}
        written = outbox.emit(
            session,
            "entry_approved",
            params=params,
            link="/me/points",
            accounts=[member, member2, member3, member],
            now=NOW,
        )
        assert [n.account_id for n in written] == [member, member3]
        outbox.emit(
            session,
            "warning_opened",
            params={"period": "2026-Q3", "deadline": "2026-12-31"},
            link="/warnings/1",
            accounts=[member2],
            now=NOW,
        )
    with database.transaction(write=False) as session:
        channels = sorted((d.account_id, d.channel) for d in session.scalars(select(Delivery)))
        # member: email; member3: a digest item; member2's "off" warning: the inbox only.
        assert channels == sorted([(member, Channel.EMAIL), (member3, Channel.DIGEST)])
        assert inbox.unread_count(session, member2, now=NOW) == 1


def test_private_kinds_never_reach_a_group(database: Database, town: SmallTown) -> None:
    private = [kind.id for kind in KINDS.values() if not kind.group]
    assert "entry_rejected" in private and "warning_talk" in private
    with database.transaction() as session:
        for kind_id in private:
            with pytest.raises(outbox.PrivacyError):
                outbox.emit(
                    session,
                    kind_id,
                    params={},
                    link="/",
                    branch_id=town.jinwan,
                    broadcast="branch",
                    robots="branch",
                )
        with pytest.raises(outbox.PrivacyError):
            outbox.emit(
                session,
                "entry_rejected",
                params={},
                link="/",
                robots="town",
                accounts=[town.account_ids["member"]],
            )
    assert _count(database, Notification) == 0


def test_broadcasts_reach_their_branch_and_its_robots(database: Database, town: SmallTown) -> None:
    with database.transaction() as session:
        session.add_all(
            [
                RobotWebhook(branch_id=town.jinwan, service=RobotService.WECOM, url="https://w/1"),
                RobotWebhook(
                    branch_id=town.jinwan,
                    service=RobotService.DINGTALK,
                    url="https://d/1",
                    secret="SEC",
                ),
                RobotWebhook(branch_id=town.baoyuan, service=RobotService.WECOM, url="https://w/2"),
                RobotWebhook(branch_id=None, service=RobotService.WECOM, url="https://w/town"),
            ]
        )
    params = {
        "meeting": "主题党日",
        "branch": "金湾",
        "date": "2026-12-10",
        "time": "19:00",
        "place": "党群服务中心",
    }
    with database.transaction() as session:
        outbox.emit(
            session,
            "meeting_scheduled",
            params=params,
            link="/meetings/1",
            branch_id=town.jinwan,
            broadcast="branch",
            robots="branch",
            now=NOW,
        )
    with database.transaction() as session:
        robots = sorted(d.channel for d in session.scalars(select(Delivery)))
        assert robots == [Channel.DINGTALK, Channel.WECOM]
        # 金湾's members see it; 宝元's do not.
        assert inbox.unread_count(session, town.account_ids["member"], now=NOW) == 1
        assert inbox.unread_count(session, town.account_ids["member3"], now=NOW) == 0
        page = inbox.inbox(session, town.account_ids["member"], now=NOW)
        assert [item.read for item in page.items] == [False]
        assert inbox.mark_read(session, town.account_ids["member"], now=NOW) == 1
        assert inbox.unread_count(session, town.account_ids["member"], now=NOW) == 0
        # Another member's read mark is theirs alone.
        assert inbox.unread_count(session, town.account_ids["member2"], now=NOW) == 1
        # Marking ids one cannot see marks nothing.
        note = page.items[0].notification
        assert inbox.mark_read(session, town.account_ids["member3"], [note.id], now=NOW) == 0


def test_a_sweep_reminds_once(database: Database, town: SmallTown) -> None:
    secretary = town.account_ids["secretary"]
    for _ in range(3):
        with database.transaction() as session:
            outbox.emit(
                session,
                "review_waiting",
                params={"count": 4, "oldest": "2026-12-01"},
                link="/review",
                accounts=[secretary],
                dedupe_key="review_waiting:2026-12-08",
                now=NOW,
            )
    assert _count(database, Notification) == 1


def test_words_render_in_both_languages() -> None:
    from service.kernel.i18n import catalog

    params = '{"rule": "志愿服务", "date": "2026-12-01", "reason": "照片不清楚"}'
    english = render("entry_rejected", params)
    assert english.title == "Not approved: 志愿服务 on 2026-12-01"
    assert "照片不清楚" in english.body
    # A parameter a wording no longer has renders as "?", never loses the message.
    assert render("entry_rejected", "{}").title == "Not approved: ? on ?"
    chinese = render("entry_rejected", params, catalog("zh_CN").gettext)
    assert chinese.title != english.title
