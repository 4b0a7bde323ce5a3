"""Each event tells the right people, in its own transaction: an entry decided, a leave
decided, a meeting scheduled, changed or cancelled (the branch and its robots only when
the whole branch is expected), a board published, an objection answered, a warning case
opened and a talk recorded, a password changed or reset. An event that rolls back
leaves no notification and no delivery."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from service.accounts import throttle
from service.accounts.admin import reset_password
from service.accounts.passwords import change_password
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entries, approve_entry, reject_entry
from service.kernel.errors import Conflict
from service.kernel.periods import period_of, shift_period, town_today
from service.meetings.leave import decide_leave, request_leave
from service.meetings.schedule import cancel_meeting, edit_meeting, schedule_meeting
from service.persistence.db import Database
from service.persistence.meetings import Audience
from service.persistence.notify import (
    Audience as To,
)
from service.persistence.notify import (
    Channel,
    Delivery,
    Notification,
    NotifySettings,
    RobotService,
    RobotWebhook,
)
from service.persistence.types import utcnow
from service.publication.objections import LineRef, raise_objection, resolve_objection
from service.publication.publish import publish_month
from service.publication.state import first_day
from service.scoring.rules import Rulebook
from tests.conftest import PASSWORD, SmallTown
from tests.functional.warning_world import add_warning_cases
from tests.integration.meetings_support import BEFORE, meeting_input

TZ = "Asia/Shanghai"


def notes(database: Database, kind: str | None = None) -> list[Notification]:
    with database.transaction(write=False) as session:
        query = select(Notification).order_by(Notification.id)
        if kind is not None:
            query = query.where(Notification.kind == kind)
        return list(session.scalars(query))


def deliveries(database: Database) -> list[Delivery]:
    with database.transaction(write=False) as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def params(note: Notification) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(note.params)
    return loaded


def today_entry(
    database: Database, town: SmallTown, rulebook: Rulebook, who: str = "member"
) -> int:
    today = town_today(utcnow(), TZ)
    with database.transaction() as session:
        return submit_entry(
            session,
            town.principal(database, who),
            rulebook,
            EntryInput("volunteer", today, Decimal(2), "在西山桥路口指挥交通"),
            today=today,
            now=utcnow(),
        )


def add_robots(database: Database, town: SmallTown) -> None:
    with database.transaction() as session:
        session.add_all(
            [
                RobotWebhook(branch_id=town.jinwan, service=RobotService.WECOM, url="https://w/1"),
                RobotWebhook(
                    branch_id=town.jinwan, service=RobotService.DINGTALK, url="https://d/1"
                ),
                RobotWebhook(branch_id=town.baoyuan, service=RobotService.WECOM, url="https://w/2"),
                RobotWebhook(branch_id=None, service=RobotService.WECOM, url="https://w/town"),
            ]
        )


# --- entries -----------------------------------------------------------------------------


def test_an_approval_tells_the_member_with_the_rule_date_and_points(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    entry_id = today_entry(database, town, rulebook)
    with database.transaction() as session:
        points = approve_entry(
            session, town.principal(database, "secretary"), rulebook, entry_id, now=utcnow()
        )
    [note] = notes(database)
    assert note.kind == "entry_approved"
    assert note.audience == To.ACCOUNT and note.account_id == town.account_ids["member"]
    assert note.link == "/me/points"
    ruleset = rulebook.in_force(town_today(utcnow(), TZ))
    assert ruleset is not None
    rule = ruleset.rule("volunteer")
    assert rule is not None
    assert params(note) == {
        "rule": rule.name("zh_CN"),  # no settings yet: the default language
        "date": town_today(utcnow(), TZ).isoformat(),
        "points": f"{points:,.1f}",
    }


def test_the_rule_is_named_in_the_members_language(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    with database.transaction() as session:
        session.add(
            NotifySettings(
                account_id=town.account_ids["member"], locale="en", unsubscribe_token="t-en"
            )
        )
    entry_id = today_entry(database, town, rulebook)
    with database.transaction() as session:
        reject_entry(
            session,
            town.principal(database, "secretary"),
            entry_id,
            "照片看不清",
            now=utcnow(),
            rulebook=rulebook,
        )
    [note] = notes(database)
    assert note.kind == "entry_rejected" and note.link == "/entries"
    ruleset = rulebook.in_force(town_today(utcnow(), TZ))
    assert ruleset is not None and (rule := ruleset.rule("volunteer")) is not None
    assert params(note)["rule"] == rule.name("en")
    assert params(note)["reason"] == "照片看不清"


def test_an_approval_that_rolls_back_tells_nobody(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    entry_id = today_entry(database, town, rulebook)
    with pytest.raises(RuntimeError), database.transaction() as session:
        approve_entry(
            session, town.principal(database, "secretary"), rulebook, entry_id, now=utcnow()
        )
        assert len(session.scalars(select(Notification)).all()) == 1
        raise RuntimeError("the request failed after the approval")
    assert notes(database) == [] and deliveries(database) == []


def test_an_approval_refused_because_the_month_is_published_tells_nobody(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    last_month = shift_period(period_of(town_today(utcnow(), TZ)), -1)
    day = first_day(last_month) + timedelta(days=3)
    with database.transaction() as session:
        entry_id = submit_entry(
            session,
            town.principal(database, "member"),
            rulebook,
            EntryInput("volunteer", day, Decimal(2), "指挥交通"),
            today=day,
            now=utcnow(),
        )
    # Published meanwhile (a pending entry blocks publishing, so it is pending in a
    # month a test writes as published: the lock the approval checks).
    from service.persistence.models import Entry, EntryStatus

    with database.transaction() as session:
        entry = session.get(Entry, entry_id)
        assert entry is not None
        entry.status = EntryStatus.WITHDRAWN
    with database.transaction() as session:
        publish_month(
            session,
            town.principal(database, "admin"),
            rulebook,
            last_month,
            now=utcnow(),
            confirm_empty=True,
        )
    with database.transaction() as session:
        entry = session.get(Entry, entry_id)
        assert entry is not None
        entry.status = EntryStatus.PENDING
    before = len(notes(database))
    with pytest.raises(Conflict), database.transaction() as session:
        approve_entry(
            session, town.principal(database, "secretary"), rulebook, entry_id, now=utcnow()
        )
    assert len(notes(database)) == before
    assert not notes(database, "entry_approved")


def test_a_bulk_approval_tells_each_entry(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    first = today_entry(database, town, rulebook, "member")
    second = today_entry(database, town, rulebook, "member2")
    with database.transaction() as session:
        result = approve_entries(
            session, town.principal(database, "secretary"), rulebook, [first, second], now=utcnow()
        )
    assert len(result.approved) == 2
    told = sorted(n.account_id or 0 for n in notes(database, "entry_approved"))
    assert told == sorted([town.account_ids["member"], town.account_ids["member2"]])


# --- meetings -----------------------------------------------------------------------------


def test_a_whole_branch_meeting_is_broadcast_to_the_branch_and_its_robots(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    add_robots(database, town)
    secretary = town.principal(database, "secretary")
    with database.transaction() as session:
        meeting = schedule_meeting(session, secretary, rulebook, meeting_input(town), now=BEFORE)
        meeting_id = meeting.id
    [note] = notes(database)
    assert note.kind == "meeting_scheduled"
    assert note.audience == To.BRANCH and note.branch_id == town.jinwan
    assert note.link == f"/meetings/{meeting_id}"
    assert params(note) == {
        "meeting": "12月主题党日",
        "branch": "金湾工业园区联合党支部",
        "date": "2026-12-05",
        "time": "09:00",
        "place": "党员活动室",
    }
    robots = sorted(d.channel for d in deliveries(database) if d.webhook_id is not None)
    assert robots == [Channel.DINGTALK, Channel.WECOM]  # 金湾's two; not 宝元's, not the town's

    with database.transaction() as session:
        edit_meeting(
            session,
            secretary,
            rulebook,
            meeting_id,
            meeting_input(town, place="", online=True),
            now=BEFORE,
        )
    [changed] = notes(database, "meeting_changed")
    assert changed.audience == To.BRANCH and params(changed)["place"] == {"t": "online"}
    with database.transaction() as session:
        cancel_meeting(session, secretary, meeting_id, "书记外出学习 CANCELREASON", now=BEFORE)
    [cancelled] = notes(database, "meeting_cancelled")
    assert cancelled.audience == To.BRANCH
    # The cancellation's reason stays on the meeting's page.
    assert "CANCELREASON" not in cancelled.params


def test_a_meeting_of_a_few_members_tells_them_alone_and_no_robot(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    add_robots(database, town)
    chosen = (town.member_ids["member"], town.member_ids["member2"])
    with database.transaction() as session:
        schedule_meeting(
            session,
            town.principal(database, "secretary"),
            rulebook,
            meeting_input(town, audience=Audience.LIST, member_ids=chosen),
            now=BEFORE,
        )
    written = notes(database)
    assert {n.kind for n in written} == {"meeting_scheduled"}
    assert {n.audience for n in written} == {To.ACCOUNT}
    assert sorted(n.account_id or 0 for n in written) == sorted(
        [town.account_ids["member"], town.account_ids["member2"]]
    )
    assert [d for d in deliveries(database) if d.webhook_id is not None] == []


def test_a_leave_decision_tells_the_member(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    with database.transaction() as session:
        meeting = schedule_meeting(
            session, town.principal(database, "secretary"), rulebook, meeting_input(town),
            now=BEFORE,
        )  # fmt: skip
        meeting_id = meeting.id
    with database.transaction() as session:
        leave = request_leave(
            session, town.principal(database, "member"), meeting_id, "病假 LEAVEWHY", now=BEFORE
        )
        decide_leave(
            session,
            town.principal(database, "secretary"),
            leave.id,
            grant=False,
            reason="会议重要 DECLINEWHY",
            now=BEFORE,
        )
    [note] = notes(database, "leave_decided")
    assert note.account_id == town.account_ids["member"]
    assert params(note) == {
        "decision": {"t": "refused"},
        "meeting": "12月主题党日",
        "date": "2026-12-05",
    }
    assert "WHY" not in note.params


# --- publication ---------------------------------------------------------------------------


def _published_last_month(database: Database, town: SmallTown, rulebook: Rulebook) -> str:
    last_month = shift_period(period_of(town_today(utcnow(), TZ)), -1)
    with database.transaction() as session:
        publish_month(
            session,
            town.principal(database, "admin"),
            rulebook,
            last_month,
            now=utcnow(),
            confirm_empty=True,
        )
    return last_month


def test_a_published_board_is_told_to_the_town_and_every_robot(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    add_robots(database, town)
    period = _published_last_month(database, town, rulebook)
    [note] = notes(database, "board_published")
    assert note.audience == To.TOWN and note.account_id is None
    assert note.link == f"/boards/{period}"
    assert params(note)["period"] == period
    assert len(params(note)["until"]) == len("2026-12-15 10:00")
    robots = [d for d in deliveries(database) if d.webhook_id is not None]
    assert len(robots) == 4  # every branch's and the town's


def test_an_answered_objection_tells_the_objector_alone(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    period = _published_last_month(database, town, rulebook)
    with database.transaction() as session:
        objection_id = raise_objection(
            session,
            town.principal(database, "member2"),
            period,
            LineRef(member_id=town.member_ids["member"]),
            "张伟的分数不对 OBJECTIONTEXT",
            now=utcnow(),
        )
    with database.transaction() as session:
        resolve_objection(
            session,
            town.principal(database, "admin"),
            objection_id,
            "已核实，无误",
            "no_change",
            now=utcnow(),
        )
    [note] = notes(database, "objection_answered")
    assert note.audience == To.ACCOUNT and note.account_id == town.account_ids["member2"]
    assert params(note) == {"period": period, "answer": "已核实，无误"}
    assert "OBJECTIONTEXT" not in note.params


# --- warnings -----------------------------------------------------------------------------


def test_a_warning_case_and_its_talk_tell_the_member_without_the_notes(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    add_warning_cases(database, town, rulebook, talk_notes="TALKNOTE7Q")
    opened = notes(database, "warning_opened")
    assert {n.audience for n in opened} == {To.ACCOUNT}
    told = {n.account_id for n in opened}
    assert town.account_ids["member"] in told and town.account_ids["member3"] in told
    assert all(n.link.startswith("/warnings/") for n in opened)
    [talk] = notes(database, "warning_talk")  # on 李娜's case
    assert talk.account_id == town.account_ids["member2"]
    assert set(params(talk)) == {"date", "deadline"}
    assert "TALKNOTE7Q" not in talk.params and "志愿服务" not in talk.params
    # Mandatory and emailed by default: a delivery each, whatever the preferences.
    emails = [d for d in deliveries(database) if d.channel == Channel.EMAIL]
    assert len(emails) == len(opened)


# --- passwords ----------------------------------------------------------------------------


def test_a_changed_or_reset_password_tells_its_owner(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    limits = throttle.Limits(window=timedelta(minutes=15), per_account=5, per_address=50)
    with database.transaction() as session:
        change_password(
            session,
            town.account_ids["member"],
            PASSWORD,
            "a-new-long-passphrase-9",
            "a-new-long-passphrase-9",
            address="127.0.0.1",
            now=datetime(2026, 12, 8, 2, 30, tzinfo=UTC),
            limits=limits,
        )
    with database.transaction() as session:
        reset_password(
            session,
            town.principal(database, "admin"),
            town.account_ids["member3"],
            "another-initial-pass-7",
        )
    written = notes(database, "password_changed")
    assert [n.account_id for n in written] == [
        town.account_ids["member"],
        town.account_ids["member3"],
    ]
    assert params(written[0]) == {"username": "member", "date": "2026-12-08 10:30"}
    assert {d.channel for d in deliveries(database)} == {Channel.EMAIL}


# --- the demo town ------------------------------------------------------------------------


def test_the_demo_towns_history_sends_nothing_but_fills_the_inboxes(demo_town: Database) -> None:
    from service.notify import inbox
    from service.persistence.models import Account
    from service.persistence.notify import DeliveryStatus, NotifyPreference

    with demo_town.transaction(write=False) as session:
        statuses = {(d.status, d.last_error) for d in session.scalars(select(Delivery))}
        # The history wrote deliveries (someone chose email, someone the digest) ...
        assert statuses
        # ... and none of them will ever be sent.
        assert statuses == {(DeliveryStatus.SKIPPED, "demo history")}
        accounts = dict(session.execute(select(Account.username, Account.id)).all())
        emails = dict(
            session.execute(select(NotifySettings.account_id, NotifySettings.email)).all()
        )
        assert emails[accounts["member"]] == "member@example.org"
        assert all(email and email.endswith("@example.org") for email in emails.values())
        modes = {p.mode for p in session.scalars(select(NotifyPreference))}
        assert {"email", "digest"} <= {str(mode) for mode in modes}
        # The demo accounts open a non-empty inbox, their own news among it.
        last = session.scalar(select(func.max(Notification.created_at)))
        assert last is not None
        for username in ("member", "secretary", "admin"):
            page = inbox.inbox(session, accounts[username], now=last + timedelta(hours=1))
            assert page.items, username
        mine = inbox.inbox(session, accounts["member"], now=last + timedelta(hours=1))
        assert any(item.notification.account_id == accounts["member"] for item in mine.items)


def test_a_corrected_board_is_told_again_with_its_new_window(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    from service.publication.corrections import open_correction, publish_correction

    period = _published_last_month(database, town, rulebook)
    admin = town.principal(database, "admin")
    later = utcnow() + timedelta(days=2)
    with database.transaction() as session:
        open_correction(session, admin, period, "漏计一条志愿服务", now=later)
    with database.transaction() as session:
        publish_correction(session, admin, rulebook, period, now=later)
    first, second = notes(database, "board_published")
    assert params(first)["period"] == params(second)["period"] == period
    assert params(second)["until"] > params(first)["until"]
    assert second.audience == To.TOWN
