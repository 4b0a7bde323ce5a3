"""Member transfers (组织关系转接): points count for the branch of the activity date, on
the boards and in the ledger; published months do not move; refusals; the CLI."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from service.accounts.principal import Principal
from service.boards.live import branch_board, member_board
from service.entries.adjustments import AdjustmentInput, record_adjustment
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.errors import InvalidInput, PermissionDenied
from service.people.transfers import TransferResult, branch_on, member_history, transfer_member
from service.persistence.db import Database
from service.persistence.models import (
    Adjustment,
    AuditEvent,
    Entry,
    EntryStatus,
    LedgerLine,
    Member,
    Membership,
    MemberStatus,
    PublishedMemberRow,
    Role,
    RoleGrant,
)
from service.publication.publish import publish_month
from service.publication.stored import published_month
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

TODAY = date(2026, 4, 20)
NOW = datetime(2026, 4, 20, 2, 0, tzinfo=UTC)
APRIL = "2026-04"
MARCH = "2026-03"


class People:
    def __init__(self, database: Database, town: SmallTown, rulebook: Rulebook) -> None:
        self.database, self.town, self.rulebook = database, town, rulebook

    def who(self, username: str) -> Principal:
        return self.town.principal(self.database, username)

    def submit(self, username: str, day: date, rule_id: str = "good_deed") -> int:
        with self.database.transaction() as session:
            return submit_entry(
                session,
                self.who(username),
                self.rulebook,
                EntryInput(rule_id, day, Decimal(1), "在西山桥路口指挥交通"),
                today=TODAY,
                now=NOW,
            )

    def approve(self, entry_id: int, reviewer: str) -> Decimal:
        with self.database.transaction() as session:
            return approve_entry(session, self.who(reviewer), self.rulebook, entry_id, now=NOW)

    def transfer(
        self, to_branch: int, on: date, by: str = "admin", member: str = "member", **kw: Any
    ) -> TransferResult:
        with self.database.transaction() as session:
            return transfer_member(
                session,
                self.who(by),
                self.town.member_ids[member],
                to_branch,
                on,
                kw.pop("note", "转入宝元鞋厂党支部"),
                today=TODAY,
                now=NOW,
                **kw,
            )

    def branch_of(self, entry_id: int) -> int:
        with self.database.transaction(write=False) as session:
            entry = session.get(Entry, entry_id)
            assert entry is not None
            return entry.branch_id


@pytest.fixture
def people(database: Database, town: SmallTown, rulebook: Rulebook) -> People:
    return People(database, town, rulebook)


def test_branch_on_without_history_is_the_current_branch(
    people: People, database: Database, town: SmallTown
) -> None:
    with database.transaction(write=False) as session:
        assert branch_on(session, town.member_ids["member"], date(2000, 1, 1)) == town.jinwan
        assert [s.branch_id for s in member_history(session, town.member_ids["member"])] == [
            town.jinwan
        ]


def test_a_mid_month_transfer_splits_the_points_between_the_branches(
    people: People, database: Database, town: SmallTown
) -> None:
    member = town.member_ids["member"]
    march = people.submit("member", date(2026, 3, 5))
    people.approve(march, "secretary")
    with database.transaction() as session:
        publish_month(session, people.who("admin"), people.rulebook, MARCH, now=NOW)
    before = people.submit("member", date(2026, 4, 3))
    people.approve(before, "secretary")

    result = people.transfer(town.baoyuan, date(2026, 4, 10))
    assert (result.from_branch_id, result.to_branch_id) == (town.jinwan, town.baoyuan)

    # Declared after the transfer: dated after it counts for (and is reviewed by) the new
    # branch; dated before it, the old branch.
    after = people.submit("member", date(2026, 4, 15))
    late_before = people.submit("member", date(2026, 4, 8))
    assert people.branch_of(after) == town.baoyuan
    assert people.branch_of(late_before) == town.jinwan
    with pytest.raises(PermissionDenied):
        people.approve(after, "secretary")  # 金湾's secretary no longer reviews it
    people.approve(after, "secretary2")
    with pytest.raises(PermissionDenied):
        people.approve(late_before, "secretary2")
    people.approve(late_before, "secretary")

    with database.transaction(write=False) as session:
        assert branch_on(session, member, date(2026, 4, 9)) == town.jinwan
        assert branch_on(session, member, date(2026, 4, 10)) == town.baoyuan
        assert session.get(Member, member).branch_id == town.baoyuan  # type: ignore[union-attr]
        jinwan = member_board(session, APRIL, branch_id=town.jinwan)
        baoyuan = member_board(session, APRIL, branch_id=town.baoyuan)
        town_board = member_board(session, APRIL)
        assert _points(jinwan, member) == Decimal("4.0")
        assert _points(baoyuan, member) == Decimal("2.0")
        assert _points(town_board, member) == Decimal("6.0")
        totals = {
            line.item.branch_id: line.item.total for line in branch_board(session, APRIL).by_total
        }
        assert totals == {town.jinwan: Decimal("4.0"), town.baoyuan: Decimal("2.0")}
        ledger = {
            line.entry_id: line.branch_id
            for line in session.scalars(select(LedgerLine).where(LedgerLine.member_id == member))
        }
        assert ledger == {
            march: town.jinwan,
            before: town.jinwan,
            late_before: town.jinwan,
            after: town.baoyuan,
        }
        # March stays as published: in 金湾, on the stored board and on the live one.
        published = published_month(session, MARCH, now=NOW)
        assert published is not None
        row = session.scalar(
            select(PublishedMemberRow).where(PublishedMemberRow.member_id == member)
        )
        assert row is not None and row.branch_id == town.jinwan
        assert _points(member_board(session, MARCH, branch_id=town.jinwan), member) == Decimal(
            "2.0"
        )
        assert _points(member_board(session, MARCH, branch_id=town.baoyuan), member) is None
        grant = session.scalar(
            select(RoleGrant).where(
                RoleGrant.account_id == town.account_ids["member"], RoleGrant.role == Role.MEMBER
            )
        )
        assert grant is not None and grant.branch_id == town.baoyuan


def _points(board: Any, member_id: int) -> Decimal | None:
    for line in board.ranked:
        if line.item.member_id == member_id:
            return Decimal(line.item.points)
    return None


def test_adjustments_belong_to_the_branch_of_their_day(
    people: People, database: Database, town: SmallTown
) -> None:
    people.transfer(town.baoyuan, date(2026, 4, 10))

    def deduct(by: str, day: date) -> int:
        with database.transaction() as session:
            return record_adjustment(
                session,
                people.who(by),
                people.rulebook,
                AdjustmentInput(town.member_ids["member"], "missed_meeting", day, "支委会决定"),
                today=TODAY,
                now=NOW,
            )

    with pytest.raises(PermissionDenied):
        deduct("secretary2", date(2026, 4, 5))
    with pytest.raises(PermissionDenied):
        deduct("secretary", date(2026, 4, 12))
    old = deduct("secretary", date(2026, 4, 5))
    new = deduct("secretary2", date(2026, 4, 12))
    with database.transaction(write=False) as session:
        assert session.get(Adjustment, old).branch_id == town.jinwan  # type: ignore[union-attr]
        assert session.get(Adjustment, new).branch_id == town.baoyuan  # type: ignore[union-attr]


def test_refusals(people: People, database: Database, town: SmallTown) -> None:
    march = people.submit("member", date(2026, 3, 5))
    people.approve(march, "secretary")
    with database.transaction() as session:
        publish_month(session, people.who("admin"), people.rulebook, MARCH, now=NOW)

    def refused(**kw: Any) -> str:
        with pytest.raises(InvalidInput) as exc:
            people.transfer(**kw)
        return "; ".join(str(m) for m in exc.value.errors.values())

    assert "2026-03 is published" in refused(to_branch=town.baoyuan, on=date(2026, 3, 20))
    assert "cannot be in the future" in refused(to_branch=town.baoyuan, on=date(2026, 4, 21))
    assert "already in this branch" in refused(to_branch=town.jinwan, on=date(2026, 4, 10))
    with pytest.raises(PermissionDenied):
        people.transfer(town.baoyuan, date(2026, 4, 10), by="secretary")
    with pytest.raises(PermissionDenied):
        people.transfer(town.baoyuan, date(2026, 4, 10), by="secretary2")

    people.transfer(town.baoyuan, date(2026, 4, 10))
    assert "last transfer took effect on 2026-04-10" in refused(
        to_branch=town.jinwan, on=date(2026, 4, 10)
    )
    assert "last transfer took effect on 2026-04-10" in refused(
        to_branch=town.jinwan, on=date(2026, 4, 5)
    )
    # Points already counted for 宝元 on the 15th: a transfer back from the 12th would move
    # them; from the 16th it does not. A pending entry dated after it moves along.
    counted = people.submit("member", date(2026, 4, 15))
    people.approve(counted, "secretary2")
    pending = people.submit("member", date(2026, 4, 18))
    assert "latest on 2026-04-15" in refused(to_branch=town.jinwan, on=date(2026, 4, 12))
    result = people.transfer(town.jinwan, date(2026, 4, 16), note="回到金湾")
    assert result.pending_moved == 1
    assert people.branch_of(pending) == town.jinwan
    assert people.branch_of(counted) == town.baoyuan

    with database.transaction(write=False) as session:
        history = member_history(session, town.member_ids["member"])
        assert [(s.branch_id, s.from_date, s.to_date, s.note) for s in history] == [
            (town.jinwan, None, date(2026, 4, 10), ""),
            (town.baoyuan, date(2026, 4, 10), date(2026, 4, 16), "转入宝元鞋厂党支部"),
            (town.jinwan, date(2026, 4, 16), None, "回到金湾"),
        ]
        assert history[1].recorded_by == "镇党委组织办"
        entry = session.get(Entry, pending)
        assert entry is not None and entry.status is EntryStatus.PENDING


def test_a_mobile_member_takes_part_in_the_new_branch(
    people: People, database: Database, town: SmallTown
) -> None:
    people.transfer(town.baoyuan, date(2026, 4, 1), member="member2", mobile=True)
    with database.transaction(write=False) as session:
        member = session.get(Member, town.member_ids["member2"])
        assert member is not None
        assert (member.status, member.branch_id) == (MemberStatus.MOBILE, town.baoyuan)
        # Its organisation was covered by the old branch: no longer the member's.
        assert member.organisation_id is None
        assert session.query(Membership).filter_by(member_id=member.id).count() == 2


def test_cli_transfer(
    people: People, database: Database, town: SmallTown, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.cli import main
    from service.cli.common import CliContext

    context = CliContext(opened=database)
    runner = CliRunner()
    result = runner.invoke(
        main, ["transfer", "M004", "B001", "--on", "2026-04-01", "--note", "调入"], obj=context
    )
    assert result.exit_code == 0, result.output
    assert "M004 刘洋 transferred to B001 from 2026-04-01" in result.output
    assert "(records began) – 2026-04-01: B002 宝元鞋厂党支部" in result.output
    assert "2026-04-01 – now: B001 金湾工业园区联合党支部" in result.output
    result = runner.invoke(main, ["transfer", "M004", "B002", "--on", "2026-03-01"], obj=context)
    assert result.exit_code == 1
    assert "last transfer took effect on 2026-04-01" in result.output
    result = runner.invoke(main, ["transfer", "M404", "B002", "--on", "2026-04-02"], obj=context)
    assert result.exit_code == 1 and "no member 'M404'" in result.output
    result = runner.invoke(main, ["transfer", "M004", "B002", "--on", "04/02/2026"], obj=context)
    assert result.exit_code == 2 and "is not a date" in result.output


def test_the_audit_log_says_which_entries_moved_with_a_transfer(
    people: People, database: Database, town: SmallTown
) -> None:
    """Moving the pending entries was one UPDATE ... WHERE; the log named the statement
    ("entry.bulk_update #* entry.member_id = :member_id_1 ..."). It names the entries."""
    earlier = people.submit("member", date(2026, 4, 2))
    moving = [people.submit("member", date(2026, 4, day)) for day in (12, 14)]
    result = people.transfer(town.baoyuan, date(2026, 4, 10))
    assert result.pending_moved == 2

    with database.transaction(write=False) as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.object_type.in_(("entry", "role_grant")))
        ).all()
    moved = [row for row in rows if row.kind == "entry.update"]
    assert sorted(row.object_id for row in moved) == sorted(str(entry) for entry in moving)
    for row in moved:
        assert json.loads(row.before or "{}") == {"branch_id": town.jinwan}
        assert json.loads(row.after or "{}") == {"branch_id": town.baoyuan}
        assert row.summary.startswith("good_deed 2026-04-1")
        assert row.branch_id == town.baoyuan  # the secretary who reviews it now
    assert str(earlier) not in {row.object_id for row in moved}
    (grant,) = [row for row in rows if row.kind == "role_grant.update"]
    assert json.loads(grant.after or "{}") == {"branch_id": town.baoyuan}
    for row in rows:
        assert "bulk" not in row.kind and row.object_id != "*"
        assert ":member_id" not in row.summary and ":account_id" not in row.summary
