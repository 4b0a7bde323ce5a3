"""Entries, review, ledger and boards on the real (migrated) database."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from service.accounts.principal import Principal
from service.boards.live import branch_board, member_board
from service.entries.entry import EntryInput, member_entries, submit_entry, withdraw_entry
from service.entries.review import approve_entry, reject_entry, review_queue
from service.kernel.config import PROJECT_ROOT
from service.kernel.errors import Conflict, InvalidInput, PermissionDenied
from service.kernel.periods import period_of, town_today
from service.persistence.db import Database
from service.persistence.models import Entry, EntryStatus, LedgerKind, LedgerLine, PointsSummary
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

TIMEZONE = "Asia/Shanghai"


def today() -> date:
    return town_today(utcnow(), TIMEZONE)


PERIOD = period_of(today())


# The version in force today, whichever file that is: the entry must record it.
def _version_in_force() -> str:
    ruleset = Rulebook.from_directory(PROJECT_ROOT / "scoring_rules").in_force(today())
    assert ruleset is not None
    return ruleset.version


IN_FORCE = _version_in_force()


class Town:
    """Service calls on behalf of the small town's people."""

    def __init__(self, database: Database, town: SmallTown, rulebook: Rulebook) -> None:
        self.database = database
        self.town = town
        self.rulebook = rulebook
        self._principals: dict[str, Principal] = {}

    def who(self, username: str) -> Principal:
        if username not in self._principals:
            self._principals[username] = self.town.principal(self.database, username)
        return self._principals[username]

    def submit(
        self,
        username: str,
        rule_id: str = "volunteer",
        quantity: str = "2",
        *,
        day: date | None = None,
        description: str = "在西山桥路口指挥交通",
        now: datetime | None = None,
    ) -> int:
        with self.database.transaction() as session:
            return submit_entry(
                session,
                self.who(username),
                self.rulebook,
                EntryInput(
                    rule_id=rule_id,
                    activity_date=day or today(),
                    quantity=Decimal(quantity),
                    description=description,
                ),
                today=today(),
                now=now or utcnow(),
            )

    def approve(self, reviewer: str, entry_id: int) -> Decimal:
        with self.database.transaction() as session:
            return approve_entry(session, self.who(reviewer), self.rulebook, entry_id, now=utcnow())

    def reject(self, reviewer: str, entry_id: int, reason: str) -> None:
        with self.database.transaction() as session:
            reject_entry(session, self.who(reviewer), entry_id, reason, now=utcnow())

    def withdraw(self, username: str, entry_id: int) -> None:
        with self.database.transaction() as session:
            withdraw_entry(session, self.who(username), entry_id, now=utcnow())

    def entry(self, entry_id: int) -> Entry:
        with self.database.transaction(write=False) as session:
            entry = session.get(Entry, entry_id)
            assert entry is not None
            return entry

    def ledger(self) -> list[LedgerLine]:
        with self.database.transaction(write=False) as session:
            return list(session.scalars(select(LedgerLine).order_by(LedgerLine.id)))

    def summary(self) -> dict[tuple[int, str, int, str], tuple[Decimal, int]]:
        with self.database.transaction(write=False) as session:
            return {
                (row.member_id, row.period, row.branch_id, row.rule_id): (
                    row.points,
                    row.line_count,
                )
                for row in session.scalars(select(PointsSummary))
            }

    def entry_count(self) -> int:
        with self.database.transaction(write=False) as session:
            return session.scalar(select(func.count()).select_from(Entry)) or 0

    def add_entry_for_elder(self, rule_id: str = "good_deed", quantity: str = "1") -> int:
        """The exempt member has no account; record an entry on their behalf."""
        with self.database.transaction() as session:
            entry = Entry(
                member_id=self.town.member_ids["elder"],
                branch_id=self.town.jinwan,
                rule_id=rule_id,
                ruleset_version=IN_FORCE,
                activity_date=today(),
                period=PERIOD,
                quantity=Decimal(quantity),
                description="为职工子女联系入学",
                status=EntryStatus.PENDING,
                submitted_at=utcnow(),
                submitted_by_id=self.town.account_ids["secretary"],
            )
            session.add(entry)
            session.flush()
            return entry.id


@pytest.fixture
def people(database: Database, town: SmallTown, rulebook: Rulebook) -> Town:
    return Town(database, town, rulebook)


# --- submitting ---------------------------------------------------------------------


