"""One ordinary day of the demo town, played through the services, and what it tells
whom: notifications per kind and audience, deliveries per kind, channel and status.

    .venv/bin/python scripts/notify_day.py
        loads a fresh demo town (up to today) into a SQLite file of its own, plays the
        day, prints the tables and the file's address (for ``jifen notify run``);
    .venv/bin/python scripts/notify_day.py --database URL
        plays the day on a database that already holds the demo town (it is changed);
    --wecom URL / --dingtalk URL [--dingtalk-secret S]
        group robots for 金湾 and the town office first, so their posts are counted
        (and a local receiver can take them).

The day: the reviewers of a few branches decide their pending entries (about one in
six rejected, with a reason), 金湾's secretary schedules a branch meeting and a party
group's meeting, a leave request is decided, an objection answered, a talk recorded in
a warning case, a month published if one is ready, and the reminder sweeps run three
times (the timer's passes: each reminder is written once).
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal, load_principal
from service.assessment.warnings import record_talk
from service.database import open_database
from service.entries.review import approve_entry, reject_entry
from service.kernel.config import Settings
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.periods import period_of, shift_period, town_today
from service.ledger.adoption import load_rulebook
from service.meetings.leave import decide_leave, request_leave
from service.meetings.schedule import MeetingInput, schedule_meeting
from service.persistence.assessment import CaseStatus, WarningCase
from service.persistence.db import Database
from service.persistence.meetings import (
    Audience,
    LeaveStatus,
    Meeting,
    MeetingLeave,
    MeetingStatus,
    PartyGroup,
)
from service.persistence.migrate import upgrade
from service.persistence.models import (
    Account,
    Branch,
    Entry,
    EntryStatus,
    Objection,
    ObjectionStatus,
    Publication,
    PublicationKind,
    RoleGrant,
)
from service.persistence.notify import (
    Delivery,
    Notification,
    RobotService,
    RobotWebhook,
)
from service.persistence.types import utcnow
from service.publication.objections import LineRef, raise_objection, resolve_objection
from service.publication.publish import publish_month
from service.reminders.sweeps import ready_to_publish, sweep_all
from service.scoring.rules import Rulebook

BRANCHES = 3  # how many branches' queues are decided
PER_BRANCH = 25  # at most this many entries each
REJECT_EVERY = 6
REASONS = (
    "照片看不清活动内容,请补充清晰的现场照片后重新申报。",
    "该活动已由支部统一登记,请勿重复申报。",
    "时长与签到记录不符,请核实后重新申报。",
)


class Day:
    def __init__(self, database: Database, settings: Settings, rulebook: Rulebook) -> None:
        self.database = database
        self.settings = settings
        self.rulebook = rulebook
        self.clock = utcnow()
        self.today = town_today(self.clock, settings.timezone)
        self.log: list[str] = []
        self.starts: list[datetime] = []  # the day's meetings, for the "soon" sweep

    def tick(self, minutes: int = 7) -> datetime:
        self.clock += timedelta(minutes=minutes)
        return self.clock

    def principal(self, session: Session, username: str) -> Principal | None:
        account_id = session.scalar(select(Account.id).where(Account.username == username))
        return load_principal(session, account_id) if account_id is not None else None

    def act(self, what: str, step: Callable[[Session], Any]) -> bool:
        """One request's transaction; a refusal is reported, not fatal."""
        try:
            with self.database.transaction() as session:
                step(session)
        except (Conflict, InvalidInput, NotFound, PermissionDenied) as exc:
            self.log.append(f"  refused: {what}: {type(exc).__name__}")
            return False
        return True

    # --- the day -------------------------------------------------------------------------

    def robots(self, wecom: str | None, dingtalk: str | None, secret: str) -> None:
        with self.database.transaction() as session:
            jinwan = session.scalar(select(Branch.id).where(Branch.name.like("金湾%")))
            for branch_id in (jinwan, None):
                if wecom:
                    session.add(
                        RobotWebhook(branch_id=branch_id, service=RobotService.WECOM, url=wecom)
                    )
                if dingtalk:
                    session.add(
                        RobotWebhook(
                            branch_id=branch_id,
                            service=RobotService.DINGTALK,
                            url=dingtalk,
                            secret=secret,
                        )
                    )

    def reviewers(self, session: Session) -> list[tuple[int, str]]:
        """(branch, reviewer's username) for the branches with the most pending entries,
        the demo reviewers' own first: a secretary, else an instructor, else the office."""
        pending = dict(
            session.execute(
                select(Entry.branch_id, func.count(Entry.id))
                .where(Entry.status == EntryStatus.PENDING)
                .group_by(Entry.branch_id)
            ).all()
        )
        by_role: dict[int, str] = {}
        for branch_id, role, username in session.execute(
            select(RoleGrant.branch_id, RoleGrant.role, Account.username)
            .join(Account, Account.id == RoleGrant.account_id)
            .where(RoleGrant.branch_id.is_not(None))
            .order_by(RoleGrant.role.desc())  # "secretary" before "instructor"
        ):
            if branch_id in pending and (branch_id not in by_role or role == "secretary"):
                by_role[branch_id] = username
        ordered = sorted(pending, key=lambda b: (b not in by_role, -pending[b], b))
        return [(b, by_role.get(b, "admin")) for b in ordered[:BRANCHES]]

    def review(self) -> None:
        with self.database.transaction(write=False) as session:
            plan = self.reviewers(session)
        decided = 0
        for branch_id, username in plan:
            with self.database.transaction(write=False) as session:
                rows = session.execute(
                    select(Entry.id, Account.id)
                    .outerjoin(Account, Account.member_id == Entry.member_id)
                    .where(Entry.branch_id == branch_id, Entry.status == EntryStatus.PENDING)
                    .order_by(Entry.submitted_at, Entry.id)
                    .limit(PER_BRANCH)
                ).all()
            told_rejection = False
            for index, (entry_id, account_id) in enumerate(rows):
                reject = index % REJECT_EVERY == REJECT_EVERY - 1
                if account_id is not None and not told_rejection:
                    # A demo account's member has one entry rejected: its message is seen.
                    reject = told_rejection = True
                # Their own entries go to someone else: the office.
                if self.decide(entry_id, username, reject) or self.decide(
                    entry_id, "admin", reject
                ):
                    decided += 1
        self.log.append(f"decided {decided} entries in {len(plan)} branches")

    def decide(self, entry_id: int, username: str, reject: bool) -> bool:
        now = self.tick(2)

        def step(session: Session) -> None:
            actor = self.principal(session, username)
            assert actor is not None
            if reject:
                reason = REASONS[entry_id % len(REASONS)]
                reject_entry(session, actor, entry_id, reason, now=now, rulebook=self.rulebook)
            else:
                approve_entry(session, actor, self.rulebook, entry_id, now=now)

        return self.act(f"decide entry {entry_id} as {username}", step)

    def meetings(self) -> int | None:
        with self.database.transaction(write=False) as session:
            jinwan = session.scalar(select(Branch.id).where(Branch.name.like("金湾%")))
            group = session.scalar(
                select(PartyGroup.id).where(PartyGroup.branch_id == jinwan).limit(1)
            )
        if jinwan is None:
            return None
        ruleset = self.rulebook.in_force(self.today + timedelta(days=1))
        kinds = [str(k) for k in (ruleset.meeting_types() if ruleset else ())]
        kind = "congress" if "congress" in kinds else (kinds[0] if kinds else "theme_day")
        made: list[int] = []
        plans: list[tuple[str, Audience, int | None, time]] = [
            ("支部党员大会:学习贯彻全会精神", Audience.BRANCH, None, time(19, 30)),
        ]
        if group is not None:
            plans.append(("党小组会:交流学习体会", Audience.GROUP, group, time(20, 0)))
        # This evening if there is time to tell everyone, else tomorrow.
        local = self.clock.astimezone(ZoneInfo(self.settings.timezone))
        day = self.today if local.hour < 16 else self.today + timedelta(days=1)
        for title, audience, group_id, start in plans:
            now = self.tick()
            data = MeetingInput(
                branch_id=jinwan,
                kind="group" if audience is Audience.GROUP and "group" in kinds else kind,
                title=title,
                day=day,
                start=start,
                end=time(start.hour + 1, start.minute),
                place="园区党群服务中心",
                agenda="一、传达学习;二、讨论;三、党员积分情况通报",
                audience=audience,
                party_group_id=group_id,
            )

            def schedule(session: Session, data: MeetingInput = data, now: datetime = now) -> None:
                actor = self.principal(session, "secretary") or self.principal(session, "admin")
                assert actor is not None
                meeting = schedule_meeting(session, actor, self.rulebook, data, now=now)
                made.append(meeting.id)
                self.starts.append(meeting.starts_at)

            self.act(f"schedule {title}", schedule)
        starts = ", ".join(
            m.astimezone(ZoneInfo(self.settings.timezone)).strftime("%m-%d %H:%M")
            for m in self.starts
        )
        self.log.append(f"scheduled {len(made)} meetings ({starts})")
        return made[0] if made else None

    def leave(self, meeting_id: int | None) -> None:
        """The demo member asks for leave from the branch meeting and is answered (a
        member with an account hears it); else a pending request of the town."""
        now = self.tick()
        leave_id: int | None = None
        if meeting_id is not None:
            asked: list[int] = []

            def ask(session: Session) -> None:
                member = self.principal(session, "member")
                assert member is not None
                asked.append(request_leave(session, member, meeting_id, "当晚上夜班", now=now).id)

            self.act("ask for leave", ask)
            leave_id = asked[0] if asked else None
        if leave_id is None:
            with self.database.transaction(write=False) as session:
                leave_id = session.scalar(
                    select(MeetingLeave.id)
                    .join(Meeting, Meeting.id == MeetingLeave.meeting_id)
                    .where(
                        MeetingLeave.status == LeaveStatus.PENDING,
                        Meeting.status == MeetingStatus.SCHEDULED,
                    )
                    .order_by(Meeting.starts_at)
                    .limit(1)
                )
        if leave_id is None:
            return

        def decide(session: Session) -> None:
            for who in ("secretary", "admin"):
                actor = self.principal(session, who)
                assert actor is not None
                try:
                    with session.begin_nested():
                        decide_leave(
                            session, actor, leave_id, grant=True, reason="", now=self.tick()
                        )
                    return
                except (PermissionDenied, NotFound):
                    continue

        if self.act("decide a leave request", decide):
            self.log.append("decided a leave request")

    def objection(self) -> None:
        with self.database.transaction(write=False) as session:
            objection_id = session.scalar(
                select(Objection.id)
                .where(Objection.status == ObjectionStatus.OPEN)
                .order_by(Objection.id)
                .limit(1)
            )
            latest = session.scalar(
                select(Publication)
                .where(Publication.kind == PublicationKind.MONTH)
                .order_by(Publication.published_at.desc())
                .limit(1)
            )
        if objection_id is None and latest is not None:
            made: list[int] = []

            def object_(session: Session) -> None:
                member = self.principal(session, "member")
                assert member is not None and member.member_id is not None
                made.append(
                    raise_objection(
                        session,
                        member,
                        latest.period,
                        LineRef(member_id=member.member_id),
                        "我10月参加的两次志愿服务没有计入,请核实。",
                        now=self.tick(),
                    )
                )

            self.act("raise an objection", object_)
            objection_id = made[0] if made else None
        if objection_id is None:
            return

        def answer(session: Session) -> None:
            admin = self.principal(session, "admin")
            assert admin is not None
            resolve_objection(
                session,
                admin,
                objection_id,
                "经核实,相关申报已按细则计分,公示无误。",
                "no_change",
                now=self.tick(),
            )

        if self.act("answer an objection", answer):
            self.log.append("answered an objection")

    def talk(self) -> None:
        with self.database.transaction(write=False) as session:
            # A case of a member with an account first: the talk's message is seen.
            case_id = session.scalar(
                select(WarningCase.id)
                .outerjoin(Account, Account.member_id == WarningCase.member_id)
                .where(WarningCase.status == CaseStatus.OPEN)
                .order_by(Account.id.is_(None), WarningCase.id)
                .limit(1)
            )
        if case_id is None:
            return

        def record(session: Session) -> None:
            admin = self.principal(session, "admin")
            assert admin is not None
            record_talk(
                session,
                admin,
                case_id,
                talked_on=self.today.isoformat(),
                talked_by="镇党委组织委员",
                notes="谈心谈话记录(仅存档)",
                actions="每月至少参加一次组织生活",
                deadline="",
                today=self.today,
                now=self.tick(),
            )

        if self.act("record a talk", record):
            self.log.append("recorded a warning talk")

    def publish(self) -> None:
        current = period_of(self.today)
        for back in (3, 2, 1):
            period = shift_period(current, -back)
            with self.database.transaction(write=False) as session:
                ready = ready_to_publish(session, period)
            if not ready:
                continue

            def publish(session: Session, period: str = period) -> None:
                admin = self.principal(session, "admin")
                assert admin is not None
                publish_month(session, admin, self.rulebook, period, now=self.tick())

            if self.act(f"publish {period}", publish):
                self.log.append(f"published {period}")

    def morning_sweep(self) -> None:
        """The timer's first pass of the day: the reviewers hear what waits."""
        with self.database.transaction() as session:
            written = sweep_all(session, self.settings, self.tick(1))
        self.log.append(f"the morning sweep wrote {written} reminders")

    def sweeps(self) -> None:
        """The timer's later passes: two now, then one before the first meeting starts."""
        moments = [self.tick(5), self.tick(5)]
        if self.starts and min(self.starts) - timedelta(minutes=90) > self.clock:
            moments.append(min(self.starts) - timedelta(minutes=90))
        written = 0
        for moment in moments:
            with self.database.transaction() as session:
                written += sweep_all(session, self.settings, moment)
        self.log.append(f"{len(moments)} sweep passes wrote {written} reminders")


