"""Property tests of the ledger on the real database (Hypothesis, rule-based).

Random sequences of submissions, approvals, rejections, revocations, deductions, manual
adjustments and suggestion steps, all through the service functions. After every step:

(b) caps are never exceeded: per member, rule and day / month / year, the points the
    ledger counts stay within the rule's cap;
(c) recomputing from scratch equals the stored numbers: ``verify_ledger`` finds no
    difference, and the pure engine run over the approved facts gives the summary table;
(d) the ledger is append-only: the line count never drops, no existing line changes.

At the end of each example:

(a) the points never depend on the order: the same final facts (approved entries with
    their suggestion steps, adjustments), applied through the services in another
    order on an emptied database, give the same summary.

The rules are the town's 2025 and 2026 rule files with the 2026 caps made tight (and the
2026 volunteer hours rounded per day, ``rounding_per = "day"``), so a
few entries are enough to make them clip. The ``database`` fixture empties the database
once per test, so each example empties it again and builds its own small town.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal, load_principal
from service.entries.adjustments import AdjustmentInput, record_adjustment
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry, reject_entry, revoke_entry
from service.entries.suggestions import Step, mark_step
from service.kernel.errors import Conflict, InvalidInput
from service.kernel.periods import period_of
from service.ledger.reconcile import member_activities
from service.ledger.verify import member_years, verify_ledger
from service.persistence.db import Database
from service.persistence.models import (
    Account,
    Branch,
    BranchKind,
    LedgerKind,
    LedgerLine,
    Member,
    MemberStatus,
    PointsSummary,
    Role,
    RoleGrant,
)
from service.scoring.engine import MANUAL_RULE_ID, entry_points, score_activities
from service.scoring.rules import Rule, Rulebook, Ruleset
from tests.conftest import password_hash, wipe

# Another process, thread or engine reads what the test writes: real commits.
pytestmark = pytest.mark.commits

TODAY = date(2026, 11, 25)
START = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
# Few days, so entries share days, months and years and the caps bite. The first one is
# under the 2025 rules (no caps, no deductions), the others under the tight 2026 rules.
DAYS = (date(2025, 12, 31), date(2026, 3, 2), date(2026, 3, 16), date(2026, 4, 1))
MEMBERS = ("a", "b")
# Weighted towards the capped rules.
DECLARED = ("good_deed", "good_deed", "good_deed", "volunteer", "suggestion", "study", "org_life")
VOLUNTEER_HOURS = ("0.5", "1", "2.5", "4", "8")
TIGHT_CAPS: dict[str, dict[str, str]] = {
    "good_deed": {"cap_per_day": "2", "cap_per_month": "4", "cap_per_year": "6"},
    # The day's hours are rounded as a total: each entry's points are its share, which
    # moves when another entry of the day comes or goes, as cap room does.
    "volunteer": {"cap_per_day": "9", "cap_per_month": "15", "rounding_per": "day"},
    "suggestion": {"cap_per_month": "2"},
    "study": {"cap_per_year": "4"},
}
MAX_EXAMPLES = 20
STEPS = 30


def tight_rulebook(rulebook: Rulebook) -> Rulebook:
    """The town's rulebook with the 2026 caps tightened (validated like a rule file)."""
    base = rulebook.in_force(date(2026, 1, 1))
    assert base is not None

    def tightened(rule: Rule) -> dict[str, Any]:
        data = rule.model_dump(mode="json", exclude_none=True)
        return {**data, **TIGHT_CAPS.get(rule.id, {})}

    data = base.model_dump(mode="json", exclude_none=True, by_alias=True)
    data["rule"] = [tightened(rule) for rule in base.rules]
    tight = Ruleset.model_validate(data)
    return rulebook.with_candidate(tight)


@dataclass
class EntryFact:
    member: str
    rule_id: str
    day: date
    quantity: Decimal
    status: str = "pending"
    adopted_on: date | None = None
    implemented_on: date | None = None