def test_submit_records_a_pending_entry(people: Town) -> None:
    entry_id = people.submit("member", "volunteer", "1.5", description="  修路灯  ")
    entry = people.entry(entry_id)
    assert entry.status is EntryStatus.PENDING
    assert entry.member_id == people.town.member_ids["member"]
    assert entry.branch_id == people.town.jinwan
    assert entry.ruleset_version == IN_FORCE
    assert entry.period == PERIOD
    assert entry.quantity == Decimal("1.5")
    assert entry.description == "修路灯"
    assert people.ledger() == []
    with people.database.transaction(write=False) as session:
        [view] = member_entries(session, people.who("member"))
    assert view.status is EntryStatus.PENDING
    assert view.points is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"day": "future"}, "activity_date"),
        ({"day": date(2024, 12, 31)}, "activity_date"),  # before any rules were in force
        ({"rule_id": "flying"}, "rule_id"),
        ({"rule_id": "good_deed", "quantity": "2"}, "quantity"),
        ({"rule_id": "volunteer", "quantity": "9"}, "quantity"),
        ({"rule_id": "volunteer", "quantity": "0.4"}, "quantity"),
        ({"description": "   "}, "description"),
        ({"description": "x" * 2001}, "description"),
    ],
)
def test_invalid_entries_are_refused_field_by_field_and_nothing_is_written(
    people: Town, changes: dict[str, object], field: str
) -> None:
    arguments: dict[str, object] = {"rule_id": "volunteer", "quantity": "2"}
    arguments.update(changes)
    if arguments.get("day") == "future":
        arguments["day"] = today() + timedelta(days=1)
    with pytest.raises(InvalidInput) as caught:
        people.submit("member", **arguments)  # type: ignore[arg-type]
    assert set(caught.value.errors) == {field}
    assert people.entry_count() == 0


def test_several_problems_are_reported_together(people: Town) -> None:
    with pytest.raises(InvalidInput) as caught:
        people.submit("member", "good_deed", "2", day=today() + timedelta(days=3), description="")
    assert set(caught.value.errors) == {"activity_date", "quantity", "description"}
    assert people.entry_count() == 0


def test_an_account_without_member_record_cannot_declare(people: Town) -> None:
    with pytest.raises(PermissionDenied):
        people.submit("admin")
    assert people.entry_count() == 0


# --- withdrawing --------------------------------------------------------------------


def test_member_withdraws_own_pending_entry(people: Town) -> None:
    entry_id = people.submit("member")
    people.withdraw("member", entry_id)
    assert people.entry(entry_id).status is EntryStatus.WITHDRAWN
    with people.database.transaction(write=False) as session:
        assert review_queue(session, people.who("secretary")).entries == []


def test_withdrawing_someone_elses_entry_is_denied(people: Town) -> None:
    entry_id = people.submit("member")
    with pytest.raises(PermissionDenied):
        people.withdraw("member2", entry_id)
    with pytest.raises(PermissionDenied):
        people.withdraw("secretary", entry_id)
    assert people.entry(entry_id).status is EntryStatus.PENDING


def test_an_approved_entry_cannot_be_withdrawn(people: Town) -> None:
    entry_id = people.submit("member")
    people.approve("secretary", entry_id)
    with pytest.raises(Conflict):
        people.withdraw("member", entry_id)
    assert people.entry(entry_id).status is EntryStatus.APPROVED
    assert len(people.ledger()) == 1


# --- approving and rejecting --------------------------------------------------------


def test_approval_writes_one_ledger_line_and_the_summary(people: Town) -> None:
    entry_id = people.submit("member", "volunteer", "1.5")
    points = people.approve("secretary", entry_id)
    assert points == Decimal("6.0")

    entry = people.entry(entry_id)
    assert entry.status is EntryStatus.APPROVED
    assert entry.decided_by_id == people.town.account_ids["secretary"]
    [line] = people.ledger()
    assert line.kind is LedgerKind.AWARD
    assert line.entry_id == entry_id
    assert line.rule_id == "volunteer"
    assert line.ruleset_version == IN_FORCE
    assert line.points == Decimal("6.0")
    assert line.member_id == people.town.member_ids["member"]
    assert line.branch_id == people.town.jinwan
    assert line.period == PERIOD
    assert people.summary() == {
        (people.town.member_ids["member"], PERIOD, people.town.jinwan, "volunteer"): (
            Decimal("6.0"),
            1,
        )
    }


