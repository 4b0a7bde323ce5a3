"""The demo town's activity: entries drafted month by month, with the guarantees the
demo accounts rely on (busy members, adopted suggestions), written in bulk.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert

from service.kernel.periods import period_of, shift_period
from service.ops.seed.people import PeopleSteps
from service.ops.seed.plan import BranchPlan, Draft, MemberPlan, Month, Profile
from service.ops.seed.state import DAY_CLOSES, DAY_OPENS, MONTHS_BEFORE, OWN_WORDING_SHARE
from service.persistence.models import (
    Entry,
    EntryStatus,
    MemberStatus,
)
from service.scoring.engine import (
    entry_points,
    quantity_problem,
)
from service.scoring.rules import Rule, RuleGroup


class ActivitySteps(PeopleSteps):
    def _months(self) -> list[Month]:
        current = period_of(self.until)
        months = []
        for offset in range(-MONTHS_BEFORE, 1):
            period = shift_period(current, offset)
            year, month = int(period[:4]), int(period[5:7])
            length = calendar.monthrange(year, month)[1]
            last = self.until.day if offset == 0 else length
            days = tuple(date(year, month, day) for day in range(1, last + 1))
            months.append(Month(period, days, last / length, offset == 0))
        return months

    def _activity(self, months: list[Month]) -> None:
        activity, rng = self.town.activity, self.rng
        counts = tuple(activity.entries_per_member)
        count_weights = tuple(activity.entries_per_member.values())
        for month in months:
            for branch in self.branches:
                meetings = {
                    rule_id: sorted(rng.sample(month.days, min(n, len(month.days))))
                    for rule_id, n in activity.meetings_per_month.items()
                }
                self.meetings[(branch.id, month.period)] = meetings
                for member in branch.members:
                    if member.status is MemberStatus.EXEMPT:
                        continue
                    share = branch.profile.active_share * month.elapsed
                    if member.status is MemberStatus.MOBILE:
                        share *= activity.mobile_factor
                    # The demo members take part every month so their pages are never empty.
                    demo = member.id in self.account_of_member
                    if not demo and rng.random() >= share:
                        continue
                    count = rng.choices(counts, count_weights)[0]
                    for _ in range(max(count, 2) if demo else count):
                        self._draft(branch, member, month, meetings, self._status(month))

    def _status(self, month: Month) -> EntryStatus:
        activity, rng = self.town.activity, self.rng
        if month.current and rng.random() < activity.pending_share_current_month:
            return EntryStatus.PENDING
        roll = rng.random()
        if roll < activity.rejected_share:
            return EntryStatus.REJECTED
        if roll < activity.rejected_share + activity.withdrawn_share:
            return EntryStatus.WITHDRAWN
        return EntryStatus.APPROVED

    def _draft(
        self,
        branch: BranchPlan,
        member: MemberPlan,
        month: Month,
        meetings: Mapping[str, Sequence[date]],
        status: EntryStatus,
        *,
        rule_id: str | None = None,
        day: date | None = None,
        quantity: Decimal | None = None,
    ) -> Draft | None:
        """Draft one entry; ``rule_id``, ``day`` and ``quantity`` fix what is not drawn."""
        rng, profile = self.rng, branch.profile
        wanted_rule, wanted_day, wanted_quantity = rule_id, day, quantity
        for _ in range(8):
            rule_id = wanted_rule or rng.choices(profile.rule_ids, profile.weights)[0]
            if wanted_day is not None:
                day = wanted_day
            elif rule_id in meetings:
                # A member attends each branch meeting at most once.
                options = [
                    d for d in meetings[rule_id] if (member.id, rule_id, d) not in self.attended
                ]
                if not options:
                    continue
                day = rng.choice(options)
            else:
                day = rng.choice(month.days)
            ruleset = self._ruleset_on(day)
            rule = ruleset.rule(rule_id) if ruleset else None
            # Attendance-sourced rules (org_life and theme_day from December) are written
            # by closing meetings, never declared.
            if (
                ruleset is None
                or rule is None
                or rule.group is RuleGroup.DEDUCTION
                or rule.from_attendance
            ):
                continue
            quantity = self._quantity(rule) if wanted_quantity is None else wanted_quantity
            if quantity is None or quantity_problem(rule, quantity) is not None:
                continue
            if rule_id in meetings:
                self.attended.add((member.id, rule_id, day))
            draft = Draft(
                seq=len(self.drafts),
                member=member,
                rule_id=rule_id,
                ruleset_version=ruleset.version,
                day=day,
                quantity=quantity,
                points=entry_points(rule, quantity),
                description=self._description(profile, rule),
                status=status,
            )
            self.drafts.append(draft)
            return draft
        return None

    def _quantity(self, rule: Rule) -> Decimal | None:
        if not rule.per_unit:
            return Decimal(1)
        options = [
            q for q in self.town.activity.unit_quantities if quantity_problem(rule, q) is None
        ]
        return self.rng.choice(options) if options else None

    def _description(self, profile: Profile, rule: Rule) -> str:
        own = profile.descriptions.get(rule.id)
        if own and self.rng.random() < OWN_WORDING_SHARE:
            return self.rng.choice(own)
        general = self.town.descriptions.get(rule.id)
        return self.rng.choice(general) if general else rule.name_zh

    def _demo_guarantees(self, months: list[Month]) -> None:
        """Make sure the demo shows every state: the generated data is random, the tour
        through the demo accounts must not be."""
        activity = self.town.activity
        current, past = months[-1], months[:-1]
        branch_of = {b.id: b for b in self.branches}
        member_of = {m.id: m for b in self.branches for m in b.members}

        def add(member: MemberPlan, month: Month, status: EntryStatus) -> bool:
            branch = branch_of[member.branch_id]
            meetings = self.meetings[(branch.id, month.period)]
            return self._draft(branch, member, month, meetings, status) is not None

        for member_id in self.account_of_member:
            member = member_of[member_id]
            mine = [d for d in self.drafts if d.member.id == member_id]
            for status in (EntryStatus.APPROVED, EntryStatus.REJECTED, EntryStatus.WITHDRAWN):
                if not any(d.status is status and d.day < current.days[0] for d in mine):
                    # Early months may predate the first ruleset; any past month will do.
                    for month in self.rng.sample(past, len(past)):
                        if add(member, month, status):
                            break
            # Exactly ``own_pending``, so a secretary's own queue at the instructor is short.
            pending = [d for d in mine if d.status is EntryStatus.PENDING]
            for extra in pending[activity.own_pending :]:
                extra.status = EntryStatus.APPROVED
            for _ in range(activity.own_pending - len(pending)):
                add(member, current, EntryStatus.PENDING)

        # A secretary's queue holds entries of the other members; their own entries go to
        # the instructor, so they do not count here.
        for branch_id, secretary_id in self.secretary_of.items():
            branch = branch_of[branch_id]
            others = [
                m
                for m in branch.members
                if m.status is not MemberStatus.EXEMPT
                and self.account_of_member.get(m.id) != secretary_id
            ]
            other_ids = {m.id for m in others}
            queued = sum(
                d.status is EntryStatus.PENDING and d.member.id in other_ids for d in self.drafts
            )
            for _ in range(4 * activity.review_queue):
                if queued >= activity.review_queue or not others:
                    break
                queued += add(self.rng.choice(others), current, EntryStatus.PENDING)

    def _busy_members(self, months: list[Month]) -> None:
        """A few members do more than the caps count in one past month, so the demo
        shows caps clipping (and the explanation of a clipped score)."""
        busy, rng = self.town.busy, self.rng
        past = months[:-1]
        if not past:
            return
        branch_of = {b.id: b for b in self.branches}
        member_of = {m.id: m for b in self.branches for m in b.members}
        chosen = [member_of[self._member_of_account(name)] for name in busy.demo_accounts]
        others = [
            m
            for b in self.branches
            for m in b.members
            if m.status in (MemberStatus.FULL, MemberStatus.PROBATIONARY)
            and m.id not in self.account_of_member
        ]
        chosen += rng.sample(others, min(busy.members, len(others)))
        for member in chosen:
            month = rng.choice(past)
            branch = branch_of[member.branch_id]
            meetings = self.meetings[(branch.id, month.period)]
            have = sum(
                d.member.id == member.id
                and d.rule_id == busy.month_rule
                and d.status is EntryStatus.APPROVED
                and period_of(d.day) == month.period
                for d in self.drafts
            )
            for _ in range(busy.month_entries.draw(rng) - have):
                self._draft(
                    branch, member, month, meetings, EntryStatus.APPROVED, rule_id=busy.month_rule
                )
            day = rng.choice(month.days)
            for quantity in busy.day_quantities:
                self._draft(
                    branch,
                    member,
                    month,
                    meetings,
                    EntryStatus.APPROVED,
                    rule_id=busy.day_rule,
                    day=day,
                    quantity=quantity,
                )
            if member.id not in self.account_of_member:
                self.busy_windows.append((member.id, busy.month_rule, month.period))

    def _demo_suggestions(self, months: list[Month]) -> None:
        """The listed demo members have an approved suggestion early enough to be adopted
        and implemented before ``until``."""
        branch_of = {b.id: b for b in self.branches}
        member_of = {m.id: m for b in self.branches for m in b.members}
        for name in self.town.suggestions.demo_accounts:
            member = member_of[self._member_of_account(name)]
            branch = branch_of[member.branch_id]
            for month in months[:-1]:
                ruleset = self._ruleset_on(month.days[0])
                rule = next((r for r in ruleset.rules if r.suggestion), None) if ruleset else None
                if rule is None:
                    continue
                meetings = self.meetings[(branch.id, month.period)]
                draft = self._draft(
                    branch, member, month, meetings, EntryStatus.APPROVED, rule_id=rule.id
                )
                if draft is not None:
                    self.demo_suggestions.add(draft.seq)
                    break

    def _entries(self) -> list[dict[str, Any]]:
        """Entry rows with their ids, in submission order; written later, once the
        suggestion steps and revocations have been added to them."""
        rng = self.rng
        activity = self.town.activity
        reasons = self.town.review.rejection_reasons
        timed: list[tuple[datetime, int, dict[str, Any]]] = []
        for draft in self.drafts:
            own_account = self.account_of_member.get(draft.member.id)
            # Most members have no account: their entries stand for declarations the
            # town office keyed in on their behalf.
            submitter = own_account or self.admin_id
            # Decided before the month is published: publishing refuses pending entries.
            last_day = self._last_day(draft.day)
            delay = activity.submit_delay_days.draw(rng)
            submitted_day = min(draft.day + timedelta(days=delay), last_day)
            submitted_at = self._at(submitted_day, rng.randint(DAY_OPENS, DAY_CLOSES))
            decided_at: datetime | None = None
            decided_by: int | None = None
            reason: str | None = None
            if draft.status is not EntryStatus.PENDING:
                days = activity.decide_delay_days.draw(rng)
                decided_day = min(submitted_day + timedelta(days=days), last_day)
                decided_at = self._at(decided_day, rng.randint(DAY_OPENS, DAY_CLOSES))
                if decided_at <= submitted_at:
                    decided_at = submitted_at + timedelta(minutes=rng.randint(10, 90))
                if draft.status is EntryStatus.WITHDRAWN:
                    decided_by = submitter
                else:
                    decided_by = self._reviewer(draft.member.branch_id, own_account)
                if draft.status is EntryStatus.REJECTED:
                    reason = rng.choice(reasons)
            row = {
                "member_id": draft.member.id,
                "branch_id": draft.member.branch_id,
                "rule_id": draft.rule_id,
                "ruleset_version": draft.ruleset_version,
                "activity_date": draft.day,
                "period": period_of(draft.day),
                "quantity": draft.quantity,
                "description": draft.description,
                "status": draft.status,
                "submitted_at": submitted_at,
                "submitted_by_id": submitter,
                "decided_at": decided_at,
                "decided_by_id": decided_by,
                "decision_reason": reason,
                "adopted_on": None,
                "adopted_by_id": None,
                "implemented_on": None,
                "implemented_by_id": None,
                "revoked_at": None,
                "revoked_by_id": None,
                "revoke_reason": None,
                "_seq": draft.seq,
            }
            timed.append((submitted_at, draft.seq, row))
        # Ids follow submission order, as they would have had the entries come in live.
        timed.sort(key=lambda item: (item[0], item[1]))
        entries = []
        for entry_id, (_, _, row) in enumerate(timed, start=1):
            row["id"] = entry_id
            entries.append(row)
        return entries

    def _insert_entries(self, entries: list[dict[str, Any]]) -> None:
        rows = [{k: v for k, v in row.items() if k != "_seq"} for row in entries]
        if rows:
            self.session.execute(insert(Entry), rows)
