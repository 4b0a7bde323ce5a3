"""Reviews of the demo town's entries: approvals, suggestion steps, revocations,
deductions and adjustments as ledger events, then the ledger and summary written.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, text

from service.kernel.periods import period_of
from service.ledger.reconcile import bulk_insert_summary
from service.ops.seed.activity import ActivitySteps
from service.ops.seed.plan import Event, MemberPlan, Month, Replay, SummaryKey, entry_activity
from service.ops.seed.state import DAY_CLOSES, DAY_OPENS
from service.persistence.models import (
    Account,
    Adjustment,
    Base,
    Branch,
    Entry,
    EntryStatus,
    LedgerLine,
    Member,
    MemberStatus,
    Organisation,
    RoleGrant,
)
from service.scoring.engine import (
    MANUAL_RULE_ID,
    Source,
    quantity_problem,
)
from service.scoring.engine import (
    Activity as ScoringActivity,
)
from service.scoring.points import TENTH
from service.scoring.rules import Recorder


class ReviewSteps(ActivitySteps):
    def _recorder(self, branch_id: int, member_id: int) -> int:
        """Who records a deduction or adjustment: the branch secretary (never for their
        own points), else the town office. Instructors do not record them."""
        secretary = self.secretary_of.get(branch_id)
        if secretary is not None and secretary != self.account_of_member.get(member_id):
            return secretary
        return self.admin_id

    def _approvals(self, entries: list[dict[str, Any]]) -> list[Event]:
        events = []
        for row in entries:
            if row["status"] is EntryStatus.APPROVED:
                events.append(
                    Event(
                        at=row["decided_at"],
                        member_id=row["member_id"],
                        actor_id=row["decided_by_id"],
                        years=(row["activity_date"].year,),
                        add=(entry_activity(row, Source.ENTRY, row["activity_date"]),),
                    )
                )
        return events

    def _suggestion_steps(self, entries: list[dict[str, Any]], months: list[Month]) -> list[Event]:
        """Mark approved suggestions adopted (采纳) and some of them implemented (落实), as
        the secretary does through ``service.entries.suggestions.mark_step``."""
        config, rng = self.town.suggestions, self.rng
        current = months[-1].period
        events: list[Event] = []
        adopted = implemented = 0
        for row in entries:
            if row["status"] is not EntryStatus.APPROVED or row["period"] >= current:
                continue
            ruleset = self._ruleset_on(row["activity_date"])
            rule = ruleset.rule(row["rule_id"]) if ruleset else None
            if rule is None or not rule.suggestion:
                continue
            demo = row["_seq"] in self.demo_suggestions
            if not demo and rng.random() >= config.adopted_share:
                continue
            actor = self._reviewer(row["branch_id"], self.account_of_member.get(row["member_id"]))
            decided_day = row["decided_at"].astimezone(self.zone).date()
            adopted_on = decided_day + timedelta(days=config.adopt_delay_days.draw(rng))
            if adopted_on > self.until:
                continue
            adopted_at = self._after(row["decided_at"], adopted_on)
            row["adopted_on"], row["adopted_by_id"] = adopted_on, actor
            events.append(self._step_event(row, Source.ADOPTED, adopted_on, adopted_at, actor))
            adopted += 1
            if not demo and rng.random() >= config.implemented_share:
                continue
            implemented_on = adopted_on + timedelta(days=config.implement_delay_days.draw(rng))
            implemented_on = min(implemented_on, self.until) if demo else implemented_on
            if implemented_on > self.until:
                continue
            implemented_at = self._after(adopted_at, implemented_on)
            row["implemented_on"], row["implemented_by_id"] = implemented_on, actor
            events.append(
                self._step_event(row, Source.IMPLEMENTED, implemented_on, implemented_at, actor)
            )
            implemented += 1
        self.counts["adopted"], self.counts["implemented"] = adopted, implemented
        return events

    def _step_event(
        self, row: dict[str, Any], source: Source, day: date, at: datetime, actor: int
    ) -> Event:
        return Event(
            at=at,
            member_id=row["member_id"],
            actor_id=actor,
            years=(day.year,),
            add=(entry_activity(row, source, day),),
        )

    def _revocations(self, entries: list[dict[str, Any]], months: list[Month]) -> list[Event]:
        """Take back a few approvals, as a reviewer does through
        ``service.entries.review.revoke_entry``. The first is a busy member's entry in a month
        whose cap clipped, so the entries it made room for count again."""
        config, rng = self.town.revocations, self.rng
        current = months[-1].period
        candidates = [
            row
            for row in entries
            if row["status"] is EntryStatus.APPROVED
            and row["period"] < current
            and row["adopted_on"] is None
            and row["member_id"] not in self.account_of_member
        ]
        # Revoked no earlier than ``not_before``: the busy member's entry once the whole
        # month is approved, so the cap clipped and the revocation makes room.
        chosen: list[tuple[dict[str, Any], datetime]] = []
        if self.busy_windows and config.count:
            member_id, rule_id, period = self.busy_windows[0]
            in_window = [
                row
                for row in candidates
                if (row["member_id"], row["rule_id"], row["period"]) == (member_id, rule_id, period)
            ]
            if in_window:
                first = min(in_window, key=lambda row: (row["activity_date"], row["id"]))
                chosen.append((first, max(row["decided_at"] for row in in_window)))
        taken = {row["id"] for row, _ in chosen}
        rest = [row for row in candidates if row["id"] not in taken]
        for row in rng.sample(rest, min(len(rest), config.count - len(chosen))):
            chosen.append((row, row["decided_at"]))
        reasons = rng.sample(config.reasons, len(config.reasons))
        events = []
        for number, (row, not_before) in enumerate(sorted(chosen, key=lambda item: item[0]["id"])):
            start_day = not_before.astimezone(self.zone).date()
            last_day = self._last_day(row["activity_date"])
            day = min(start_day + timedelta(days=config.delay_days.draw(rng)), last_day)
            revoked_at = self._after(not_before, day)
            actor = self._reviewer(row["branch_id"], self.account_of_member.get(row["member_id"]))
            reason = reasons[number % len(reasons)]
            row["status"] = EntryStatus.REVOKED
            row["revoked_at"], row["revoked_by_id"], row["revoke_reason"] = (
                revoked_at,
                actor,
                reason,
            )
            keys = frozenset(f"{source.value}:{row['id']}" for source in Source)
            events.append(
                Event(
                    at=revoked_at,
                    member_id=row["member_id"],
                    actor_id=actor,
                    years=tuple(
                        sorted(
                            {
                                d.year
                                for d in (
                                    row["activity_date"],
                                    row["adopted_on"],
                                    row["implemented_on"],
                                )
                                if d is not None
                            }
                        )
                    ),
                    remove=keys,
                    reversed_keys=keys,
                    note=reason,
                )
            )
        self.counts["revoked"] = len(events)
        return events

    def _deductions(self, months: list[Month]) -> list[dict[str, Any]]:
        """Deductions (扣分) a secretary records with the branch's decision, as
        ``service.entries.adjustments.record_adjustment`` does."""
        config, rng = self.town.deductions, self.rng
        rule_ids, weights = tuple(config.rule_weights), tuple(config.rule_weights.values())
        wanted: list[tuple[MemberPlan, Month]] = []
        for month in months:
            for branch in self.branches:
                for member in branch.members:
                    if member.status is MemberStatus.EXEMPT:
                        continue
                    if rng.random() < config.monthly_share * month.elapsed:
                        wanted.append((member, month))
        member_of = {m.id: m for b in self.branches for m in b.members}
        for name in config.demo_accounts:
            member = member_of[self._member_of_account(name)]
            if not any(m.id == member.id for m, _ in wanted) and len(months) > 1:
                wanted.append((member, rng.choice(months[:-1])))
        rows: list[dict[str, Any]] = []
        for member, month in wanted:
            for _ in range(8):
                rule_id = rng.choices(rule_ids, weights)[0]
                row = self._deduction(member, month, rule_id)
                if row is not None:
                    rows.append(row)
                    break
        self.counts["deductions"] = len(rows)
        return rows

    def _deduction(self, member: MemberPlan, month: Month, rule_id: str) -> dict[str, Any] | None:
        config, rng = self.town.deductions, self.rng
        if rule_id in config.on_meeting_days:
            meetings = self.meetings[(member.branch_id, month.period)]
            missed = [
                day
                for meeting, days in meetings.items()
                for day in days
                if (member.id, meeting, day) not in self.attended
            ]
            if not missed:
                return None
            day = rng.choice(sorted(missed))
        else:
            day = rng.choice(month.days)
        ruleset = self._ruleset_on(day)
        rule = ruleset.rule(rule_id) if ruleset else None
        if rule is None or rule.recorded_by is not Recorder.SECRETARY or rule.from_attendance:
            return None
        quantity = rng.choice(config.reminders) if rule.per_unit else Decimal(1)
        if quantity_problem(rule, quantity) is not None:
            return None
        delay = timedelta(days=config.record_delay_days.draw(rng))
        recorded = min(day + delay, self._last_day(day))
        return self._adjustment_row(
            member, rule_id, day, quantity, None, rng.choice(config.reasons[rule_id]), recorded
        )

    def _manual_adjustments(self, months: list[Month]) -> list[dict[str, Any]]:
        """Manual adjustments a secretary records, points given, reason required."""
        rng, rows = self.rng, []
        for spec in self.town.manual_adjustments:
            branch = self.branch_by_name[spec.branch]
            secretary = self.secretary_of.get(branch.id)
            members = [
                m
                for m in branch.members
                if m.status is not MemberStatus.EXEMPT
                and (secretary is None or self.account_of_member.get(m.id) != secretary)
            ]
            days = [d for month in months[:-1] for d in month.days if self._ruleset_on(d)]
            if not members or not days or spec.points != spec.points.quantize(TENTH):
                continue
            day = rng.choice(days)
            recorded = min(day + timedelta(days=rng.randint(1, 5)), self._last_day(day))
            member = rng.choice(members)
            rows.append(
                self._adjustment_row(
                    member, MANUAL_RULE_ID, day, Decimal(1), spec.points, spec.reason, recorded
                )
            )
        self.counts["manual"] = len(rows)
        return rows

    def _adjustment_row(
        self,
        member: MemberPlan,
        rule_id: str,
        day: date,
        quantity: Decimal,
        points: Decimal | None,
        reason: str,
        recorded: date,
    ) -> dict[str, Any]:
        return {
            "member_id": member.id,
            "branch_id": member.branch_id,
            "rule_id": rule_id,
            "day": day,
            "period": period_of(day),
            "quantity": quantity,
            "points": points,
            "reason": reason,
            "created_at": self._at(recorded, self.rng.randint(DAY_OPENS, DAY_CLOSES)),
            "created_by_id": self._recorder(member.branch_id, member.id),
        }

    def _insert_adjustments(self, rows: list[dict[str, Any]]) -> list[Event]:
        """Ids follow recording order; one event per adjustment."""
        rows.sort(key=lambda row: (row["created_at"], row["member_id"], row["day"]))
        events = []
        for adjustment_id, row in enumerate(rows, start=1):
            row["id"] = adjustment_id
            activity = ScoringActivity(
                source=Source.ADJUSTMENT,
                source_id=adjustment_id,
                rule_id=row["rule_id"],
                day=row["day"],
                branch_id=row["branch_id"],
                quantity=row["quantity"],
                points=row["points"],
            )
            events.append(
                Event(
                    at=row["created_at"],
                    member_id=row["member_id"],
                    actor_id=row["created_by_id"],
                    years=(row["day"].year,),
                    add=(activity,),
                    note=row["reason"],
                )
            )
        if rows:
            self.session.execute(insert(Adjustment), rows)
        return events

    def _ledger(self, events: list[Event]) -> None:
        """Replay every approval, suggestion step, revocation and adjustment in time
        order through the engine, member by member, appending what
        ``service.ledger.reconcile.reconcile_member`` appends after each: so the demo ledger is
        exactly what the services would have written, CAP and REVERSAL lines included."""
        by_member: dict[int, list[tuple[datetime, int, Event]]] = {}
        for seq, event in enumerate(events):
            by_member.setdefault(event.member_id, []).append((event.at, seq, event))
        timed: list[tuple[datetime, int, int, dict[str, Any]]] = []
        clipped = 0
        for member_id in sorted(by_member):
            replay = Replay(self.rulebook, member_id)
            for at, seq, event in sorted(by_member[member_id], key=lambda item: item[:2]):
                for index, line in enumerate(replay.apply(event)):
                    timed.append((at, seq, index, line))
            clipped += replay.clipped()
        timed.sort(key=lambda item: item[:3])
        lines = []
        deltas: dict[SummaryKey, tuple[Decimal, int]] = {}
        held_back = self.correction_deltas
        late = self.correction.event if self.correction else None
        for line_id, (_, seq, _, line) in enumerate(timed, start=1):
            line["id"] = line_id
            lines.append(line)
            key: SummaryKey = (
                line["member_id"],
                line["period"],
                line["branch_id"],
                line["rule_id"],
            )
            # The correction's lines reach the boards once it is opened (see _publish).
            into = held_back if late is not None and events[seq] is late else deltas
            total, count = into.get(key, (Decimal(0), 0))
            into[key] = (total + line["points"], count + 1)
        if lines:
            self.session.execute(insert(LedgerLine), lines)
        bulk_insert_summary(self.session, deltas)
        self.counts["ledger_lines"] = len(lines)
        self.counts["clipped"] = clipped

    def _advance_sequences(self) -> None:
        # Explicit ids leave PostgreSQL's sequences at 1; the app's next insert would
        # collide with a demo row.
        if self.session.get_bind().dialect.name != "postgresql":
            return
        models: tuple[type[Base], ...] = (
            Branch,
            Organisation,
            Member,
            Account,
            RoleGrant,
            Entry,
            Adjustment,
            LedgerLine,
        )
        for model in models:
            table = model.__tablename__
            self.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT MAX(id) FROM {table}))"
                )
            )