def test_approval_and_summary_commit_or_roll_back_together(people: Town) -> None:
    entry_id = people.submit("member", "volunteer", "2")
    with pytest.raises(RuntimeError), people.database.transaction() as session:
        approve_entry(session, people.who("secretary"), people.rulebook, entry_id, now=utcnow())
        raise RuntimeError("the request failed after the service call")
    assert people.entry(entry_id).status is EntryStatus.PENDING
    assert people.ledger() == []
    assert people.summary() == {}


def test_approving_twice_is_a_conflict_and_moves_no_points(people: Town) -> None:
    entry_id = people.submit("member", "volunteer", "2")
    people.approve("secretary", entry_id)
    summary_before = people.summary()
    with pytest.raises(Conflict) as caught:
        people.approve("instructor", entry_id)
    assert "nothing was changed" in str(caught.value)
    assert len(people.ledger()) == 1
    assert people.summary() == summary_before
    assert people.entry(entry_id).decided_by_id == people.town.account_ids["secretary"]


def test_rejecting_needs_a_reason(people: Town) -> None:
    entry_id = people.submit("member")
    with pytest.raises(InvalidInput) as caught:
        people.reject("secretary", entry_id, "   ")
    assert set(caught.value.errors) == {"reason"}
    assert people.entry(entry_id).status is EntryStatus.PENDING


def test_a_rejected_entry_cannot_be_approved(people: Town) -> None:
    entry_id = people.submit("member")
    people.reject("secretary", entry_id, "活动日期与签到表不符")
    entry = people.entry(entry_id)
    assert entry.status is EntryStatus.REJECTED
    assert entry.decision_reason == "活动日期与签到表不符"
    with pytest.raises(Conflict):
        people.approve("secretary", entry_id)
    assert people.ledger() == []
    assert people.summary() == {}


def test_a_withdrawn_entry_cannot_be_approved_or_rejected(people: Town) -> None:
    entry_id = people.submit("member")
    people.withdraw("member", entry_id)
    with pytest.raises(Conflict):
        people.approve("secretary", entry_id)
    with pytest.raises(Conflict):
        people.reject("secretary", entry_id, "reason")
    assert people.ledger() == []


def test_a_secretary_cannot_approve_another_branchs_entry(people: Town) -> None:
    entry_id = people.submit("member")
    with pytest.raises(PermissionDenied):
        people.approve("secretary2", entry_id)
    with pytest.raises(PermissionDenied):
        people.reject("secretary2", entry_id, "not mine")
    assert people.entry(entry_id).status is EntryStatus.PENDING
    assert people.ledger() == []


def test_a_plain_member_cannot_approve(people: Town) -> None:
    entry_id = people.submit("member")
    with pytest.raises(PermissionDenied):
        people.approve("member2", entry_id)
    assert people.ledger() == []


def test_nobody_approves_their_own_entry(people: Town) -> None:
    entry_id = people.submit("secretary", "good_deed", "1")
    with pytest.raises(PermissionDenied):
        people.approve("secretary", entry_id)
    with pytest.raises(PermissionDenied):
        people.reject("secretary", entry_id, "self")
    assert people.entry(entry_id).status is EntryStatus.PENDING
    assert people.ledger() == []


def test_the_instructor_approves_the_secretarys_own_entry(people: Town) -> None:
    entry_id = people.submit("secretary", "good_deed", "1")
    assert people.approve("instructor", entry_id) == Decimal("2.0")
    [line] = people.ledger()
    assert line.member_id == people.town.member_ids["secretary"]
    assert line.created_by_id == people.town.account_ids["instructor"]


def test_the_admin_may_approve_any_branch(people: Town) -> None:
    entry_id = people.submit("member3", "care", "1")
    assert people.approve("admin", entry_id) == Decimal("2.0")


# --- the review queue ---------------------------------------------------------------


def test_review_queue_is_own_branch_oldest_first_without_own_entries(people: Town) -> None:
    start = utcnow() - timedelta(hours=3)
    # Submitted out of id order: the queue follows submission time.
    later = people.submit("member", now=start + timedelta(minutes=30), description="later")
    earlier = people.submit("member2", now=start, description="earlier")
    latest = people.submit("member", now=start + timedelta(minutes=45), description="latest")
    people.submit("member3", now=start - timedelta(hours=1), description="宝元")
    people.submit("secretary", "good_deed", "1", now=start - timedelta(hours=2))
    people.submit("secretary", "study", "1", now=start - timedelta(hours=2))
    decided = people.submit("member2", now=start - timedelta(hours=2))
    people.withdraw("member2", decided)

    with people.database.transaction(write=False) as session:
        queue = review_queue(session, people.who("secretary"))
    assert [e.id for e in queue.entries] == [earlier, later, latest]
    assert [e.description for e in queue.entries] == ["earlier", "later", "latest"]
    assert queue.own_pending == 2

    with people.database.transaction(write=False) as session:
        other = review_queue(session, people.who("secretary2"))
        instructor = review_queue(session, people.who("instructor"))
    assert [e.description for e in other.entries] == ["宝元"]
    assert other.own_pending == 0
    # The instructor sees the secretary's own entries, which the secretary cannot decide.
    assert len(instructor.entries) == 5
    assert instructor.own_pending == 0


