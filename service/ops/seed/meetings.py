"""The demo town's organisational life (组织生活): party groups, and each branch's
meetings from the start of the year to ``until``.

Meetings on days when no ruleset scores attendance bring no points: they are written in
bulk, closed with minutes and the attendance as it stood (most attended, some on
granted leave, a few absent, a few made up at a make-up session), so the yearly
requirement has a year to count. A meeting on a day when attendance is scored writes
points when it is closed; the branches the demo accounts see hold theirs through the
meeting services (schedule, leave, tick or check-in, close), so ``ledger verify`` finds
their lines where the services put them. To keep the load quick, the other branches'
scored meetings of the current month fall on days still to come (scheduled, in bulk).
The demo secretary's branch has a meeting open for check-in at ``now`` and one a week
later.

A few branches fall behind: they skip some of the year's meetings. The draws use a
random generator of their own, so the rest of the town is the same as without meetings.
"""

from __future__ import annotations

import calendar
import random
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update

from service.accounts.principal import Principal
from service.kernel.periods import period_of
from service.meetings.checkin import check_in, current_code, tick
from service.meetings.closing import close_meeting
from service.meetings.leave import decide_leave, request_leave
from service.meetings.schedule import MeetingInput, schedule_meeting
from service.ops.seed.plan import BranchPlan, MemberPlan
from service.ops.seed.publishing import PublishingSteps
from service.ops.seed.state import DAY_OPENS
from service.ops.seed.town_file import TownMeetings
from service.persistence.meetings import (
    Audience,
    CheckinMethod,
    Meeting,
    MeetingAttendance,
    MeetingInvitee,
    MeetingLeave,
    MeetingStatus,
    Outcome,
    PartyGroup,
    PartyGroupMember,
)
from service.persistence.models import Base, MemberStatus
from service.scoring.rules import MeetingType

COMMITTEE = MeetingType.COMMITTEE.value

# The meeting on screen for check-in starts this long after ``now`` (inside the window).
OPEN_STARTS_AFTER = timedelta(minutes=15)


@dataclass
class Planned:
    """One meeting a branch holds (or will hold)."""

    branch: BranchPlan
    kind: str
    day: date
    start: time
    minutes: int
    title: str
    place: str
    audience: Audience
    group_id: int | None
    invitees: list[int]
    makeup_of: int | None = None


@dataclass
class Held:
    """What a bulk-written closed meeting left: its id and each invitee's row."""

    meeting_id: int
    planned: Planned
    rows: dict[int, dict[str, Any]]  # member id -> attendance row