@dataclass(frozen=True)
class AdjustmentFact:
    member: str
    rule_id: str
    day: date
    quantity: Decimal
    points: Decimal | None


@dataclass
class Town:
    """One branch: members a and b (with accounts), their secretary s, an admin."""

    database: Database
    member_ids: dict[str, int]
    accounts: dict[str, int]
    principals: dict[str, Principal] = field(default_factory=dict)

    @classmethod
    def build(cls, database: Database) -> Town:
        wipe(database)
        with database.transaction() as session:
            branch = Branch(code="B001", name="金湾工业园区联合党支部", kind=BranchKind.JOINT)
            session.add(branch)
            session.flush()
            member_ids: dict[str, int] = {}
            accounts: dict[str, int] = {}
            for code, username in enumerate(("a", "b", "s"), start=1):
                member = Member(
                    code=f"M{code:03d}",
                    name=f"党员{username}",
                    branch_id=branch.id,
                    status=MemberStatus.FULL,
                    joined_party_on=date(2010, 7, 1),
                    active=True,
                )
                session.add(member)
                session.flush()
                member_ids[username] = member.id
                account = Account(
                    username=username,
                    password_hash=password_hash(),
                    display_name=member.name,
                    member_id=member.id,
                )
                session.add(account)
                session.flush()
                accounts[username] = account.id
                session.add(RoleGrant(account_id=account.id, role=Role.MEMBER, branch_id=branch.id))
            session.add(
                RoleGrant(account_id=accounts["s"], role=Role.SECRETARY, branch_id=branch.id)
            )
            return cls(database, member_ids, accounts)

    def who(self, username: str) -> Principal:
        if username not in self.principals:
            with self.database.transaction(write=False) as session:
                principal = load_principal(session, self.accounts[username])
            assert principal is not None
            self.principals[username] = principal
        return self.principals[username]


