"""Nothing private reaches a group, on any channel (the results privacy test's idea,
extended to notifications): every producer is driven with a marker in each private
text (a rejection reason, a leave's reasons, a cancellation's reason, a meeting's
agenda, a talk's notes and agreed actions, a member's response, a case's outcome, an
objection and its answer), the sweeps run, and then

- no broadcast (a branch's or the town's) holds a marker, in its parameters or its
  words rendered in English and Chinese, and none is of a private kind;
- no group-robot delivery carries one;
- no private kind is ever addressed to anything but one account;
- the inbox of a member of another branch shows none;
- texts the notifications never carry appear in no notification at all.

A positive control makes the test able to fail: the member rejected reads the
rejection's reason in their inbox, and the objector reads the office's answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from service.accounts.admin import reset_password
from service.assessment.warnings import close_case, record_talk, respond
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry, reject_entry
from service.kernel.config import Settings
from service.kernel.i18n import catalog
from service.kernel.periods import period_of, shift_period, town_today
from service.meetings.leave import decide_leave, request_leave
from service.meetings.schedule import (
    MeetingInput,
    cancel_meeting,
    edit_meeting,
    schedule_meeting,
)
from service.notify import inbox
from service.outbox.kinds import KINDS, render
from service.persistence.db import Database
from service.persistence.meetings import Audience as Expected
from service.persistence.notify import Audience, Delivery, Notification, RobotService, RobotWebhook
from service.persistence.types import utcnow
from service.publication.objections import LineRef, raise_objection, resolve_objection
from service.publication.publish import publish_month
from service.reminders.sweeps import sweep_all
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown
from tests.functional.warning_world import add_warning_cases

TZ = "Asia/Shanghai"

# Marker -> the accounts whose own notifications may carry it (empty: none may).
MARKERS: dict[str, frozenset[str]] = {
    "REJECTMARK7Q": frozenset({"member"}),  # 张伟's rejection reason
    "ANSWERMARK7Q": frozenset({"member2"}),  # the office's answer to 李娜's objection
    "OBJECTMARK7Q": frozenset(),  # 李娜's objection (about 张伟's line)
    "LEAVEMARK7Q": frozenset(),  # 张伟's reason for leave
    "DECLINEMARK7Q": frozenset(),  # why it was declined
    "CANCELMARK7Q": frozenset(),  # why a meeting was cancelled
    "AGENDAMARK7Q": frozenset(),  # a meeting's agenda
    "TALKNOTE7Q": frozenset(),  # a talk's notes, for the file
    "AGREEDACT7Q": frozenset(),  # its agreed actions
    "RESPONSE7Q": frozenset(),  # the member's response to the case
    "OUTCOME7Q": frozenset(),  # the note closing a case
}
OUTSIDERS = ("member3", "secretary2")  # 宝元's: none of 金湾's private matters


def _texts(note: Notification) -> list[str]:
    """A notification as every channel would carry it: its stored parameters and its
    words in each language."""
    texts = [note.params]
    for rendered in (
        render(note.kind, note.params),
        render(note.kind, note.params, catalog("zh_CN").gettext),
    ):
        texts += [rendered.title, rendered.body, rendered.action]
    return texts


def _markers_in(texts: list[str]) -> set[str]:
    return {marker for marker in MARKERS for text in texts if marker in text}


def _meeting(town: SmallTown, day_offset: int, **changes: object) -> MeetingInput:
    day = town_today(utcnow(), TZ) + timedelta(days=day_offset)
    values: dict[str, object] = {
        "branch_id": town.jinwan,
        "kind": "theme_day",
        "title": "主题党日",
        "day": day,
        "start": time(19, 0),
        "end": time(21, 0),
        "place": "党员活动室",
        "agenda": "AGENDAMARK7Q",
    }
    values.update(changes)
    return MeetingInput(**values)  # type: ignore[arg-type]


def _drive_every_producer(database: Database, town: SmallTown, rulebook: Rulebook) -> datetime:
    """Returns when the first meeting starts (for the sweeps)."""
    now = utcnow()
    today = town_today(now, TZ)
    member, member2 = (town.principal(database, n) for n in ("member", "member2"))
    secretary, admin = town.principal(database, "secretary"), town.principal(database, "admin")
    with database.transaction() as session:
        for branch_id in (town.jinwan, town.baoyuan, None):
            for service in RobotService:
                session.add(
                    RobotWebhook(branch_id=branch_id, service=service, url=f"https://r/{service}")
                )

    # Entries: one rejected with a reason, one approved.
    with database.transaction() as session:
        rejected = submit_entry(
            session, member, rulebook, EntryInput("volunteer", today, Decimal(1), "扫雪"),
            today=today, now=now,
        )  # fmt: skip
        approved = submit_entry(
            session, member2, rulebook, EntryInput("volunteer", today, Decimal(1), "扫雪"),
            today=today, now=now,
        )  # fmt: skip
        submit_entry(
            session, member, rulebook, EntryInput("volunteer", today, Decimal(1), "还在等"),
            today=today, now=now,
        )  # fmt: skip
    with database.transaction() as session:
        reject_entry(session, secretary, rejected, "REJECTMARK7Q", now=now, rulebook=rulebook)
        approve_entry(session, secretary, rulebook, approved, now=now)

    # Meetings: a whole-branch one (edited, leave declined), a list one, a cancelled one.
    with database.transaction() as session:
        whole = schedule_meeting(session, secretary, rulebook, _meeting(town, 1), now=now)
        few = schedule_meeting(
            session, secretary, rulebook,
            _meeting(town, 1, audience=Expected.LIST, member_ids=(town.member_ids["member"],)),
            now=now,
        )  # fmt: skip
        gone = schedule_meeting(session, secretary, rulebook, _meeting(town, 2), now=now)
        whole_id, few_id, gone_id, starts = whole.id, few.id, gone.id, whole.starts_at
    with database.transaction() as session:
        edit_meeting(
            session, secretary, rulebook, whole_id, _meeting(town, 1, place="礼堂"), now=now
        )
        edit_meeting(
            session, secretary, rulebook, few_id,
            _meeting(town, 1, audience=Expected.LIST, member_ids=(town.member_ids["member"],),
                     place="小会议室"),
            now=now,
        )  # fmt: skip
        cancel_meeting(session, secretary, gone_id, "CANCELMARK7Q", now=now, rulebook=rulebook)
    with database.transaction() as session:
        leave = request_leave(session, member, whole_id, "LEAVEMARK7Q", now=now)
        decide_leave(session, secretary, leave.id, grant=False, reason="DECLINEMARK7Q", now=now)

    # Warning cases: opened by banding, a talk, a response, a closing.
    cases = add_warning_cases(database, town, rulebook, talk_notes="TALKNOTE7Q")
    with database.transaction() as session:
        record_talk(
            session, secretary, cases["case_member"], talked_on=today.isoformat(),
            talked_by="王书记", notes="TALKNOTE7Q", actions="AGREEDACT7Q", deadline="",
            today=today, now=now,
        )  # fmt: skip
    with database.transaction() as session:
        respond(session, member, cases["case_member"], text="RESPONSE7Q", now=now)
    with database.transaction() as session:
        close_case(
            session, secretary, cases["case_member2"], outcome="improved", note="OUTCOME7Q",
            now=now,
        )  # fmt: skip

    # A published board, an objection about 张伟's line, its answer.
    last_month = shift_period(period_of(today), -1)
    with database.transaction() as session:
        publish_month(session, admin, rulebook, last_month, now=now, confirm_empty=True)
    with database.transaction() as session:
        objection = raise_objection(
            session, member2, last_month, LineRef(member_id=town.member_ids["member"]),
            "OBJECTMARK7Q", now=now,
        )  # fmt: skip
    with database.transaction() as session:
        resolve_objection(session, admin, objection, "ANSWERMARK7Q", "no_change", now=now)
    with database.transaction() as session:  # one left open, for the office's reminder
        raise_objection(
            session, town.principal(database, "member3"), last_month,
            LineRef(branch_id=town.jinwan), "OBJECTMARK7Q", now=now,
        )  # fmt: skip

    # A password reset, and the sweeps (before the meetings start: "soon" too).
    with database.transaction() as session:
        reset_password(session, admin, town.account_ids["member3"], "a-fresh-initial-pass-3")
    settings = Settings(env="test")
    for moment in (now, starts - timedelta(hours=1), datetime(2026, 12, 30, 2, 0, tzinfo=UTC)):
        with database.transaction() as session:
            sweep_all(session, settings, moment)
    return starts


def test_nothing_private_reaches_a_group_or_an_outsider(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    starts = _drive_every_producer(database, town, rulebook)
    reader_now = max(utcnow(), starts) + timedelta(minutes=1)
    with database.transaction(write=False) as session:
        everything = list(session.scalars(select(Notification).order_by(Notification.id)))
        robots = list(session.scalars(select(Delivery).where(Delivery.webhook_id.is_not(None))))
        by_id = {note.id: note for note in everything}
        kinds = {note.kind for note in everything}
        # Every producer ran (the test is only as good as its coverage).
        assert kinds >= {
            "entry_approved", "entry_rejected", "leave_decided", "meeting_scheduled",
            "meeting_changed", "meeting_cancelled", "meeting_soon", "board_published",
            "objection_answered", "warning_opened", "warning_talk", "review_waiting",
            "objections_open", "declare_reminder", "password_changed",
        }  # fmt: skip

        broadcasts = [n for n in everything if n.audience != Audience.ACCOUNT]
        assert broadcasts
        for note in broadcasts:
            assert KINDS[note.kind].group, note.kind
            assert _markers_in(_texts(note)) == set(), (note.kind, note.params)
        for note in everything:
            if not KINDS[note.kind].group:
                assert note.audience == Audience.ACCOUNT and note.account_id is not None

        assert robots
        for delivery in robots:
            assert delivery.notification_id is not None
            note = by_id[delivery.notification_id]
            assert note.audience != Audience.ACCOUNT
            assert _markers_in(_texts(note)) == set(), (note.kind, note.params)

        # What no notification carries at all.
        never = {marker for marker, allowed in MARKERS.items() if not allowed}
        for note in everything:
            assert _markers_in([note.params]) & never == set(), (note.kind, note.params)

        # Each marker a notification does carry is in its allowed readers' own rows only.
        allowed_ids = {
            marker: {town.account_ids[name] for name in names} for marker, names in MARKERS.items()
        }
        for note in everything:
            for marker in _markers_in([note.params]):
                assert note.account_id in allowed_ids[marker], (marker, note.kind)

        for outsider in OUTSIDERS:
            page = inbox.inbox(session, town.account_ids[outsider], now=reader_now)
            assert page.items, outsider  # they do hear the town's and their own news
            seen = [text for item in page.items for text in _texts(item.notification)]
            assert _markers_in(seen) == set(), outsider

        # Positive control: the allowed readers find their markers.
        for name, marker in (("member", "REJECTMARK7Q"), ("member2", "ANSWERMARK7Q")):
            page = inbox.inbox(session, town.account_ids[name], now=reader_now)
            seen = [text for item in page.items for text in _texts(item.notification)]
            assert marker in _markers_in(seen), name