class MeetingSteps(PublishingSteps):
    def _meetings(self, now: datetime) -> None:
        """Plan the year's meetings and write the ones that bring no points, in bulk;
        before the ledger step, whose board totals then count who took part in them."""
        config = self.town.meetings
        self.counts["meetings"] = self.counts["meetings_scheduled"] = 0
        self.services_later: tuple[list[tuple[Planned, bool]], list[Planned]] = ([], [])
        if config is None:
            return
        self.meeting_rng = random.Random(self.town.seed * 7 + 17)
        self.meeting_ids = 0
        self.attendance_ids = 0
        self.leave_ids = 0
        self.bulk: dict[str, list[dict[str, Any]]] = {
            "meeting": [],
            "invitee": [],
            "attendance": [],
            "leave": [],
            "made_up": [],
        }
        member_of = {m.id: m for b in self.branches for m in b.members}
        self.meeting_member_of = member_of
        groups = self._party_groups(config)
        committees = self._committees(config)
        live = self._live_branches()
        plans = self._plan_year(config, groups, committees)
        behind = self._pick_behind(config, plans)
        demo = self._demo_plans(config, now)
        current = period_of(self.until)
        services: list[tuple[Planned, bool]] = []
        held_bulk: list[Held] = []
        scheduled = 0
        today = now.astimezone(self.zone).date()
        for plan in plans:
            if plan.branch.id in live and plan.kind == COMMITTEE and plan.day >= today:
                # Its committee has met this month already, so December's ledger shows
                # meeting points written by closing a meeting.
                days = [d for d in self._month_days(plan.day) if d < today]
                plan.day = self.meeting_rng.choice(days) if days else plan.day
            starts = self._at(plan.day, plan.start.hour * 60 + plan.start.minute)
            ends = starts + timedelta(minutes=plan.minutes)
            held = ends <= now
            if held and (plan.branch.id, plan.kind, plan.day) in behind:
                continue
            ruleset = self._ruleset_on(plan.day)
            scored = ruleset is not None and ruleset.meeting_rule(plan.kind) is not None
            if (
                demo
                and plan.branch is demo[0].branch
                and plan.kind == MeetingType.THEME_DAY
                and period_of(plan.day) == current
                and (scored or not held)
            ):
                continue  # this month's theme day is the one open for check-in
            schedulable = ruleset is not None and plan.kind in ruleset.meeting_types()
            # The demo secretary's branch schedules through the services; of its scored
            # meetings it has held, the committee's (a few members: reconciling every
            # member's year is what costs) — the rest, like every other branch's, fall
            # on days still to come.
            if plan.branch.id in live and schedulable and (not held or plan.kind == COMMITTEE):
                services.append((plan, held))
            elif held and scored:
                # Another branch's scored meeting: the services' work; in the current
                # month it falls on a day still to come instead.
                later = self._later_day(plan, now)
                if later is None:
                    services.append((plan, held))
                    continue
                plan.day = later
                self._bulk_meeting(plan, MeetingStatus.SCHEDULED, now)
                scheduled += 1
            elif held:
                held_bulk.append(self._bulk_closed(config, plan, now))
            else:
                self._bulk_meeting(plan, MeetingStatus.SCHEDULED, now)
                scheduled += 1
        held_bulk += self._makeups(config, held_bulk, now)
        demo_services = []
        for plan in demo:
            ruleset = self._ruleset_on(plan.day)
            if ruleset is not None and plan.kind in ruleset.meeting_types():
                demo_services.append(plan)
            else:
                self._bulk_meeting(plan, MeetingStatus.SCHEDULED, now)
            scheduled += 1
        self._write_bulk()
        self.counts["meetings"] = len(held_bulk)
        self.counts["meetings_scheduled"] = scheduled
        self.services_later = (services, demo_services)

    def _meetings_through_services(self, now: datetime) -> None:
        """The meetings that write points (and the demo branch's next ones), through the
        meeting services; after the publication step, as they are this month's."""
        config = self.town.meetings
        services, demo_services = self.services_later
        if config is None:
            return
        closed = scheduled = 0
        for plan, held in services:
            if held:
                self._held_through_services(config, plan)
                closed += 1
            else:
                self._scheduled_through_services(plan, now)
                scheduled += 1
        for plan in demo_services:
            self._demo_through_services(config, plan, now, grant=plan.kind == MeetingType.THEME_DAY)
        self.counts["meetings"] += closed
        self.counts["meetings_scheduled"] += scheduled

    # --- who meets ---------------------------------------------------------------------

    def _assessed(self, branch: BranchPlan) -> list[MemberPlan]:
        return [m for m in branch.members if m.status is not MemberStatus.EXEMPT]

    def _party_groups(self, config: TownMeetings) -> dict[int, list[tuple[int, list[int]]]]:
        """Two party groups (党小组) for each branch with enough assessed members; the
        members are dealt between them."""
        rng = self.meeting_rng
        groups: dict[int, list[tuple[int, list[int]]]] = {}
        group_rows: list[dict[str, Any]] = []
        member_rows: list[dict[str, Any]] = []
        created_at = self._at(self._year_start(), DAY_OPENS)
        for branch in self.branches:
            assessed = [m.id for m in self._assessed(branch)]
            if len(assessed) < config.two_groups_from:
                continue
            rng.shuffle(assessed)
            halves = (sorted(assessed[::2]), sorted(assessed[1::2]))
            for name, members in zip(config.group_names, halves, strict=False):
                group_id = len(group_rows) + 1
                group_rows.append(
                    {"id": group_id, "branch_id": branch.id, "name": name, "created_at": created_at}
                )
                member_rows += [{"group_id": group_id, "member_id": m} for m in members]
                groups.setdefault(branch.id, []).append((group_id, members))
        if group_rows:
            self.session.execute(insert(PartyGroup), group_rows)
            self.session.execute(insert(PartyGroupMember), member_rows)
        self.counts["party_groups"] = len(group_rows)
        return groups

    def _committees(self, config: TownMeetings) -> dict[int, list[int]]:
        """Each branch's committee (支委): the demo accounts' members of the branch (the
        secretary's, and the member's, whose points page then shows a meeting) and a few
        full members."""
        rng = self.meeting_rng
        committees: dict[int, list[int]] = {}
        for branch in self.branches:
            full = [m.id for m in branch.members if m.status is MemberStatus.FULL]
            first = [m for m in full if m in self.account_of_member]
            others = [m for m in full if m not in first]
            size = min(len(full), config.committee_size.draw(rng))
            chosen = first + rng.sample(others, max(0, size - len(first)))
            committees[branch.id] = sorted(chosen) or [m.id for m in self._assessed(branch)]
        return committees

    def _live_branches(self) -> set[int]:
        """The demo secretary's branch: its meetings go through the services."""
        return set(self.secretary_of)

    # --- the year's plan ---------------------------------------------------------------

    def _year_start(self) -> date:
        return date(self.until.year, 1, 1)

    def _plan_year(
        self,
        config: TownMeetings,
        groups: dict[int, list[tuple[int, list[int]]]],
        committees: dict[int, list[int]],
    ) -> list[Planned]:
        rng = self.meeting_rng
        plans: list[Planned] = []
        self.last_joined = {
            b.id: max((self.joined_on[m.id] for m in b.members), default=date.min)
            for b in self.branches
        }
        for month in range(1, self.until.month + 1):
            year = self.until.year
            length = calendar.monthrange(year, month)[1]
            days = [date(year, month, d) for d in range(1, length + 1)]
            saturdays = [d for d in days if d.weekday() == 5]
            period = f"{year}-{month:02d}"
            for branch in self.branches:
                drawn = self.meetings.get((branch.id, period), {})
                # The days members declared their meetings on (before attendance was
                # scored) are the days the branch met.
                org_days = list(drawn.get("org_life", ()))
                theme_days = list(drawn.get("theme_day", ()))
                assessed = [m.id for m in self._assessed(branch)]
                for kind, months in config.months.items():
                    if month not in months:
                        continue
                    audiences: list[tuple[Audience, int | None, list[int]]]
                    if kind == MeetingType.GROUP:
                        audiences = [(Audience.GROUP, g, ms) for g, ms in groups.get(branch.id, [])]
                    elif kind == MeetingType.COMMITTEE:
                        audiences = [(Audience.LIST, None, committees[branch.id])]
                    else:
                        audiences = [(Audience.BRANCH, None, assessed)]
                    for audience, group_id, invitees in audiences:
                        if kind == MeetingType.THEME_DAY:
                            day = theme_days.pop(0) if theme_days else rng.choice(saturdays)
                        elif kind != MeetingType.COMMITTEE and org_days:
                            day = org_days.pop(0)
                        else:
                            day = rng.choice(days)
                        plans.append(self._planned(config, branch, kind, day, audience, group_id))
                        plans[-1].invitees = self._joined(invitees, day, branch.id)
        return plans

    def _planned(
        self,
        config: TownMeetings,
        branch: BranchPlan,
        kind: str,
        day: date,
        audience: Audience,
        group_id: int | None,
    ) -> Planned:
        rng = self.meeting_rng
        times = config.times[kind]
        return Planned(
            branch=branch,
            kind=kind,
            day=day,
            start=rng.choice(times.starts),
            minutes=times.minutes,
            title=rng.choice(config.titles[kind]),
            place=rng.choice(config.places),
            audience=audience,
            group_id=group_id,
            invitees=[],
        )

    def _joined(self, member_ids: list[int], day: date, branch_id: int) -> list[int]:
        """Those of ``member_ids`` who had joined the party by ``day`` (sorted)."""
        joined = self.joined_on
        if day >= self.last_joined.get(branch_id, date.max):
            return sorted(member_ids)
        return sorted(m for m in member_ids if joined.get(m, day) <= day)

    def _pick_behind(
        self, config: TownMeetings, plans: list[Planned]
    ) -> set[tuple[int, str, date]]:
        """The meetings a few branches skip (never the demo accounts' branches)."""
        rng = self.meeting_rng
        live = self._live_branches()
        candidates = [b for b in self.branches if b.id not in live and b.named is None]
        count = min(len(candidates), round(config.behind_share * len(self.branches)))
        skipped: set[tuple[int, str, date]] = set()
        for branch in rng.sample(candidates, count):
            mine = [
                p
                for p in plans
                if p.branch is branch
                and p.kind in (MeetingType.COMMITTEE, MeetingType.THEME_DAY, MeetingType.LECTURE)
                and p.day < self.until
            ]
            for plan in rng.sample(mine, min(len(mine), config.behind_missed.draw(rng))):
                skipped.add((branch.id, plan.kind, plan.day))
        self.counts["branches_behind"] = count
        return skipped

    @staticmethod
    def _month_days(day: date) -> list[date]:
        length = calendar.monthrange(day.year, day.month)[1]
        return [day.replace(day=d) for d in range(1, length + 1)]

    def _later_day(self, plan: Planned, now: datetime) -> date | None:
        """A day still to come in the plan's month, when that month is the current one."""
        if period_of(plan.day) != period_of(self.until):
            return None
        today = now.astimezone(self.zone).date()
        length = calendar.monthrange(plan.day.year, plan.day.month)[1]
        days = [
            plan.day.replace(day=d) for d in range(1, length + 1) if plan.day.replace(day=d) > today
        ]
        return self.meeting_rng.choice(days) if days else None

    # --- written in bulk ---------------------------------------------------------------

    def _organiser(self, branch_id: int) -> int:
        return self.secretary_of.get(branch_id) or self.admin_id

    def _bulk_meeting(
        self,
        plan: Planned,
        status: MeetingStatus,
        now: datetime,
        *,
        minutes: str | None = None,
        closed_at: datetime | None = None,
        starts: datetime | None = None,
    ) -> int:
        self.meeting_ids += 1
        meeting_id = self.meeting_ids
        if starts is None:
            starts = self._at(plan.day, plan.start.hour * 60 + plan.start.minute)
        ends = starts + timedelta(minutes=plan.minutes)
        organiser = self._organiser(plan.branch.id)
        created = min(starts - timedelta(days=3 + int(self.meeting_rng.random() * 10)), now)
        self.bulk["meeting"].append(
            {
                "id": meeting_id,
                "branch_id": plan.branch.id,
                "kind": plan.kind,
                "title": plan.title,
                "starts_at": starts,
                "ends_at": ends,
                "day": plan.day,
                "period": period_of(plan.day),
                "place": plan.place,
                "online": False,
                "agenda": plan.title,
                "audience": plan.audience,
                "party_group_id": plan.group_id,
                "makeup_of_id": plan.makeup_of,
                "status": status,
                "checkin_secret": secrets.token_hex(32),
                "minutes": minutes,
                "created_at": created,
                "created_by_id": organiser,
                "updated_at": None,
                "closed_at": closed_at,
                "closed_by_id": organiser if closed_at else None,
                "cancelled_at": None,
                "cancelled_by_id": None,
                "cancel_reason": None,
            }
        )
        self.bulk["invitee"] += [{"meeting_id": meeting_id, "member_id": m} for m in plan.invitees]
        return meeting_id

    def _outcomes(self, config: TownMeetings, plan: Planned) -> dict[int, Outcome]:
        rng = self.meeting_rng
        rule = "theme_day" if plan.kind == MeetingType.THEME_DAY else "org_life"
        outcomes: dict[int, Outcome] = {}
        for member_id in plan.invitees:
            member = self.meeting_member_of[member_id]
            mobile = member.status is MemberStatus.MOBILE
            attend = config.mobile_attend_share if mobile else config.attend_share
            leave = config.mobile_leave_share if mobile else config.leave_share
            roll = rng.random()
            if (member_id, rule, plan.day) in self.attended or roll < attend:
                outcomes[member_id] = Outcome.ATTENDED  # declared it: was there
            elif roll < attend + leave:
                outcomes[member_id] = Outcome.LEAVE
            else:
                outcomes[member_id] = Outcome.ABSENT
        return outcomes

    def _minutes(self, config: TownMeetings, plan: Planned, outcomes: dict[int, Outcome]) -> str:
        counts = Counter(outcomes.values())
        head = config.minutes_head.format(
            expected=len(outcomes),
            attended=counts[Outcome.ATTENDED],
            leave=counts[Outcome.LEAVE],
            absent=counts[Outcome.ABSENT],
        )
        return head + self.meeting_rng.choice(config.minutes[plan.kind])

    def _bulk_closed(self, config: TownMeetings, plan: Planned, now: datetime) -> Held:
        rng = self.meeting_rng
        outcomes = self._outcomes(config, plan)
        starts = self._at(plan.day, plan.start.hour * 60 + plan.start.minute)
        ends = starts + timedelta(minutes=plan.minutes)
        closed_at = min(ends + timedelta(minutes=20 + int(rng.random() * 2860)), now)
        meeting_id = self._bulk_meeting(
            plan,
            MeetingStatus.CLOSED,
            now,
            minutes=self._minutes(config, plan, outcomes),
            closed_at=closed_at,
            starts=starts,
        )
        organiser = self._organiser(plan.branch.id)
        rows: dict[int, dict[str, Any]] = {}
        accounts = self.account_of_member
        for member_id, outcome in outcomes.items():
            self.attendance_ids += 1
            checked_in_at = method = recorded_by = None
            if outcome is Outcome.ATTENDED:
                own = accounts.get(member_id)
                if own is None or rng.random() < config.ticked_share:
                    method, recorded_by = CheckinMethod.SECRETARY, organiser
                    checked_in_at = starts + timedelta(minutes=int(rng.random() * 16))
                else:
                    method, recorded_by = CheckinMethod.CODE, own
                    checked_in_at = starts - timedelta(minutes=int(rng.random() * 26))
            row: dict[str, Any] = {
                "id": self.attendance_ids,
                "meeting_id": meeting_id,
                "member_id": member_id,
                "branch_id": plan.branch.id,
                "checked_in_at": checked_in_at,
                "method": method,
                "recorded_by_id": recorded_by,
                "outcome": outcome,
                "made_up_by_id": None,
            }
            if outcome is Outcome.LEAVE or (
                outcome is Outcome.ABSENT and rng.random() < config.declined_share
            ):
                self._bulk_leave(config, plan, meeting_id, member_id, starts, outcome)
            rows[member_id] = row
            self.bulk["attendance"].append(row)
        return Held(meeting_id, plan, rows)

    def _bulk_leave(
        self,
        config: TownMeetings,
        plan: Planned,
        meeting_id: int,
        member_id: int,
        starts: datetime,
        outcome: Outcome,
    ) -> None:
        rng = self.meeting_rng
        organiser = self._organiser(plan.branch.id)
        asked = starts - timedelta(hours=rng.randint(6, 72))
        self.leave_ids += 1
        granted = outcome is Outcome.LEAVE
        self.bulk["leave"].append(
            {
                "id": self.leave_ids,
                "meeting_id": meeting_id,
                "member_id": member_id,
                "reason": rng.choice(config.leave_reasons),
                "status": "granted" if granted else "declined",
                "requested_at": asked,
                # Most members have no account: the secretary keyed in their request.
                "requested_by_id": self.account_of_member.get(member_id, organiser),
                "decided_at": asked + timedelta(minutes=rng.randint(20, 300)),
                "decided_by_id": organiser,
                "decision_reason": None if granted else rng.choice(config.decline_reasons),
            }
        )

    def _makeups(self, config: TownMeetings, held: list[Held], now: datetime) -> list[Held]:
        """A few meetings with members missing get a make-up session (补课) for them;
        those who attend it have the original meeting made up."""
        rng = self.meeting_rng
        makeups: list[Held] = []
        for original in held:
            missed = [
                m
                for m, row in original.rows.items()
                if row["outcome"] in (Outcome.LEAVE, Outcome.ABSENT)
            ]
            if not missed or rng.random() >= config.makeup_share:
                continue
            plan = original.planned
            day = plan.day + timedelta(days=config.makeup_after_days.draw(rng))
            ruleset = self._ruleset_on(day)
            if day.year != plan.day.year or day >= self.until:
                continue
            if ruleset is not None and ruleset.meeting_rule(plan.kind) is not None:
                continue  # scored: the services' work
            makeup = Planned(
                branch=plan.branch,
                kind=plan.kind,
                day=day,
                start=plan.start,
                minutes=plan.minutes,
                title="补课:" + plan.title,
                place=plan.place,
                audience=Audience.LIST,
                group_id=None,
                invitees=sorted(missed),
                makeup_of=original.meeting_id,
            )
            result = self._bulk_closed(config, makeup, now)
            for member_id, row in result.rows.items():
                if row["outcome"] is Outcome.LEAVE:
                    row["outcome"] = Outcome.ABSENT  # no leave from a make-up session
                if row["outcome"] is Outcome.ATTENDED:
                    self.bulk["made_up"].append(
                        {"id": original.rows[member_id]["id"], "made_up_by_id": row["id"]}
                    )
            makeups.append(result)
        return makeups

    def _insert_rows(self, model: type[Base], rows: list[dict[str, Any]]) -> None:
        """The driver's own executemany, each column's bind processor applied once per
        value: tens of thousands of rows, where SQLAlchemy's per-row parameter handling
        would cost more than the database does."""
        connection = self.session.connection()
        dialect = connection.dialect
        table = model.__table__
        columns = list(rows[0])
        processors = [table.c[name].type.bind_processor(dialect) for name in columns]
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        names = ", ".join(columns)
        markers = ", ".join([marker] * len(columns))
        statement = f"INSERT INTO {model.__tablename__} ({names}) VALUES ({markers})"  # noqa: S608
        by_column = []
        for name, process in zip(columns, processors, strict=True):
            column = [row[name] for row in rows]
            if process is not None:
                column = [None if value is None else process(value) for value in column]
            by_column.append(column)
        connection.exec_driver_sql(statement, list(zip(*by_column, strict=True)))

    def _write_bulk(self) -> None:
        session, bulk = self.session, self.bulk
        for model, rows in (
            (Meeting, bulk["meeting"]),
            (MeetingInvitee, bulk["invitee"]),
            (MeetingAttendance, bulk["attendance"]),
            (MeetingLeave, bulk["leave"]),
        ):
            if rows:
                self._insert_rows(model, rows)
        if bulk["made_up"]:
            attendance = MeetingAttendance.__table__
            session.execute(
                update(attendance)  # type: ignore[arg-type]
                .where(attendance.c.id == bindparam("row_id"))
                .values(outcome=Outcome.MADE_UP, made_up_by_id=bindparam("by")),
                [{"row_id": r["id"], "by": r["made_up_by_id"]} for r in bulk["made_up"]],
            )
        self.counts["makeups"] = sum(r["makeup_of_id"] is not None for r in bulk["meeting"])
        if session.get_bind().dialect.name == "postgresql":
            # Explicit ids: the services' inserts that follow need the sequences moved on.
            for table in ("party_group", "meeting", "meeting_attendance", "meeting_leave"):
                session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                        f"COALESCE((SELECT MAX(id) FROM {table}), 1), "
                        f"(SELECT MAX(id) FROM {table}) IS NOT NULL)"
                    )
                )
        session.flush()

    # --- through the services ----------------------------------------------------------

    def _keyed_in(self, organiser: Principal, member_id: int, branch_id: int) -> Principal:
        """The member as the secretary keys in their request (most have no account)."""
        account = self.account_of_member.get(member_id)
        if account is not None:
            return self._principal(account)
        return Principal(
            account_id=organiser.account_id,
            username=organiser.username,
            display_name=self.member_names[member_id],
            member_id=member_id,
            member_branch_id=branch_id,
            member_branch_name=None,
            grants=frozenset(),
        )

    def _input(self, plan: Planned) -> MeetingInput:
        starts = datetime.combine(plan.day, plan.start)
        end = (starts + timedelta(minutes=plan.minutes)).time()
        if end <= plan.start:
            end = time(23, 59)
        return MeetingInput(
            branch_id=plan.branch.id,
            kind=plan.kind,
            title=plan.title,
            day=plan.day,
            start=plan.start,
            end=end,
            place=plan.place,
            agenda=plan.title,
            audience=plan.audience,
            party_group_id=plan.group_id,
            member_ids=tuple(plan.invitees) if plan.audience is Audience.LIST else (),
        )

    def _held_through_services(self, config: TownMeetings, plan: Planned) -> None:
        """Scheduled days before, leave asked and decided, members ticked (or checked in
        with the code, for the demo accounts), closed with minutes: points written."""
        rng = self.meeting_rng
        organiser = self._principal(self._organiser(plan.branch.id))
        starts = self._at(plan.day, plan.start.hour * 60 + plan.start.minute)
        created = starts - timedelta(days=rng.randint(3, 10))
        meeting = schedule_meeting(
            self.session, organiser, self.rulebook, self._input(plan), now=created
        )
        plan.invitees = sorted(
            self.session.scalars(
                select(MeetingInvitee.member_id).where(MeetingInvitee.meeting_id == meeting.id)
            )
        )
        outcomes = self._outcomes(config, plan)
        if organiser.member_id in outcomes:
            outcomes[organiser.member_id] = Outcome.ATTENDED  # the one who runs it
        for member_id, outcome in outcomes.items():
            declined = outcome is Outcome.ABSENT and rng.random() < config.declined_share
            if outcome is not Outcome.LEAVE and not declined:
                continue
            asked = starts - timedelta(hours=rng.randint(6, 72))
            leave = request_leave(
                self.session,
                self._keyed_in(organiser, member_id, plan.branch.id),
                meeting.id,
                rng.choice(config.leave_reasons),
                now=asked,
            )
            decide_leave(
                self.session,
                organiser,
                leave.id,
                grant=not declined,
                reason=rng.choice(config.decline_reasons) if declined else "",
                now=asked + timedelta(minutes=rng.randint(20, 300)),
            )
        for member_id, outcome in outcomes.items():
            if outcome is not Outcome.ATTENDED:
                continue
            if member_id in self.account_of_member:
                at = starts - timedelta(minutes=rng.randint(1, 25))
                member = self._principal(self.account_of_member[member_id])
                code = current_code(meeting, at)
                check_in(self.session, member, self.rulebook, meeting.id, code, now=at)
            else:
                at = starts + timedelta(minutes=rng.randint(0, 15))
                tick(
                    self.session,
                    organiser,
                    self.rulebook,
                    meeting.id,
                    member_id,
                    present=True,
                    now=at,
                )
        close_meeting(
            self.session,
            organiser,
            self.rulebook,
            meeting.id,
            self._minutes(config, plan, outcomes),
            now=meeting.ends_at + timedelta(minutes=rng.randint(10, 120)),
        )

    def _scheduled_through_services(self, plan: Planned, now: datetime) -> Meeting:
        organiser = self._principal(self._organiser(plan.branch.id))
        starts = self._at(plan.day, plan.start.hour * 60 + plan.start.minute)
        created = min(now, starts) - timedelta(days=self.meeting_rng.randint(1, 4))
        return schedule_meeting(
            self.session, organiser, self.rulebook, self._input(plan), now=created
        )

    def _demo_plans(self, config: TownMeetings, now: datetime) -> list[Planned]:
        """The demo secretary's branch: a theme day open for check-in at ``now`` and a
        general meeting a week after ``until``."""
        secretary = next(iter(self.secretary_of.items()), None)
        if secretary is None:
            return []
        branch = next(b for b in self.branches if b.id == secretary[0])
        local = (now + OPEN_STARTS_AFTER).astimezone(self.zone)
        soon = self._planned(
            config, branch, MeetingType.THEME_DAY, local.date(), Audience.BRANCH, None
        )
        soon.start = time(local.hour, local.minute - local.minute % 5)
        week = self.until + timedelta(days=7)
        later = self._planned(config, branch, MeetingType.CONGRESS, week, Audience.BRANCH, None)
        assessed = [m.id for m in self._assessed(branch)]
        for plan in (soon, later):
            plan.invitees = self._joined(assessed, plan.day, branch.id)
        return [soon, later]

    def _demo_through_services(
        self, config: TownMeetings, plan: Planned, now: datetime, *, grant: bool
    ) -> None:
        """Scheduled days ago; a member (keyed in by the secretary) asked for leave: granted
        for the meeting open now, still waiting for the one next week."""
        rng = self.meeting_rng
        organiser = self._principal(self._organiser(plan.branch.id))
        meeting = schedule_meeting(
            self.session,
            organiser,
            self.rulebook,
            self._input(plan),
            now=now - timedelta(days=rng.randint(2, 5)),
        )
        others = [
            m for m in plan.invitees if m not in self.account_of_member and m != organiser.member_id
        ]
        if not others:
            return
        asked = now - timedelta(hours=rng.randint(2, 20))
        leave = request_leave(
            self.session,
            self._keyed_in(organiser, rng.choice(others), plan.branch.id),
            meeting.id,
            rng.choice(config.leave_reasons),
            now=asked,
        )
        if grant:
            decided = asked + timedelta(minutes=30)
            decide_leave(self.session, organiser, leave.id, grant=True, reason="", now=decided)