def test_a_member_has_no_review_queue(people: Town) -> None:
    with pytest.raises(PermissionDenied), people.database.transaction(write=False) as session:
        review_queue(session, people.who("member"))


# --- the append-only ledger ---------------------------------------------------------


def test_ledger_lines_cannot_be_changed_through_the_orm(people: Town) -> None:
    entry_id = people.submit("member", "volunteer", "2")
    people.approve("secretary", entry_id)
    with (
        pytest.raises(RuntimeError, match="append-only"),
        people.database.transaction() as session,
    ):
        line = session.scalars(select(LedgerLine)).one()
        line.points = Decimal("60.0")
        session.flush()
    [line] = people.ledger()
    assert line.points == Decimal("6.0")


def test_ledger_lines_cannot_be_deleted_through_the_orm(people: Town) -> None:
    entry_id = people.submit("member", "volunteer", "2")
    people.approve("secretary", entry_id)
    with (
        pytest.raises(RuntimeError, match="append-only"),
        people.database.transaction() as session,
    ):
        session.delete(session.scalars(select(LedgerLine)).one())
        session.flush()
    assert len(people.ledger()) == 1


def test_summary_equals_the_ledger_after_a_mix_of_approvals(people: Town) -> None:
    last_month = today().replace(day=1) - timedelta(days=3)
    approvals = [
        ("member", "volunteer", "1.5", None, "secretary"),
        ("member", "volunteer", "0.5", None, "secretary"),
        ("member", "good_deed", "1", None, "instructor"),
        ("member", "volunteer", "8", last_month, "secretary"),
        ("member2", "suggestion", "1", None, "secretary"),
        ("member2", "suggestion", "1", last_month, "admin"),
        ("secretary", "care", "1", None, "instructor"),
        ("member3", "volunteer", "2.4", None, "secretary2"),
        ("member3", "volunteer", "2.5", None, "admin"),
    ]
    for username, rule_id, quantity, day, reviewer in approvals:
        people.approve(reviewer, people.submit(username, rule_id, quantity, day=day))
    rejected = people.submit("member2", "volunteer", "3")
    people.reject("secretary", rejected, "重复申报")
    people.submit("member3", "care", "1")  # still pending

    expected: dict[tuple[int, str, int, str], tuple[Decimal, int]] = {}
    for line in people.ledger():
        key = (line.member_id, line.period, line.branch_id, line.rule_id)
        points, count = expected.get(key, (Decimal("0.0"), 0))
        expected[key] = (points + line.points, count + 1)
    assert len(people.ledger()) == len(approvals)
    assert people.summary() == expected

    member = people.town.member_ids["member"]
    assert expected[(member, PERIOD, people.town.jinwan, "volunteer")] == (Decimal("9.0"), 2)
    assert expected[(member, period_of(last_month), people.town.jinwan, "volunteer")] == (
        Decimal("24.0"),
        1,
    )
    member3 = people.town.member_ids["member3"]
    assert expected[(member3, PERIOD, people.town.baoyuan, "volunteer")] == (Decimal("15.0"), 2)


# --- boards -------------------------------------------------------------------------


def _approve_a_month(people: Town) -> None:
    """member 6.0 and member2 6.0 (a tie), member3 11.0, secretary 1.0."""
    people.approve("secretary", people.submit("member", "volunteer", "2"))
    people.approve("secretary", people.submit("member2", "volunteer", "1.5"))
    people.approve("secretary2", people.submit("member3", "volunteer", "3"))
    people.approve("secretary2", people.submit("member3", "good_deed", "1"))
    people.approve("instructor", people.submit("secretary", "suggestion", "1"))


