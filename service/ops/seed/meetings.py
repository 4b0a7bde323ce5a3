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
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert, select

from service.accounts.principal import Principal
from service.kernel.periods import period_of
from service.meetings.checkin import check_in, current_code, tick
from service.meetings.closing import close_meeting
from service.meetings.leave import decide_leave, request_leave
from service.meetings.schedule import MeetingInput, schedule_meeting
from service.ops.seed.meeting_rows import Held, MeetingRows, Planned
from service.ops.seed.plan import BranchPlan, MemberPlan
from service.ops.seed.state import DAY_OPENS
from service.ops.seed.town_file import TownMeetings
from service.persistence.meetings import (
    Audience,
    Meeting,
    MeetingInvitee,
    MeetingStatus,
    Outcome,
    PartyGroup,
    PartyGroupMember,
)
from service.persistence.models import MemberStatus
from service.scoring.rules import MeetingType

COMMITTEE = MeetingType.COMMITTEE.value

# The meeting on screen for check-in starts this long after ``now`` (inside the window).
OPEN_STARTS_AFTER = timedelta(minutes=15)


class MeetingSteps(MeetingRows):
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
