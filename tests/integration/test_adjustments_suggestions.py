"""Deductions, manual adjustments, suggestion steps, revocation and the explanation of
a member's points, on the real (migrated) database."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from service.accounts.permissions import can_record_adjustment, can_view_points
from service.accounts.principal import Principal
from service.boards.live import member_board
from service.entries.adjustments import AdjustmentInput, adjustable_members, record_adjustment
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry, revoke_entry, revoke_member_entry
from service.entries.suggestions import Step, branch_suggestions, mark_step, reviewer_branches
from service.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from service.kernel.periods import period_of, town_today
from service.ledger.explain import Explanation, LineKind, can_revoke, explain_for, explain_member
from service.ledger.verify import verify_ledger
from service.persistence.db import Database
from service.persistence.models import (
    Adjustment,
    Entry,
    EntryStatus,
    LedgerKind,
    LedgerLine,
    PointsSummary,
)
from service.persistence.types import utcnow
from service.scoring.engine import MANUAL_RULE_ID
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

ZERO = Decimal("0.0")


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


TODAY = today()
PERIOD = period_of(TODAY)


class People:
    """Service calls on behalf of the small town's people, one transaction each."""

    def __init__(self, database: Database, town: SmallTown, rulebook: Rulebook) -> None:
        self.database = database
        self.town = town
        self.rulebook = rulebook
        self._principals: dict[str, Principal] = {}

    def who(self, username: str) -> Principal:
        if username not in self._principals:
            self._principals[username] = self.town.principal(self.database, username)
        return self._principals[username]

    def member(self, username: str) -> int:
        return self.town.member_ids[username]

    def approved(
        self, username: str, rule_id: str, quantity: str = "1", *, day: date | None = None
    ) -> int:
        reviewer = "instructor" if username == "secretary" else "secretary"
        if username in {"member3", "secretary2"}:
            reviewer = "secretary2" if username == "member3" else "admin"
        with self.database.transaction() as session:
            entry_id = submit_entry(
                session,
                self.who(username),
                self.rulebook,
                EntryInput(rule_id, day or TODAY, Decimal(quantity), f"{rule_id} 的经过"),
                today=TODAY,
                now=utcnow(),
            )
        with self.database.transaction() as session:
            approve_entry(session, self.who(reviewer), self.rulebook, entry_id, now=utcnow())
        return entry_id

    def adjust(self, actor: str, username: str, rule_id: str, **fields: Any) -> int:
        data = AdjustmentInput(
            member_id=self.member(username),
            rule_id=rule_id,
            day=fields.pop("day", TODAY),
            reason=fields.pop("reason", "支部委员会决定"),
            **fields,
        )
        with self.database.transaction() as session:
            return record_adjustment(
                session, self.who(actor), self.rulebook, data, today=TODAY, now=utcnow()
            )

    def step(self, actor: str, entry_id: int, step: str, day: date | None = None) -> None:
        with self.database.transaction() as session:
            mark_step(
                session,
                self.who(actor),
                self.rulebook,
                entry_id,
                step,
                day=day or TODAY,
                today=TODAY,
                now=utcnow(),
            )

    def revoke(self, actor: str, entry_id: int, reason: str = "重复申报") -> None:
        with self.database.transaction() as session:
            revoke_entry(session, self.who(actor), self.rulebook, entry_id, reason, now=utcnow())

    def explain(self, username: str, year: int = TODAY.year) -> Explanation:
        with self.database.transaction(write=False) as session:
            return explain_member(session, self.rulebook, self.member(username), year, as_of=TODAY)

    def month_points(self, username: str, period: str = PERIOD) -> Decimal:
        """What the town board shows for the member in a month."""
        with self.database.transaction(write=False) as session:
            board = member_board(session, period)
        for line in [r.item for r in board.ranked] + board.exempt + board.unscored:
            if line.member_id == self.member(username):
                return line.points
        return ZERO

    def summary_points(self, username: str) -> Decimal:
        with self.database.transaction(write=False) as session:
            total = session.scalar(
                select(func.sum(PointsSummary.points)).where(
                    PointsSummary.member_id == self.member(username)
                )
            )
        return total or ZERO

    def ledger(self, username: str | None = None) -> list[LedgerLine]:
        query = select(LedgerLine).order_by(LedgerLine.id)
        if username is not None:
            query = query.where(LedgerLine.member_id == self.member(username))
        with self.database.transaction(write=False) as session:
            return list(session.scalars(query))

    def adjustments(self) -> int:
        with self.database.transaction(write=False) as session:
            return session.scalar(select(func.count()).select_from(Adjustment)) or 0

    def entry(self, entry_id: int) -> Entry:
        with self.database.transaction(write=False) as session:
            entry = session.get(Entry, entry_id)
            assert entry is not None
            return entry

    def ledger_is_consistent(self) -> bool:
        with self.database.transaction(write=False) as session:
            return verify_ledger(session, self.rulebook).ok


