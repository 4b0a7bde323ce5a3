"""The demo town loader (``jifen seed demo``) on a real database."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts import authenticate
from service.db import Database
from service.migrate import upgrade
from service.models import (
    Account,
    Base,
    Branch,
    BranchKind,
    Entry,
    EntryStatus,
    LedgerKind,
    LedgerLine,
    Member,
    Organisation,
    PointsSummary,
    Role,
    RoleGrant,
)
from service.scoring.engine import entry_points
from service.scoring.rules import Rulebook
from service.seed import DemoRefused, load_demo_town

UNTIL = date(2026, 11, 20)
FIRST_DAY = date(2026, 8, 1)
CURRENT_PERIOD = "2026-11"
PARK = "金湾工业园区联合党支部"
SHOE_FACTORY = "宝元鞋厂党支部"
PASSWORD = "demo-password"
LOAD_BUDGET_S = 10.0


@pytest.fixture(scope="module")
def seeds_dir(project_root: Path) -> Path:
    return project_root / "seeds"


def _load(database: Database, rulebook: Rulebook, seeds_dir: Path) -> tuple[str, float]:
    started = time.perf_counter()
    with database.transaction() as session:
        summary = load_demo_town(session, rulebook, seeds_dir, until=UNTIL, env="test")
    return summary, time.perf_counter() - started


@pytest.fixture
def town(database: Database, rulebook: Rulebook, seeds_dir: Path) -> Database:
    _load(database, rulebook, seeds_dir)
    return database


def _branch(session: Session, name: str) -> Branch:
    branch = session.scalar(select(Branch).where(Branch.name == name))
    assert branch is not None, name
    return branch


def _account(session: Session, username: str) -> Account:
    account = session.scalar(select(Account).where(Account.username == username))
    assert account is not None, username
    return account


def _grants(session: Session, account: Account) -> set[tuple[Role, int | None]]:
    rows = session.execute(
        select(RoleGrant.role, RoleGrant.branch_id).where(RoleGrant.account_id == account.id)
    )
    return {(role, branch_id) for role, branch_id in rows}


def _count(session: Session, model: type[Base]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_load_has_the_reports_numbers_and_is_fast(
    database: Database, rulebook: Rulebook, seeds_dir: Path
) -> None:
    summary, seconds = _load(database, rulebook, seeds_dir)
    print(f"\ndemo town load on {database.engine.dialect.name}: {seconds:.2f} s\n{summary}")
    assert seconds < LOAD_BUDGET_S

    with database.transaction(write=False) as session:
        kinds = {
            kind: count
            for kind, count in session.execute(
                select(Branch.kind, func.count()).group_by(Branch.kind)
            )
        }
        assert kinds == {BranchKind.SINGLE: 242, BranchKind.JOINT: 26}
        assert _count(session, Organisation) == 836
        assert _count(session, Member) == 1192
        # A single branch covers exactly its own organisation.
        per_single = session.execute(
            select(func.count(Organisation.id))
            .join(Branch, Branch.id == Organisation.branch_id)
            .where(Branch.kind == BranchKind.SINGLE)
            .group_by(Branch.id)
        ).scalars()
        assert set(per_single) == {1}
        entries = _count(session, Entry)
    assert "268 branches (26 joint), 836 organisations, 1192 members" in summary
    assert f"{entries} entries" in summary
    assert PASSWORD in summary


def test_named_branches_are_shaped_like_the_report(town: Database) -> None:
    with town.transaction(write=False) as session:
        park = _branch(session, PARK)
        shoes = _branch(session, SHOE_FACTORY)
        assert park.kind is BranchKind.JOINT
        assert shoes.kind is BranchKind.SINGLE
        park_orgs = session.scalars(
            select(Organisation.name).where(Organisation.branch_id == park.id)
        ).all()
        assert len(park_orgs) == 40
        assert any("飞鹰" in name for name in park_orgs)
        members = Counter(session.scalars(select(Member.branch_id)).all())
        assert members[park.id] == 35
        assert members[shoes.id] == 15

        def rule_share(branch_id: int | None, rule_ids: set[str]) -> float:
            query = select(Entry.rule_id)
            if branch_id is not None:
                query = query.where(Entry.branch_id == branch_id)
            rules = session.scalars(query).all()
            return sum(r in rule_ids for r in rules) / len(rules)

        # The park branch is the report's model of suggestions and good deeds; the shoe
        # factory's members run the counselling room.
        ideas = {"suggestion", "good_deed"}
        assert rule_share(park.id, ideas) > 2 * rule_share(None, ideas)
        assert rule_share(shoes.id, {"care"}) > 2 * rule_share(None, {"care"})


def test_demo_accounts_have_their_roles_and_password(town: Database) -> None:
    with town.transaction() as session:
        park = _branch(session, PARK)
        for username in ("member", "secretary", "instructor", "admin"):
            signed_in = authenticate(session, username, PASSWORD)
            assert signed_in is not None and signed_in.username == username

        member = _account(session, "member")
        secretary = _account(session, "secretary")
        instructor = _account(session, "instructor")
        admin = _account(session, "admin")

        assert _grants(session, member) == {(Role.MEMBER, park.id)}
        assert _grants(session, secretary) == {(Role.SECRETARY, park.id), (Role.MEMBER, park.id)}
        assert _grants(session, admin) == {(Role.ADMIN, None)}
        instructed = _grants(session, instructor)
        assert {role for role, _ in instructed} == {Role.INSTRUCTOR}
        assert len(instructed) == 3 and (Role.INSTRUCTOR, park.id) in instructed

        assert admin.member_id is None and instructor.member_id is None
        assert member.member_id is not None and secretary.member_id is not None
        assert member.member_id != secretary.member_id
        for account in (member, secretary):
            record = session.get(Member, account.member_id)
            assert record is not None
            assert record.branch_id == park.id
            assert account.display_name == record.name


def test_demo_entries_show_every_state(town: Database) -> None:
    with town.transaction(write=False) as session:
        park = _branch(session, PARK)
        member = _account(session, "member")
        secretary = _account(session, "secretary")

        statuses = set(
            session.scalars(select(Entry.status).where(Entry.member_id == member.member_id))
        )
        assert statuses == {
            EntryStatus.PENDING,
            EntryStatus.APPROVED,
            EntryStatus.REJECTED,
            EntryStatus.WITHDRAWN,
        }

        pending = session.execute(
            select(Entry.member_id, Entry.period).where(
                Entry.branch_id == park.id, Entry.status == EntryStatus.PENDING
            )
        ).all()
        assert all(period == CURRENT_PERIOD for _, period in pending)
        own = sum(member_id == secretary.member_id for member_id, _ in pending)
        assert 1 <= own <= 2
        assert len(pending) - own >= 8

        # Entries of members without an account were keyed in by the town office; the
        # demo members' own were submitted from their accounts.
        submitters = set(
            session.execute(
                select(Entry.member_id, Entry.submitted_by_id)
                .where(Entry.member_id.in_([member.member_id, secretary.member_id]))
                .distinct()
            )
        )
        assert submitters == {(member.member_id, member.id), (secretary.member_id, secretary.id)}
        # Nobody reviews their own entries.
        self_reviewed = session.scalar(
            select(func.count())
            .select_from(Entry)
            .where(
                Entry.member_id == secretary.member_id,
                Entry.status.in_([EntryStatus.APPROVED, EntryStatus.REJECTED]),
                Entry.decided_by_id == secretary.id,
            )
        )
        assert self_reviewed == 0


def test_entries_stay_within_the_window_and_decisions_follow_submissions(
    town: Database,
) -> None:
    with town.transaction(write=False) as session:
        first, last = session.execute(
            select(func.min(Entry.activity_date), func.max(Entry.activity_date))
        ).one()
        assert first >= FIRST_DAY
        assert last <= UNTIL
        periods = set(session.scalars(select(Entry.period).distinct()))
        assert periods == {"2026-08", "2026-09", "2026-10", "2026-11"}
        for entry in session.scalars(select(Entry)):
            assert entry.period == entry.activity_date.strftime("%Y-%m")
            assert entry.submitted_at.tzinfo is not None
            assert entry.submitted_at.date() >= entry.activity_date.replace(day=1)
            if entry.status is EntryStatus.PENDING:
                assert entry.decided_at is None and entry.decided_by_id is None
            else:
                assert entry.decided_at is not None and entry.decided_by_id is not None
                assert entry.decided_at > entry.submitted_at
            assert (entry.decision_reason is not None) == (entry.status is EntryStatus.REJECTED)
        exempt_entries = session.scalar(
            select(func.count())
            .select_from(Entry)
            .join(Member, Member.id == Entry.member_id)
            .where(Member.status == "exempt")
        )
        assert exempt_entries == 0


def test_ledger_and_summary_match_the_approved_entries(town: Database, rulebook: Rulebook) -> None:
    with town.transaction(write=False) as session:
        approved = {
            entry.id: entry
            for entry in session.scalars(select(Entry).where(Entry.status == EntryStatus.APPROVED))
        }
        lines = session.scalars(select(LedgerLine)).all()
        assert {line.kind for line in lines} == {LedgerKind.AWARD}
        assert Counter(line.entry_id for line in lines) == Counter(approved.keys())

        expected: dict[tuple[int, str, int, str], tuple[Decimal, int]] = {}
        for line in lines:
            assert line.entry_id is not None
            entry = approved[line.entry_id]
            ruleset = rulebook.in_force(entry.activity_date)
            assert ruleset is not None and ruleset.version == entry.ruleset_version
            rule = ruleset.rule(entry.rule_id)
            assert rule is not None
            assert line.points == entry_points(rule, entry.quantity)
            assert (line.member_id, line.branch_id, line.period, line.rule_id) == (
                entry.member_id,
                entry.branch_id,
                entry.period,
                entry.rule_id,
            )
            assert line.ruleset_version == entry.ruleset_version
            assert (line.created_at, line.created_by_id) == (entry.decided_at, entry.decided_by_id)
            key = (line.member_id, line.period, line.branch_id, line.rule_id)
            points, count = expected.get(key, (Decimal(0), 0))
            expected[key] = (points + line.points, count + 1)

        summary = {
            (row.member_id, row.period, row.branch_id, row.rule_id): (row.points, row.line_count)
            for row in session.scalars(select(PointsSummary))
        }
        assert summary == expected


def _entry_fingerprint(database: Database) -> list[tuple[Any, ...]]:
    with database.transaction(write=False) as session:
        rows = session.execute(
            select(
                Member.code,
                Member.name,
                Entry.rule_id,
                Entry.activity_date,
                Entry.quantity,
                Entry.status,
                Entry.description,
                Entry.submitted_at,
                Entry.decided_at,
            )
            .join(Member, Member.id == Entry.member_id)
            .order_by(Entry.id)
        )
        return [tuple(row) for row in rows]


def test_same_until_gives_the_same_town(
    tmp_path: Path, rulebook: Rulebook, seeds_dir: Path
) -> None:
    fingerprints = []
    for name in ("a", "b"):
        database = Database.from_url(f"sqlite:///{tmp_path / name}.sqlite3")
        try:
            upgrade(database.engine)
            _load(database, rulebook, seeds_dir)
            fingerprints.append(_entry_fingerprint(database))
        finally:
            database.dispose()
    assert fingerprints[0], "no entries were generated"
    assert fingerprints[0] == fingerprints[1]


def test_production_is_refused_before_anything_is_written(
    database: Database, rulebook: Rulebook, seeds_dir: Path
) -> None:
    with database.transaction() as session, pytest.raises(DemoRefused, match="production"):
        load_demo_town(session, rulebook, seeds_dir, until=UNTIL, env="production")
    with database.transaction(write=False) as session:
        for model in (Branch, Organisation, Member, Account, RoleGrant, Entry, LedgerLine):
            assert _count(session, model) == 0, model.__tablename__


def test_a_database_holding_data_is_refused(
    town: Database, rulebook: Rulebook, seeds_dir: Path
) -> None:
    with town.transaction() as session, pytest.raises(DemoRefused, match="empty database"):
        load_demo_town(session, rulebook, seeds_dir, until=UNTIL, env="development")


def test_rows_added_after_the_load_get_fresh_ids(town: Database) -> None:
    # Guards the PostgreSQL sequences, which explicit ids do not advance.
    with town.transaction() as session:
        branch = Branch(code="B999", name="新建联合党支部", kind=BranchKind.JOINT)
        session.add(branch)
        session.flush()
        assert branch.id == 269