def tables(database: Database, after: int) -> str:
    with database.transaction(write=False) as session:
        notes = Counter(
            (kind, str(audience))
            for kind, audience in session.execute(
                select(Notification.kind, Notification.audience).where(Notification.id > after)
            )
        )
        sent = Counter(
            (kind, str(channel), str(status))
            for kind, channel, status in session.execute(
                select(Notification.kind, Delivery.channel, Delivery.status)
                .join(Notification, Notification.id == Delivery.notification_id)
                .where(Notification.id > after)
            )
        )
    lines = ["", "Notifications written today", f"{'kind':<22}{'audience':<10}{'count':>6}"]
    lines += [f"{k:<22}{a:<10}{n:>6}" for (k, a), n in sorted(notes.items())]
    lines.append(f"{'total':<32}{sum(notes.values()):>6}")
    lines += [
        "",
        "Deliveries (the outbox)",
        f"{'kind':<22}{'channel':<10}{'status':<9}{'count':>6}",
    ]
    lines += [f"{k:<22}{c:<10}{s:<9}{n:>6}" for (k, c, s), n in sorted(sent.items())]
    lines.append(f"{'total':<41}{sum(sent.values()):>6}")
    return "\n".join(lines)


def fresh_demo(settings: Settings, rulebook: Rulebook) -> tuple[Database, str]:
    from service.ops.seed.load import load_demo_town

    path = Path(tempfile.mkdtemp(prefix="jifen-day-")) / "demo.sqlite3"
    url = f"sqlite:///{path}"
    database = open_database(url)
    upgrade(database.engine)
    today: date = town_today(utcnow(), settings.timezone)
    with database.transaction() as session:
        load_demo_town(
            session, rulebook, settings.seeds_dir, until=today, env="development", now=utcnow()
        )
    return database, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="a database holding the demo town (changed)")
    parser.add_argument("--wecom", help="a 企业微信 robot webhook for 金湾 and the town")
    parser.add_argument("--dingtalk", help="a 钉钉 robot webhook for 金湾 and the town")
    parser.add_argument("--dingtalk-secret", default="", help="its signing secret")
    args = parser.parse_args()
    settings = Settings()
    if args.database:
        database, url = open_database(args.database), args.database
    else:
        print("loading a fresh demo town ...", flush=True)
        database, url = fresh_demo(settings, Rulebook.from_directory(settings.rules_dir))
    with database.transaction(write=False) as session:
        rulebook = load_rulebook(session, settings.rules_dir)
    day = Day(database, settings, rulebook)
    if args.wecom or args.dingtalk:
        day.robots(args.wecom, args.dingtalk, args.dingtalk_secret)
    with database.transaction(write=False) as session:
        after = int(session.scalar(select(func.max(Notification.id))) or 0)
    day.morning_sweep()
    day.review()
    meeting_id = day.meetings()
    day.leave(meeting_id)
    day.objection()
    day.talk()
    day.publish()
    day.sweeps()
    print("\n".join(day.log))
    print(tables(database, after))
    print(f"\ndatabase: {url}\nsend it: JIFEN_DATABASE_URL={url} .venv/bin/jifen notify run")
    database.dispose()


if __name__ == "__main__":
    main()
