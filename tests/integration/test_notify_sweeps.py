"""The reminder sweeps: each reminder is written once however many passes run (dedupe
keys), to the right people, and nothing at all for empty queues."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.config import Settings
from service.kernel.periods import period_of, shift_period, town_today
from service.meetings.schedule import schedule_meeting
from service.persistence.db import Database
from service.persistence.meetings import Audience
from service.persistence.notify import Audience as To
from service.persistence.notify import Delivery, Notification, RobotService, RobotWebhook
from service.persistence.types import utcnow
from service.publication.objections import LineRef, raise_objection
from service.publication.publish import publish_month
from service.publication.state import first_day
from service.reminders.sweeps import last_day_of_month, sweep_all
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown
from tests.integration.meetings_support import meeting_input

TZ = "Asia/Shanghai"
SETTINGS = Settings(env="test")
# A quiet moment: mid-month (no declaration reminder), nothing pending in the small town.
MID_MONTH = datetime(2026, 12, 10, 2, 0, tzinfo=UTC)


def notes(database: Database, kind: str | None = None) -> list[Notification]:
    with database.transaction(write=False) as session:
        query = select(Notification).order_by(Notification.id)
        if kind is not None:
            query = query.where(Notification.kind == kind)
        return list(session.scalars(query))


def sweep(database: Database, now: datetime) -> int:
    with database.transaction() as session:
        return sweep_all(session, SETTINGS, now)


def submit(
    database: Database, town: SmallTown, rulebook: Rulebook, who: str, day: date | None = None
) -> int:
    today = town_today(utcnow(), TZ)
    with database.transaction() as session:
        return submit_entry(
            session,
            town.principal(database, who),
            rulebook,
            EntryInput("volunteer", day or today, Decimal(1), "打扫小区"),
            today=day or today,
            now=utcnow(),
        )


def test_empty_queues_remind_nobody(database: Database, town: SmallTown) -> None:
    assert sweep(database, MID_MONTH) == 0
    assert sweep(database, utcnow().replace(day=10)) == 0
    assert notes(database) == []


def test_reviewers_hear_of_waiting_entries_once_a_day(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    submit(database, town, rulebook, "member")
    submit(database, town, rulebook, "member2")
    submit(database, town, rulebook, "secretary")  # the instructor's to decide, not his
    now = utcnow()
    first = sweep(database, now)
    assert sweep(database, now + timedelta(minutes=5)) == 0  # the next pass of the timer
    waiting = notes(database, "review_waiting")
    assert first == len(waiting) == 2
    counts = {n.account_id: json.loads(n.params)["count"] for n in waiting}
    assert counts == {town.account_ids["secretary"]: 2, town.account_ids["instructor"]: 3}
    assert all(n.link == "/review" and n.audience == To.ACCOUNT for n in waiting)
    oldest = json.loads(waiting[0].params)["oldest"]
    assert oldest == town_today(utcnow(), TZ).isoformat()
    # 宝元 has nothing waiting: its secretary hears nothing.
    assert town.account_ids["secretary2"] not in counts
    # The next town-local day, the reminder comes again.
    assert sweep(database, now + timedelta(days=1)) == 2


def test_a_meeting_soon_is_told_once_to_its_audience(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    with database.transaction() as session:
        session.add(
            RobotWebhook(branch_id=town.jinwan, service=RobotService.WECOM, url="https://w")
        )
    secretary = town.principal(database, "secretary")
    with database.transaction() as session:
        whole = schedule_meeting(session, secretary, rulebook, meeting_input(town), now=MID_MONTH)
        few = schedule_meeting(
            session,
            secretary,
            rulebook,
            meeting_input(
                town,
                title="党小组会",
                audience=Audience.LIST,
                member_ids=(town.member_ids["member"],),
            ),
            now=MID_MONTH,
        )
        starts = whole.starts_at
        assert few.starts_at == starts
    # Three hours before: not yet. Ninety minutes before: now, and once.
    assert sweep(database, starts - timedelta(hours=3)) == 0
    assert sweep(database, starts - timedelta(minutes=90)) == 2
    assert sweep(database, starts - timedelta(minutes=80)) == 0
    soon = notes(database, "meeting_soon")
    assert sorted((n.audience, n.account_id) for n in soon) == sorted(
        [(To.BRANCH, None), (To.ACCOUNT, town.account_ids["member"])]
    )
    with database.transaction(write=False) as session:
        robots = session.scalars(select(Delivery).where(Delivery.webhook_id.is_not(None))).all()
    # The whole-branch meeting's posts: scheduled and soon; the list's none.
    assert len(robots) == 2
    # Started: never again.
    assert sweep(database, starts + timedelta(minutes=1)) == 0


def test_the_office_hears_a_month_is_ready_once(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    now = utcnow()
    last_month = shift_period(period_of(town_today(now, TZ)), -1)
    day = first_day(last_month) + timedelta(days=4)
    pending = submit(database, town, rulebook, "member", day)
    # Pending: not ready.
    sweep(database, now)
    assert notes(database, "publish_ready") == []
    with database.transaction() as session:
        approve_entry(session, town.principal(database, "secretary"), rulebook, pending, now=now)
    sweep(database, now)
    sweep(database, now + timedelta(days=1))
    [ready] = notes(database, "publish_ready")
    assert ready.account_id == town.account_ids["admin"]
    assert json.loads(ready.params) == {"period": last_month}
    with database.transaction() as session:
        publish_month(session, town.principal(database, "admin"), rulebook, last_month, now=now)
    sweep(database, now + timedelta(days=2))
    assert len(notes(database, "publish_ready")) == 1


def test_the_office_hears_of_open_objections_once_a_day(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    now = utcnow()
    last_month = shift_period(period_of(town_today(now, TZ)), -1)
    with database.transaction() as session:
        publish_month(
            session, town.principal(database, "admin"), rulebook, last_month, now=now,
            confirm_empty=True,
        )  # fmt: skip
        raise_objection(
            session,
            town.principal(database, "member2"),
            last_month,
            LineRef(member_id=town.member_ids["member"]),
            "分数不对",
            now=now,
        )
    sweep(database, now)
    sweep(database, now + timedelta(minutes=10))
    [told] = notes(database, "objections_open")
    assert told.account_id == town.account_ids["admin"]
    assert json.loads(told.params) == {"count": 1}
    sweep(database, now + timedelta(days=1))
    assert len(notes(database, "objections_open")) == 2


def test_the_town_is_reminded_to_declare_once_in_the_months_last_days(
    database: Database, town: SmallTown
) -> None:
    with database.transaction() as session:
        session.add(RobotWebhook(branch_id=None, service=RobotService.WECOM, url="https://w"))
        session.add(
            RobotWebhook(branch_id=town.baoyuan, service=RobotService.WECOM, url="https://b")
        )
    assert last_day_of_month(date(2026, 2, 3)) == date(2026, 2, 28)
    assert last_day_of_month(date(2026, 12, 31)) == date(2026, 12, 31)
    # 28 December, Shanghai: four days left, too early.
    assert sweep(database, datetime(2026, 12, 28, 2, 0, tzinfo=UTC)) == 0
    assert sweep(database, datetime(2026, 12, 29, 2, 0, tzinfo=UTC)) == 1
    assert sweep(database, datetime(2026, 12, 31, 15, 0, tzinfo=UTC)) == 0  # 23:00 on the 31st
    [note] = notes(database, "declare_reminder")
    assert note.audience == To.TOWN
    assert json.loads(note.params) == {"period": "2026-12", "deadline": "2026-12-31"}
    with database.transaction(write=False) as session:
        robots = session.scalars(select(Delivery).where(Delivery.webhook_id.is_not(None))).all()
    assert len(robots) == 2
    # January's comes in January's last days.
    assert sweep(database, datetime(2027, 1, 29, 2, 0, tzinfo=UTC)) == 1


@pytest.mark.commits
def test_passes_at_the_same_moment_write_each_reminder_once(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    """Several senders' passes sweep at once: none fails on the dedupe key's unique
    index, and each reminder is written once."""
    submit(database, town, rulebook, "member")
    now = utcnow()
    passes = 4
    start = threading.Barrier(passes, timeout=60)
    errors: list[BaseException] = []
    written: list[int] = []

    def one_pass() -> None:
        try:
            start.wait()
            with database.transaction() as session:
                written.append(sweep_all(session, SETTINGS, now))
        except BaseException as exc:  # reported below, with the others'
            errors.append(exc)

    threads = [threading.Thread(target=one_pass) for _ in range(passes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sum(written) == 2
    assert len(notes(database, "review_waiting")) == 2