@pytest.fixture
def people(database: Database, town: SmallTown, rulebook: Rulebook) -> People:
    return People(database, town, rulebook)


# --- deductions and adjustments ------------------------------------------------------


def test_a_deduction_by_the_own_secretary_writes_the_ledger_and_the_summary(
    people: People,
) -> None:
    people.approved("member", "good_deed")
    before = people.explain("member").score.total
    adjustment_id = people.adjust("secretary", "member", "missed_meeting", reason="缺席十月支委会")

    line = people.ledger("member")[-1]
    assert line.adjustment_id == adjustment_id
    assert line.kind is LedgerKind.AWARD
    assert line.rule_id == "missed_meeting"
    assert line.points == Decimal("-2.0")
    assert people.summary_points("member") == Decimal("0.0")  # +2 good deed, -2 deduction
    assert people.month_points("member") == Decimal("0.0")
    assert people.explain("member").score.total == before - 2
    assert people.ledger_is_consistent()


def test_a_per_unit_deduction_counts_each_unit(people: People) -> None:
    people.adjust("secretary", "member2", "dues_overdue", quantity=Decimal(3))
    assert people.summary_points("member2") == Decimal("-6.0")
    [line] = people.explain("member2").lines
    assert line.kind is LineKind.DEDUCTION
    assert line.quantity == Decimal(3)
    assert line.counted == Decimal("-6.0")


def test_a_manual_adjustment_adds_its_own_points(people: People) -> None:
    people.adjust("secretary", "member", MANUAL_RULE_ID, points=Decimal("1.5"), reason="补录")
    people.adjust("admin", "member", MANUAL_RULE_ID, points=Decimal("-0.5"), reason="更正")
    assert people.summary_points("member") == Decimal("1.0")
    lines = people.explain("member").lines
    assert [(line.kind, line.counted, line.text) for line in lines] == [
        (LineKind.ADJUSTMENT, Decimal("1.5"), "补录"),
        (LineKind.ADJUSTMENT, Decimal("-0.5"), "更正"),
    ]


def test_another_branchs_secretary_and_a_member_are_denied(people: People) -> None:
    for actor in ("secretary2", "member2", "instructor"):
        with pytest.raises(PermissionDenied):
            people.adjust(actor, "member", "missed_meeting")
    assert people.adjustments() == 0
    assert people.ledger() == []


def test_nobody_adjusts_their_own_points(people: People) -> None:
    with pytest.raises(PermissionDenied):
        people.adjust("secretary", "secretary", MANUAL_RULE_ID, points=Decimal(5))
    assert people.adjustments() == 0


