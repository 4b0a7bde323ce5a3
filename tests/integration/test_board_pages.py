"""Board pages read a page at a time (service.boards.pages.member_page, branch_page,
member_standing, exempt_page; the stored ones in service.publication.publish) give exactly the
lines, ranks, ties and counts of the whole boards, the branches board's chart by rule
group read from the group totals equals the sum of the summary rows, and the board totals
they read follow every change: approvals, revocations, deductions, a member made exempt
or leaving, a transfer."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.boards.board import BranchMetric, MemberLine, parse_board_period
from service.boards.branch_pages import branch_page
from service.boards.live import (
    branch_board,
    member_board,
    points_by_group,
    points_by_group_from_summary,
    within_branch,
)
from service.boards.pages import (
    board_counts,
    exempt_page,
    exempt_page_of,
    member_page,
    member_standing,
)
from service.boards.rebuild import differences
from service.entries.adjustments import AdjustmentInput, record_adjustment
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry, revoke_entry
from service.people.transfers import transfer_member
from service.persistence.db import Database
from service.persistence.models import Branch, BranchKind, Member, MemberStatus
from service.publication.publish import publish_month
from service.publication.stored import (
    published_branch_members,
    published_branch_page,
    published_counts,
    published_member_page,
    published_month,
)
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

NOW = datetime(2026, 5, 3, 2, 0, tzinfo=UTC)
TODAY = date(2026, 5, 3)
RULES = ("org_life", "study", "good_deed", "theme_day", "care")


def same_pages(database: Database, period: str, size: int, rulebook: Rulebook) -> None:
    """Every page of every board equals the slice of the whole board."""
    with database.transaction(write=False) as session:
        assert points_by_group(session, rulebook, period) == points_by_group_from_summary(
            session, rulebook, period
        )
        whole = member_board(session, period)
        pages = -(-len(whole.ranked) // size) or 1
        for page in range(1, pages + 1):
            paged = member_page(session, period, page, size=size)
            assert paged.rows == whole.ranked[(page - 1) * size : page * size]
            assert paged.ranked_count == len(whole.ranked)
            # The exempt members are on pages of their own: the board page counts them.
            assert paged.exempt == []
            assert paged.exempt_members == len(whole.exempt)
            assert paged.without_points == whole.without_points
            assert paged.pages == pages
        same_exempt_pages(session, period, whole.exempt)
        for ranked in whole.ranked:
            assert member_standing(session, period, ranked.item.member_id) == ranked
        for line in whole.exempt + whole.unscored:
            assert member_standing(session, period, line.member_id) is None
        branches = branch_board(session, period)
        for metric in BranchMetric:
            by_metric = branches.ranked_by(metric)
            ranks = {
                m.value: {r.item.branch_id: r.rank for r in branches.ranked_by(m)}
                for m in BranchMetric
            }
            count = len(by_metric)
            for page in range(1, -(-count // size) + 1):
                branch_rows = branch_page(session, period, metric, page, size=size)
                expected = by_metric[(page - 1) * size : page * size]
                assert branch_rows.rows == expected, (metric, page)
                for name, by_branch in branch_rows.ranks.items():
                    for branch_id, rank in by_branch.items():
                        assert ranks[name][branch_id] == rank
        assert differences(session) == []


def same_exempt_pages(session: Session, period: str, exempt: list[MemberLine]) -> None:
    """Every page of the exempt members equals the slice of the whole board's list."""
    assert board_counts(session, parse_board_period(period).key).exempt == len(exempt)
    size = 2
    pages = -(-len(exempt) // size) or 1
    for page in range(1, pages + 1):
        paged = exempt_page(session, period, page, size=size)
        assert paged.lines == exempt[(page - 1) * size : page * size]
        assert (paged.count, paged.page, paged.pages) == (len(exempt), page, pages)
    # A page past the end is the last one.
    assert exempt_page(session, period, pages + 3, size=size).page == pages


@pytest.fixture
def many(database: Database, town: SmallTown) -> SmallTown:
    """The small town with five more branches and thirty more members (some exempt)."""
    with database.transaction() as session:
        for number in range(3, 8):
            session.add(
                Branch(code=f"B{number:03d}", name=f"第{number}支部", kind=BranchKind.SINGLE)
            )
        session.flush()
        branches = list(session.scalars(select(Branch.id).order_by(Branch.id)))
        for number in range(30):
            status = MemberStatus.EXEMPT if number % 9 == 0 else MemberStatus.FULL
            session.add(
                Member(
                    code=f"N{number:03d}",
                    name=f"成员{number}",
                    branch_id=branches[number % len(branches)],
                    status=status,
                    active=True,
                )
            )
    return town


def members(database: Database) -> list[int]:
    with database.transaction(write=False) as session:
        return list(session.scalars(select(Member.id).order_by(Member.id)))


def approve(
    database: Database, rulebook: Rulebook, admin: Principal, member_id: int, rule: str, day: date
) -> int:
    with database.transaction() as session:
        account = Principal(
            account_id=admin.account_id,
            username=admin.username,
            display_name=admin.display_name,
            member_id=member_id,
            member_branch_id=session.scalar(select(Member.branch_id).where(Member.id == member_id)),
            member_branch_name=None,
            grants=frozenset(),
        )
        entry_id = submit_entry(
            session,
            account,
            rulebook,
            EntryInput(rule, day, Decimal(1), "经过"),
            # Declared on the day: the test spans more months than a member may go back.
            today=day,
            now=NOW,
        )
        approve_entry(session, admin, rulebook, entry_id, now=NOW)
    return entry_id


def test_pages_equal_the_whole_boards_through_every_change(
    database: Database, many: SmallTown, rulebook: Rulebook
) -> None:
    admin = many.principal(database, "admin")
    rng = random.Random(7)
    ids = members(database)
    entries = []
    for _ in range(120):
        member_id = rng.choice(ids)
        day = date(2026, rng.choice((2, 3, 4)), rng.randint(1, 28))
        entries.append(approve(database, rulebook, admin, member_id, rng.choice(RULES), day))
    for period in ("2026-03", "2026-Q1", "2026-Q2", "2026"):
        same_pages(database, period, size=7, rulebook=rulebook)
    with database.transaction(write=False) as session:
        assert any(points_by_group(session, rulebook, "2026-Q1").values())
    with database.transaction() as session:
        for entry_id in entries[:10]:
            revoke_entry(session, admin, rulebook, entry_id, "撤销", now=NOW)
        record_adjustment(
            session,
            admin,
            rulebook,
            AdjustmentInput(ids[3], "shirking", date(2026, 3, 5), "支部决定"),
            today=TODAY,
            now=NOW,
        )
    same_pages(database, "2026-03", size=5, rulebook=rulebook)
    # A member made exempt, one who left, one moved to another branch.
    with database.transaction() as session:
        first, second = session.get(Member, ids[4]), session.get(Member, ids[5])
        assert first is not None and second is not None
        first.status = MemberStatus.EXEMPT
        second.active = False
        second.left_on = date(2026, 4, 30)
    with database.transaction() as session:
        transfer_member(
            session, admin, ids[6], many.baoyuan, date(2026, 5, 1), "", today=TODAY, now=NOW
        )
    for period in ("2026-03", "2026-04", "2026-Q1", "2026"):
        same_pages(database, period, size=6, rulebook=rulebook)
    # And back: exempt no more.
    with database.transaction() as session:
        first = session.get(Member, ids[4])
        assert first is not None
        first.status = MemberStatus.FULL
    same_pages(database, "2026-Q1", size=4, rulebook=rulebook)


def test_stored_pages_equal_the_stored_board(
    database: Database, many: SmallTown, rulebook: Rulebook
) -> None:
    admin = many.principal(database, "admin")
    rng = random.Random(11)
    ids = members(database)
    for _ in range(60):
        approve(database, rulebook, admin, rng.choice(ids), rng.choice(RULES), date(2026, 3, 9))
    with database.transaction() as session:
        publication = publish_month(session, admin, rulebook, "2026-03", now=NOW)
    with database.transaction(write=False) as session:
        stored = published_month(session, "2026-03", now=NOW)
        assert stored is not None and stored.intact
        counts = published_counts(session, publication.id)
        board = stored.members
        size = 6
        for page in range(1, -(-len(board.ranked) // size) + 1):
            paged = published_member_page(
                session, publication.id, "2026-03", page, counts, size=size
            )
            assert paged.rows == board.ranked[(page - 1) * size : page * size]
            assert paged.exempt_members == len(board.exempt)
            assert paged.without_points == board.without_points
        assert board.exempt
        for page in range(1, -(-len(board.exempt) // 2) + 1):
            exempt = exempt_page_of("2026-03", counts.exempt, page, size=2)
            assert exempt.lines == board.exempt[(page - 1) * 2 : page * 2]
            assert exempt.count == len(board.exempt)
        for branch_id in {line.item.branch_id for line in board.ranked}:
            assert published_branch_members(
                session, publication.id, "2026-03", branch_id
            ) == within_branch(board, branch_id)
        for metric in BranchMetric:
            ranked = stored.branches.ranked_by(metric)
            for page in range(1, -(-len(ranked) // size) + 1):
                paged_branches = published_branch_page(
                    session, publication.id, "2026-03", metric, page, size=size
                )
                assert paged_branches.rows == ranked[(page - 1) * size : page * size]


def test_branch_pages_across_ties_and_below_zero(
    database: Database, many: SmallTown, rulebook: Rulebook
) -> None:
    """Branches tied by every metric across the pages' edges, branches at zero and one
    below zero: each page of size 1 to 4 equals the slice of the whole board."""
    admin = many.principal(database, "admin")
    with database.transaction(write=False) as session:
        by_branch: dict[int, list[int]] = {}
        for member_id, branch_id in session.execute(
            select(Member.id, Member.branch_id)
            .where(Member.status == MemberStatus.FULL, Member.active)
            .order_by(Member.id)
        ):
            by_branch.setdefault(branch_id, []).append(member_id)
    branches = sorted(by_branch)
    assert len(branches) >= 6
    # The same entry for one member of each of four branches: equal totals.
    for branch_id in branches[:4]:
        approve(database, rulebook, admin, by_branch[branch_id][0], "study", date(2026, 3, 9))
    # A deduction alone: a branch below zero.
    with database.transaction() as session:
        record_adjustment(
            session,
            admin,
            rulebook,
            AdjustmentInput(by_branch[branches[4]][0], "shirking", date(2026, 3, 5), "支部决定"),
            today=TODAY,
            now=NOW,
        )
    for size in (1, 2, 3, 4):
        same_pages(database, "2026-03", size=size, rulebook=rulebook)
    with database.transaction(write=False) as session:
        board = branch_board(session, "2026-03")
        assert board.by_total[-1].item.total < 0
        assert any(row.tied for row in board.by_total if row.item.total > 0)