def test_member_board_ranks_the_town_with_shared_ranks(people: Town) -> None:
    _approve_a_month(people)
    people.approve("secretary", people.add_entry_for_elder())
    with people.database.transaction(write=False) as session:
        board = member_board(session, PERIOD)
    rows = [(r.rank, r.tied, r.item.name, r.item.points) for r in board.ranked]
    assert rows == [
        (1, False, "刘洋", Decimal("11.0")),
        (2, True, "张伟", Decimal("6.0")),  # M001 before M002 inside the tie
        (2, True, "李娜", Decimal("6.0")),
        (4, False, "王书记", Decimal("1.0")),
    ]
    # The exempt elder scored but is listed apart, without a rank.
    assert [(line.name, line.points) for line in board.exempt] == [("赵老", Decimal("2.0"))]
    assert board.without_points == 1  # secretary2
    standing = board.standing(people.town.member_ids["member2"])
    assert standing is not None and standing.rank == 2


def test_member_board_of_another_month_is_empty(people: Town) -> None:
    _approve_a_month(people)
    with people.database.transaction(write=False) as session:
        board = member_board(session, "2025-02")
    assert board.ranked == []
    assert board.without_points == 5


def test_branch_board_totals_per_member_and_participation(people: Town) -> None:
    _approve_a_month(people)
    with people.database.transaction(write=False) as session:
        board = branch_board(session, PERIOD)
    by_total = {r.item.name: r for r in board.by_total}
    jinwan = by_total["金湾工业园区联合党支部"].item
    baoyuan = by_total["宝元鞋厂党支部"].item
    assert jinwan.total == Decimal("13.0")
    assert baoyuan.total == Decimal("11.0")
    # The exempt elder does not count as a member: 13.0 / 3, 11.0 / 2.
    assert jinwan.members == 3
    assert baoyuan.members == 2
    assert jinwan.per_member == Decimal("4.33")
    assert baoyuan.per_member == Decimal("5.50")
    assert jinwan.participation == Decimal("100.0")
    assert baoyuan.participation == Decimal("50.0")
    assert [(r.rank, r.item.name) for r in board.by_total] == [
        (1, "金湾工业园区联合党支部"),
        (2, "宝元鞋厂党支部"),
    ]
    assert [(r.rank, r.item.name) for r in board.by_per_member] == [
        (1, "宝元鞋厂党支部"),
        (2, "金湾工业园区联合党支部"),
    ]


def test_branch_participation_never_counts_exempt_members(people: Town) -> None:
    # Only one of 金湾's three non-exempt members took part; the exempt elder's entry
    # must not make it look like two of three (or more than 100 %).
    people.approve("secretary", people.submit("member", "volunteer", "2"))
    people.approve("secretary", people.add_entry_for_elder())
    with people.database.transaction(write=False) as session:
        board = branch_board(session, PERIOD)
    jinwan = next(r.item for r in board.by_total if r.item.branch_id == people.town.jinwan)
    assert jinwan.members == 3
    assert jinwan.participation == Decimal("33.3")


def test_branch_ties_share_a_rank_in_code_order(people: Town) -> None:
    people.approve("secretary", people.submit("member", "good_deed", "1"))
    people.approve("secretary2", people.submit("member3", "care", "1"))
    with people.database.transaction(write=False) as session:
        board = branch_board(session, PERIOD)
    assert [(r.rank, r.tied, r.item.code) for r in board.by_total] == [
        (1, True, "B001"),
        (1, True, "B002"),
    ]


def test_branch_member_board_lists_members_without_points(people: Town) -> None:
    people.approve("secretary", people.submit("member2", "volunteer", "1"))
    with people.database.transaction(write=False) as session:
        jinwan = member_board(session, PERIOD, branch_id=people.town.jinwan)
        baoyuan = member_board(session, PERIOD, branch_id=people.town.baoyuan)
    assert [(r.rank, r.tied, r.item.name, r.item.points) for r in jinwan.ranked] == [
        (1, False, "李娜", Decimal("3.0")),
    ]
    # Everyone on the branch roster appears: members without points listed apart (in
    # member-number order), the exempt elder apart as well.
    assert [(line.name, line.points) for line in jinwan.unscored] == [
        ("张伟", Decimal("0.0")),
        ("王书记", Decimal("0.0")),
    ]
    assert jinwan.without_points == 2
    assert [line.name for line in jinwan.exempt] == ["赵老"]
    assert baoyuan.ranked == []
    assert [line.name for line in baoyuan.unscored] == ["刘洋", "陈书记"]
    assert baoyuan.exempt == []