class Clock:
    def __init__(self) -> None:
        self.now = START

    def tick(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def _summary_by_member(
    session: Session, codes: dict[int, str]
) -> dict[tuple[str, str, str], Decimal]:
    """Summary points by (member code, month, rule); rows netting to 0 left out."""
    totals: dict[tuple[str, str, str], Decimal] = {}
    for row in session.scalars(select(PointsSummary)):
        key = (codes[row.member_id], row.period, row.rule_id)
        totals[key] = totals.get(key, Decimal(0)) + row.points
    return {key: points for key, points in totals.items() if points != 0}


def _ledger_snapshot(session: Session) -> dict[int, tuple[Any, ...]]:
    return {
        line.id: (
            line.member_id,
            line.branch_id,
            line.period,
            line.activity_date,
            line.source,
            line.activity_key,
            line.entry_id,
            line.adjustment_id,
            line.rule_id,
            line.ruleset_version,
            line.kind,
            line.points,
            line.note,
            line.created_at,
            line.created_by_id,
        )
        for line in session.scalars(select(LedgerLine))
    }


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, database: Database, rulebook: Rulebook) -> None:
        super().__init__()
        self.database = database
        self.rulebook = rulebook
        self.town = Town.build(database)
        self.clock = Clock()
        self.entries: dict[int, EntryFact] = {}
        self.adjustments: list[AdjustmentFact] = []
        self.lines: dict[int, tuple[Any, ...]] = {}
        self.order_seed = 0

    # --- actions ----------------------------------------------------------------------

    @initialize(seed=st.integers(0, 2**16))
    def remember_seed(self, seed: int) -> None:
        self.order_seed = seed

    @rule(
        member=st.sampled_from(MEMBERS),
        rule_id=st.sampled_from(DECLARED),
        day=st.sampled_from(DAYS),
        hours=st.sampled_from(VOLUNTEER_HOURS),
    )
    def submit(self, member: str, rule_id: str, day: date, hours: str) -> None:
        quantity = Decimal(hours) if rule_id == "volunteer" else Decimal(1)
        entry_id = self._submit(member, rule_id, day, quantity)
        self.entries[entry_id] = EntryFact(member, rule_id, day, quantity)

    @rule(
        member=st.sampled_from(MEMBERS),
        rule_id=st.sampled_from(DECLARED),
        day=st.sampled_from(DAYS),
        hours=st.sampled_from(VOLUNTEER_HOURS),
    )
    def submit_and_approve(self, member: str, rule_id: str, day: date, hours: str) -> None:
        self.submit(member, rule_id, day, hours)
        entry_id = max(self.entries)
        self._approve(entry_id)
        self.entries[entry_id].status = "approved"

    @precondition(lambda self: self._with("pending"))
    @rule(data=st.data())
    def approve(self, data: st.DataObject) -> None:
        entry_id = data.draw(st.sampled_from(self._with("pending")))
        self._approve(entry_id)
        self.entries[entry_id].status = "approved"
        # Approving twice is a clear error, and nothing moves.
        with pytest.raises(Conflict), self.database.transaction() as session:
            approve_entry(
                session, self.town.who("s"), self.rulebook, entry_id, now=self.clock.tick()
            )

    @precondition(lambda self: self._with("pending"))
    @rule(data=st.data())
    def reject(self, data: st.DataObject) -> None:
        entry_id = data.draw(st.sampled_from(self._with("pending")))
        with self.database.transaction() as session:
            reject_entry(
                session, self.town.who("s"), entry_id, "与支部记录不符", now=self.clock.tick()
            )
        self.entries[entry_id].status = "rejected"

    @precondition(lambda self: self._with("approved"))
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        entry_id = data.draw(st.sampled_from(self._with("approved")))
        with self.database.transaction() as session:
            revoke_entry(
                session,
                self.town.who("s"),
                self.rulebook,
                entry_id,
                "经核实与支部记录不符",
                now=self.clock.tick(),
            )
        self.entries[entry_id].status = "revoked"

    @rule(
        member=st.sampled_from(MEMBERS),
        rule_id=st.sampled_from(
            ("missed_meeting", "dues_overdue", "shirking", MANUAL_RULE_ID, "good_deed")
        ),
        day=st.sampled_from(DAYS),
        reminders=st.sampled_from(("1", "2")),
        points=st.sampled_from(("-2.5", "1", "3")),
    )
    def adjust(self, member: str, rule_id: str, day: date, reminders: str, points: str) -> None:
        manual = rule_id == MANUAL_RULE_ID
        fact = AdjustmentFact(
            member,
            rule_id,
            day,
            Decimal(reminders) if rule_id == "dues_overdue" else Decimal(1),
            Decimal(points) if manual else None,
        )
        ruleset = self.rulebook.in_force(day)
        rule = ruleset.rule(rule_id) if ruleset else None
        if not manual and (rule is None or rule.member_declares):
            # A member-declared rule, or a deduction the rules of that day do not have.
            with pytest.raises(InvalidInput):
                self._adjust(fact)
            return
        self._adjust(fact)
        self.adjustments.append(fact)

    @precondition(lambda self: self._suggestions())
    @rule(data=st.data(), day=st.sampled_from(DAYS))
    def mark(self, data: st.DataObject, day: date) -> None:
        entry_id = data.draw(st.sampled_from(self._suggestions()))
        fact = self.entries[entry_id]
        step = Step.ADOPTED if fact.adopted_on is None else Step.IMPLEMENTED
        after = fact.day if fact.adopted_on is None else fact.adopted_on
        if day < after:
            with pytest.raises(InvalidInput):
                self._mark(entry_id, step, day)
            return
        self._mark(entry_id, step, day)
        if step == Step.ADOPTED:
            fact.adopted_on = day
        else:
            fact.implemented_on = day

    # --- service calls ----------------------------------------------------------------

    def _submit(self, member: str, rule_id: str, day: date, quantity: Decimal) -> int:
        with self.database.transaction() as session:
            return submit_entry(
                session,
                self.town.who(member),
                self.rulebook,
                EntryInput(rule_id, day, quantity, "在西山桥路口指挥交通"),
                # Declared on the day itself: the days span two years, further back than
                # a member may declare (declare_months_back).
                today=day,
                now=self.clock.tick(),
            )

    def _approve(self, entry_id: int) -> None:
        with self.database.transaction() as session:
            approve_entry(
                session, self.town.who("s"), self.rulebook, entry_id, now=self.clock.tick()
            )

    def _adjust(self, fact: AdjustmentFact) -> None:
        data = AdjustmentInput(
            member_id=self.town.member_ids[fact.member],
            rule_id=fact.rule_id,
            day=fact.day,
            reason="经支委会研究决定",
            quantity=fact.quantity,
            points=fact.points,
        )
        with self.database.transaction() as session:
            record_adjustment(
                session, self.town.who("s"), self.rulebook, data, today=TODAY, now=self.clock.tick()
            )

    def _mark(self, entry_id: int, step: str, day: date) -> None:
        with self.database.transaction() as session:
            mark_step(
                session,
                self.town.who("s"),
                self.rulebook,
                entry_id,
                step,
                day=day,
                today=TODAY,
                now=self.clock.tick(),
            )

    def _with(self, status: str) -> list[int]:
        return sorted(i for i, fact in self.entries.items() if fact.status == status)

    def _suggestions(self) -> list[int]:
        return [
            i
            for i in self._with("approved")
            if self.entries[i].rule_id == "suggestion" and self.entries[i].implemented_on is None
        ]

    # --- (b), (c), (d) after every step ---------------------------------------------------

    @invariant()
    def caps_are_never_exceeded(self) -> None:
        used: dict[tuple[int, str, str, Any], Decimal] = {}
        days: dict[tuple[int, str, str, Any], date] = {}
        with self.database.transaction(write=False) as session:
            for line in session.scalars(select(LedgerLine).where(LedgerLine.source == "entry")):
                day = line.activity_date
                windows = {
                    "cap_per_day": day,
                    "cap_per_month": (day.year, day.month),
                    "cap_per_year": day.year,
                }
                for name, window in windows.items():
                    key = (line.member_id, line.rule_id, name, window)
                    used[key] = used.get(key, Decimal(0)) + line.points
                    days[key] = day
        for key, points in used.items():
            ruleset = self.rulebook.in_force(days[key])
            rule = ruleset.rule(key[1]) if ruleset else None
            assert rule is not None
            cap = rule.caps.get(key[2])
            assert points >= 0, key
            assert cap is None or points <= cap, (key, points, cap)

    @invariant()
    def recomputing_from_scratch_gives_the_stored_numbers(self) -> None:
        with self.database.transaction(write=False) as session:
            report = verify_ledger(session, self.rulebook)
            assert report.ok, [d.describe() for d in report.differences]
            # The pure engine over the approved facts, summed like the summary table.
            expected: dict[tuple[int, str, int, str], Decimal] = {}
            for member_id, year in member_years(session):
                activities = member_activities(session, self.rulebook, member_id, year)
                for scored in score_activities(activities, self.rulebook):
                    a = scored.activity
                    key = (member_id, period_of(a.day), a.branch_id, a.rule_id)
                    expected[key] = expected.get(key, Decimal(0)) + scored.counted
                    # No activity ever counts more than it is worth.
                    assert scored.counted <= scored.raw or scored.raw < 0
            stored = {
                (row.member_id, row.period, row.branch_id, row.rule_id): row.points
                for row in session.scalars(select(PointsSummary))
            }
        assert {k: v for k, v in stored.items() if v} == {k: v for k, v in expected.items() if v}

    @invariant()
    def the_ledger_is_append_only(self) -> None:
        with self.database.transaction(write=False) as session:
            lines = _ledger_snapshot(session)
        assert len(lines) >= len(self.lines)
        for line_id, line in self.lines.items():
            assert lines.get(line_id) == line, line_id
        self.lines = lines
        # What the example went through (shown by --hypothesis-show-statistics).
        for line in lines.values():
            if line[10] is LedgerKind.AWARD and line[12]:
                event("an award clipped by a cap")
            elif line[10] is not LedgerKind.AWARD:
                event(f"a {line[10].value} line")

    # --- (a) at the end of each example --------------------------------------------------

    def teardown(self) -> None:
        codes = {member_id: username for username, member_id in self.town.member_ids.items()}
        with self.database.transaction(write=False) as session:
            before = _summary_by_member(session, codes)
        self.replay_final_facts_in_another_order()
        with self.database.transaction(write=False) as session:
            codes = {member_id: username for username, member_id in self.town.member_ids.items()}
            after = _summary_by_member(session, codes)
            report = verify_ledger(session, self.rulebook)
        assert report.ok, [d.describe() for d in report.differences]
        assert after == before

    def replay_final_facts_in_another_order(self) -> None:
        """Empty the database, then apply only the final facts, shuffled: each approved
        entry submitted and approved, its steps after it (adopted before implemented),
        each adjustment. Revoked and rejected entries leave no fact behind."""
        self.town = Town.build(self.database)
        new_ids: dict[int, int] = {}
        # (name, prerequisite, action)
        ops: list[tuple[str, str | None, Callable[[], None]]] = []
        for old_id, fact in self.entries.items():
            if fact.status != "approved":
                continue

            def approve(old_id: int = old_id, fact: EntryFact = fact) -> None:
                new_ids[old_id] = self._submit(fact.member, fact.rule_id, fact.day, fact.quantity)
                self._approve(new_ids[old_id])

            ops.append((f"entry:{old_id}", None, approve))
            steps = ((Step.ADOPTED, fact.adopted_on), (Step.IMPLEMENTED, fact.implemented_on))
            before = f"entry:{old_id}"
            for step, day in steps:
                if day is None:
                    continue

                def mark(old_id: int = old_id, step: str = step, day: date = day) -> None:
                    self._mark(new_ids[old_id], step, day)

                ops.append((f"{step}:{old_id}", before, mark))
                before = f"{step}:{old_id}"
        for number, adjustment in enumerate(self.adjustments):

            def adjust(adjustment: AdjustmentFact = adjustment) -> None:
                self._adjust(adjustment)

            ops.append((f"adjustment:{number}", None, adjust))

        random.Random(self.order_seed).shuffle(ops)
        done: set[str] = set()
        while ops:
            waiting: list[tuple[str, str | None, Callable[[], None]]] = []
            for name, needs, apply in ops:
                if needs is None or needs in done:
                    apply()
                    done.add(name)
                else:
                    waiting.append((name, needs, apply))
            assert len(waiting) < len(ops), "replay stuck"
            ops = waiting


def test_ledger_properties_hold_for_any_sequence(database: Database, rulebook: Rulebook) -> None:
    tight = tight_rulebook(rulebook)
    run_state_machine_as_test(
        # Hypothesis takes any factory; its stub says a class.
        lambda: LedgerMachine(database, tight),  # type: ignore[arg-type]
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )


def test_the_tight_rules_are_valid_and_tighter(rulebook: Rulebook) -> None:
    tight = tight_rulebook(rulebook)
    ruleset = tight.in_force(date(2026, 6, 1))
    assert ruleset is not None
    good_deed = ruleset.rule("good_deed")
    assert good_deed is not None and good_deed.cap_per_day == Decimal(2)
    # One entry of 4 hours (12 points) is more than the day's room: a single entry clips.
    volunteer = ruleset.rule("volunteer")
    assert volunteer is not None and entry_points(volunteer, Decimal(4)) > Decimal(9)
    assert tight.in_force(DAYS[0]) == rulebook.in_force(DAYS[0])