@pytest.mark.parametrize(
    ("rule_id", "fields", "field"),
    [
        ("missed_meeting", {"reason": "   "}, "reason"),
        ("missed_meeting", {"reason": "x" * 501}, "reason"),
        ("missed_meeting", {"day": TODAY + timedelta(days=1)}, "day"),
        ("good_deed", {}, "rule_id"),  # members declare it; not a deduction
        ("no_such_rule", {}, "rule_id"),
        ("dues_overdue", {"quantity": Decimal(0)}, "quantity"),
        ("missed_meeting", {"quantity": Decimal(2)}, "quantity"),
        (MANUAL_RULE_ID, {}, "points"),
        (MANUAL_RULE_ID, {"points": Decimal(0)}, "points"),
        (MANUAL_RULE_ID, {"points": Decimal("0.25")}, "points"),
        (MANUAL_RULE_ID, {"points": Decimal(500)}, "points"),
    ],
)
def test_bad_adjustments_are_refused_and_nothing_is_written(
    people: People, rule_id: str, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        people.adjust("secretary", "member", rule_id, **fields)
    assert field in refused.value.errors
    assert people.adjustments() == 0
    assert people.ledger() == []


def test_an_adjustment_from_another_branchs_page_is_refused(people: People) -> None:
    with pytest.raises(InvalidInput) as refused:
        people.adjust("admin", "member3", "missed_meeting", branch_id=people.town.jinwan)
    assert "member_id" in refused.value.errors
    assert people.adjustments() == 0


def test_adjustable_members_are_the_branch_without_the_secretary(
    people: People, database: Database
) -> None:
    with database.transaction(write=False) as session:
        names = [
            m.name for m in adjustable_members(session, people.who("secretary"), people.town.jinwan)
        ]
        assert names == ["张伟", "李娜", "赵老"]
        with pytest.raises(PermissionDenied):
            adjustable_members(session, people.who("instructor"), people.town.jinwan)
        with pytest.raises(PermissionDenied):
            adjustable_members(session, people.who("secretary2"), people.town.jinwan)
        with pytest.raises(NotFound):
            adjustable_members(session, people.who("admin"), 999999)


def test_the_points_floor_holds_under_deductions(people: People) -> None:
    for _ in range(7):
        people.adjust("secretary", "member", "shirking")
    score = people.explain("member").score
    assert score.points == Decimal("-70.0")
    assert score.total == Decimal("0.0")  # base 60, floor 0
    assert score.floored
    assert score.flagged
    assert score.stars == 0


# --- suggestions ---------------------------------------------------------------------


def test_a_suggestion_goes_approved_adopted_implemented_adding_points(people: People) -> None:
    entry_id = people.approved("member", "suggestion")
    assert people.summary_points("member") == Decimal("1.0")
    people.step("secretary", entry_id, Step.ADOPTED)
    assert people.summary_points("member") == Decimal("4.0")
    people.step("instructor", entry_id, Step.IMPLEMENTED)
    assert people.summary_points("member") == Decimal("6.0")
    entry = people.entry(entry_id)
    assert entry.adopted_on == TODAY
    assert entry.implemented_on == TODAY
    kinds = [line.kind for line in people.explain("member").lines]
    assert kinds == [LineKind.ENTRY, LineKind.ADOPTED, LineKind.IMPLEMENTED]
    assert people.ledger_is_consistent()

    with people.database.transaction(write=False) as session:
        [view] = branch_suggestions(
            session, people.who("secretary"), people.rulebook, people.town.jinwan
        )
    assert view.stage == Step.IMPLEMENTED
    assert view.next_step is None
    assert (view.approved_points, view.adopted_points, view.implemented_points) == (
        Decimal("1.0"),
        Decimal("3.0"),
        Decimal("2.0"),
    )


def test_suggestion_steps_out_of_order_or_twice_are_refused(people: People) -> None:
    entry_id = people.approved("member", "suggestion")
    with pytest.raises(Conflict):
        people.step("secretary", entry_id, Step.IMPLEMENTED)
    people.step("secretary", entry_id, Step.ADOPTED)
    with pytest.raises(Conflict):
        people.step("secretary", entry_id, Step.ADOPTED)
    people.step("secretary", entry_id, Step.IMPLEMENTED)
    with pytest.raises(Conflict):
        people.step("secretary", entry_id, Step.IMPLEMENTED)
    assert people.summary_points("member") == Decimal("6.0")


def test_steps_of_what_is_not_an_approved_suggestion_are_refused(people: People) -> None:
    deed = people.approved("member", "good_deed")
    with pytest.raises(Conflict):
        people.step("secretary", deed, Step.ADOPTED)
    with people.database.transaction() as session:
        pending = submit_entry(
            session,
            people.who("member2"),
            people.rulebook,
            EntryInput("suggestion", TODAY, Decimal(1), "在西山桥路口装路灯"),
            today=TODAY,
            now=utcnow(),
        )
    with pytest.raises(Conflict):
        people.step("secretary", pending, Step.ADOPTED)
    with pytest.raises(NotFound):
        people.step("secretary", 999999, Step.ADOPTED)
    assert people.summary_points("member") == Decimal("2.0")
    assert people.summary_points("member2") == ZERO


def test_step_permissions_and_dates(people: People) -> None:
    own = people.approved("secretary", "suggestion")
    with pytest.raises(PermissionDenied):
        people.step("secretary", own, Step.ADOPTED)  # nobody marks their own
    other = people.approved("member", "suggestion")
    with pytest.raises(PermissionDenied):
        people.step("secretary2", other, Step.ADOPTED)
    with pytest.raises(PermissionDenied):
        people.step("member2", other, Step.ADOPTED)
    with pytest.raises(InvalidInput) as refused:
        people.step("secretary", other, Step.ADOPTED, TODAY + timedelta(days=1))
    assert "day" in refused.value.errors
    with pytest.raises(InvalidInput):
        people.step("secretary", other, Step.ADOPTED, TODAY - timedelta(days=1))
    assert people.entry(other).adopted_on is None
    with pytest.raises(NotFound):
        people.step("secretary", other, "celebrated")


def test_branch_suggestions_are_for_the_branchs_reviewers(people: People) -> None:
    people.approved("member", "suggestion")
    with people.database.transaction(write=False) as session:
        for username in ("member", "secretary2"):
            with pytest.raises(PermissionDenied):
                branch_suggestions(
                    session, people.who(username), people.rulebook, people.town.jinwan
                )
        with pytest.raises(NotFound):
            branch_suggestions(session, people.who("admin"), people.rulebook, 999999)
        assert [b.name for b in reviewer_branches(session, people.who("instructor"))] == [
            "金湾工业园区联合党支部"
        ]
        assert len(reviewer_branches(session, people.who("admin"))) == 2
        with pytest.raises(PermissionDenied):
            reviewer_branches(session, people.who("member"))


# --- revocation ----------------------------------------------------------------------


def test_revoking_reverses_the_points_and_the_summary(people: People) -> None:
    kept = people.approved("member", "good_deed")
    revoked = people.approved("member", "volunteer", "2")
    assert people.summary_points("member") == Decimal("8.0")
    people.revoke("secretary", revoked, "活动未实际开展")

    assert people.summary_points("member") == Decimal("2.0")
    assert people.month_points("member") == Decimal("2.0")
    reversal = people.ledger("member")[-1]
    assert reversal.kind is LedgerKind.REVERSAL
    assert reversal.entry_id == revoked
    assert reversal.points == Decimal("-6.0")
    assert reversal.note == "活动未实际开展"
    assert len(people.ledger()) == 3  # nothing deleted, one line appended
    explanation = people.explain("member")
    assert [line.source_id for line in explanation.lines] == [kept]
    assert [(r.entry_id, r.reason) for r in explanation.revoked] == [(revoked, "活动未实际开展")]
    assert people.entry(revoked).status is EntryStatus.REVOKED
    assert people.ledger_is_consistent()


def test_revoking_a_suggestion_takes_back_its_steps(people: People) -> None:
    entry_id = people.approved("member", "suggestion")
    people.step("secretary", entry_id, Step.ADOPTED)
    people.revoke("secretary", entry_id)
    assert people.summary_points("member") == ZERO
    kinds = {line.activity_key: line.kind for line in people.ledger("member")[-2:]}
    assert kinds == {
        f"entry:{entry_id}": LedgerKind.REVERSAL,
        f"adopted:{entry_id}": LedgerKind.REVERSAL,
    }


def test_revoking_frees_cap_room_for_a_later_entry(people: People) -> None:
    deeds = [people.approved("member", "good_deed") for _ in range(6)]  # cap 10 a month
    assert people.summary_points("member") == Decimal("10.0")
    people.revoke("secretary", deeds[0])
    assert people.summary_points("member") == Decimal("10.0")  # the sixth now counts
    moved = people.ledger("member")[-1]
    assert moved.entry_id == deeds[-1]
    assert moved.kind is LedgerKind.CAP
    assert moved.points == Decimal("2.0")
    assert people.ledger_is_consistent()


def test_revoke_needs_a_reason_a_reviewer_and_an_approved_entry(people: People) -> None:
    entry_id = people.approved("member", "good_deed")
    with pytest.raises(InvalidInput):
        people.revoke("secretary", entry_id, "  ")
    with pytest.raises(PermissionDenied):
        people.revoke("secretary2", entry_id)
    with pytest.raises(PermissionDenied):
        people.revoke("member2", entry_id)
    own = people.approved("secretary", "good_deed")
    with pytest.raises(PermissionDenied):
        people.revoke("secretary", own)  # their own entry: the instructor may
    people.revoke("instructor", own)
    people.revoke("secretary", entry_id)
    with pytest.raises(Conflict):
        people.revoke("secretary", entry_id)  # twice
    assert people.summary_points("member") == ZERO
    assert people.summary_points("secretary") == ZERO


def test_revoke_from_a_points_page_checks_the_entry_is_that_members(people: People) -> None:
    entry_id = people.approved("member", "good_deed")
    with people.database.transaction() as session, pytest.raises(NotFound):
        revoke_member_entry(
            session,
            people.who("secretary"),
            people.rulebook,
            people.member("member2"),
            entry_id,
            "错人",
            now=utcnow(),
        )
    with people.database.transaction() as session:
        year = revoke_member_entry(
            session,
            people.who("secretary"),
            people.rulebook,
            people.member("member"),
            entry_id,
            "重复",
            now=utcnow(),
        )
    assert year == TODAY.year
    assert people.entry(entry_id).status is EntryStatus.REVOKED


# --- explanation ---------------------------------------------------------------------


def test_the_explanation_sums_to_the_total_and_matches_the_board(people: People) -> None:
    for _ in range(6):
        people.approved("member", "good_deed")  # 12 raw, capped at 10 a month
    people.approved("member", "volunteer", "1.5")  # 2 hours: 6
    suggestion = people.approved("member", "suggestion")
    people.step("secretary", suggestion, Step.ADOPTED)
    people.adjust("secretary", "member", "missed_study")
    people.adjust("secretary", "member", MANUAL_RULE_ID, points=Decimal("0.5"))

    explanation = people.explain("member")
    score = explanation.score
    line_sum = sum((line.counted for line in explanation.lines), ZERO)
    assert line_sum == sum((month.total for month in explanation.months), ZERO)
    assert score.points == line_sum == Decimal("17.5")  # 10 + 6 + 1 + 3 - 3 + 0.5
    assert score.base == Decimal("60.0")
    assert score.total == score.base + line_sum == Decimal("77.5")
    assert score.stars == 2
    assert explanation.next_threshold == Decimal(80)
    assert explanation.to_next_star == Decimal("2.5")
    assert not score.flagged
    for month in explanation.months:
        assert month.total == people.month_points("member", month.period)
    assert people.summary_points("member") == line_sum

    clipped = [line for line in explanation.lines if line.clipped]
    assert len(clipped) == 1
    [line] = clipped
    assert (line.rule_id, line.raw, line.counted) == ("good_deed", Decimal("2.0"), ZERO)
    assert line.clipped_by == ("cap_per_month",)
    assert line.caps == (("cap_per_month", Decimal(10)),)
    deduction = next(line for line in explanation.lines if line.kind is LineKind.DEDUCTION)
    assert deduction.text == "支部委员会决定"
    assert deduction.ruleset_version == explanation.score.ruleset_version


def test_explanation_by_month_follows_the_activity_date(people: People) -> None:
    if TODAY.month == 1:
        pytest.skip("needs an earlier month in the same year")
    earlier = TODAY.replace(day=1) - timedelta(days=1)
    people.approved("member", "good_deed", day=earlier)
    people.approved("member", "good_deed")
    explanation = people.explain("member")
    assert [month.period for month in explanation.months] == [period_of(earlier), PERIOD]
    for month in explanation.months:
        assert month.total == people.month_points("member", month.period) == Decimal("2.0")


def test_who_may_see_a_members_points(people: People) -> None:
    member = people.member("member")
    jinwan = people.town.jinwan
    allowed = {"member", "secretary", "instructor", "admin"}
    for username in ("member", "member2", "secretary", "secretary2", "instructor", "admin"):
        assert can_view_points(people.who(username), member, jinwan) is (username in allowed)
    with people.database.transaction(write=False) as session:
        explain_for(
            session, people.who("secretary"), people.rulebook, member, TODAY.year, as_of=TODAY
        )
        with pytest.raises(PermissionDenied):
            explain_for(
                session, people.who("secretary2"), people.rulebook, member, TODAY.year, as_of=TODAY
            )
        with pytest.raises(NotFound):
            explain_for(session, people.who("admin"), people.rulebook, 999999, 2026, as_of=TODAY)
    assert can_record_adjustment(people.who("secretary"), member, jinwan)
    assert can_record_adjustment(people.who("admin"), member, jinwan)
    assert not can_record_adjustment(people.who("instructor"), member, jinwan)
    assert not can_record_adjustment(people.who("secretary"), people.member("secretary"), jinwan)


def test_revoke_is_offered_only_where_the_service_accepts_it(people: People) -> None:
    people.approved("member", "good_deed")
    people.adjust("secretary", "member", "missed_meeting")
    lines = people.explain("member").lines
    entry_line, deduction_line = lines
    member = people.member("member")
    assert can_revoke(people.who("secretary"), member, entry_line)
    assert can_revoke(people.who("instructor"), member, entry_line)
    assert not can_revoke(people.who("secretary2"), member, entry_line)
    assert not can_revoke(people.who("member"), member, entry_line)
    assert not can_revoke(people.who("secretary"), member, deduction_line)


def test_a_member_starts_the_year_at_the_base_score(people: People) -> None:
    explanation = people.explain("member2")
    assert explanation.months == ()
    assert explanation.score.total == Decimal("60.0")
    assert explanation.score.stars == 1
    assert explanation.to_next_star == Decimal("10.0")


def test_the_ledger_keeps_every_line_per_activity(people: People) -> None:
    """The per-month view of the ledger equals the explanation's months."""
    people.approved("member", "good_deed")
    people.adjust("secretary", "member", "missed_meeting")
    by_period: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in people.ledger("member"):
        by_period[line.period] += line.points
    explanation = people.explain("member")
    assert dict(by_period) == {month.period: month.total for month in explanation.months}
