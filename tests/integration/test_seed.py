"""The demo town loader (``jifen seed demo``) on a real database."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.accounts.passwords import authenticate
from service.accounts.principal import load_principal
from service.database import open_database
from service.ledger.verify import verify_ledger
from service.ops.seed.load import load_demo_town
from service.ops.seed.state import DemoRefused
from service.persistence.db import Database
from service.persistence.migrate import upgrade
from service.persistence.models import (
    Account,
    Adjustment,
    Base,
    Branch,
    BranchKind,
    Correction,
    Entry,
    EntryStatus,
    LedgerKind,
    LedgerLine,
    Member,
    MemberStatus,
    Objection,
    ObjectionStatus,
    Organisation,
    Publication,
    PublicationKind,
    PublishedMemberRow,
    Resolution,
    Role,
    RoleGrant,
)
from service.persistence.types import utcnow
from service.publication.chain import verify_chain
from service.publication.diff import diff_revisions
from service.publication.objections import LineRef, raise_objection
from service.publication.state import MonthState, month_state
from service.scoring.engine import MANUAL_RULE_ID, Source, entry_points, quantity_problem
from service.scoring.rules import Rulebook

UNTIL = date(2026, 11, 20)
FIRST_DAY = date(2026, 8, 1)
CURRENT_PERIOD = "2026-11"
PARK = "金湾工业园区联合党支部"
SHOE_FACTORY = "宝元鞋厂党支部"
PASSWORD = "demo-password"
TOWN_ZONE = ZoneInfo("Asia/Shanghai")
# The evening of the last day: everything the demo did has happened by then.
UNTIL_EVENING = datetime.combine(UNTIL, clock(21, 0), tzinfo=TOWN_ZONE)


@pytest.fixture(scope="module")
def seeds_dir(project_root: Path) -> Path:
    return project_root / "seeds"


def _load(database: Database, rulebook: Rulebook, seeds_dir: Path, until: date = UNTIL) -> str:
    with database.transaction() as session:
        return load_demo_town(session, rulebook, seeds_dir, until=until, env="test")


@pytest.fixture
def town(demo_town: Database) -> Database:
    """The demo town up to UNTIL, loaded once per worker (tests/conftest.py); what a
    test writes is rolled back."""
    return demo_town


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


def test_load_has_the_reports_numbers(
    database: Database, rulebook: Rulebook, seeds_dir: Path
) -> None:
    summary = _load(database, rulebook, seeds_dir)

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


def test_the_ledger_is_what_the_services_would_have_written(
    town: Database, rulebook: Rulebook
) -> None:
    with town.transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
        assert report.ok, "\n".join(d.describe() for d in report.differences[:20])
        assert report.ledger_lines == _count(session, LedgerLine)

        entries = {entry.id: entry for entry in session.scalars(select(Entry))}
        lines = session.scalars(select(LedgerLine).order_by(LedgerLine.id)).all()
        assert {line.kind for line in lines} == {
            LedgerKind.AWARD,
            LedgerKind.CAP,
            LedgerKind.REVERSAL,
        }
        # Ids follow time, as they would have had the services written them live.
        assert [line.created_at for line in lines] == sorted(line.created_at for line in lines)
        awards = Counter(line.activity_key for line in lines if line.kind is LedgerKind.AWARD)
        assert set(awards.values()) == {1}
        for entry in entries.values():
            counted = entry.status in (EntryStatus.APPROVED, EntryStatus.REVOKED)
            assert (f"entry:{entry.id}" in awards) == counted
            assert (f"adopted:{entry.id}" in awards) == (entry.adopted_on is not None)
            assert (f"implemented:{entry.id}" in awards) == (entry.implemented_on is not None)

        for line in lines:
            if line.entry_id is None:
                continue
            entry = entries[line.entry_id]
            ruleset = rulebook.in_force(line.activity_date)
            assert ruleset is not None and ruleset.version == line.ruleset_version
            assert (line.member_id, line.branch_id, line.rule_id) == (
                entry.member_id,
                entry.branch_id,
                entry.rule_id,
            )
            assert line.period == line.activity_date.strftime("%Y-%m")
            if line.kind is LedgerKind.AWARD and line.source is Source.ENTRY:
                assert line.activity_date == entry.activity_date
                assert (line.created_at, line.created_by_id) == (
                    entry.decided_at,
                    entry.decided_by_id,
                )
                rule = ruleset.rule(entry.rule_id)
                assert rule is not None
                raw = entry_points(rule, entry.quantity)
                # A clipped award says which cap clipped it.
                assert (line.points < raw) == bool(line.note), (line.points, raw, line.note)
                assert line.points <= raw
            if line.kind is LedgerKind.REVERSAL:
                assert entry.status is EntryStatus.REVOKED
                assert (line.note, line.created_at) == (entry.revoke_reason, entry.revoked_at)

        # A revoked entry counts nothing any more, through lines that reverse its award.
        revoked = [e for e in entries.values() if e.status is EntryStatus.REVOKED]
        assert revoked
        for entry in revoked:
            assert entry.revoked_at is not None and entry.decided_at is not None
            assert entry.revoked_at > entry.decided_at
            assert entry.revoke_reason and entry.revoked_by_id == entry.decided_by_id
            mine = [line for line in lines if line.entry_id == entry.id]
            assert sum(line.points for line in mine) == 0
            assert {line.kind for line in mine} == {LedgerKind.AWARD, LedgerKind.REVERSAL}


def test_caps_clip_and_are_never_exceeded(town: Database, rulebook: Rulebook) -> None:
    with town.transaction(write=False) as session:
        lines = session.scalars(select(LedgerLine).where(LedgerLine.source == Source.ENTRY))
        used: dict[tuple[int, str, str, object], Decimal] = {}
        clipped_by: Counter[str] = Counter()
        for line in lines:
            day = line.activity_date
            for window in (("cap_per_day", day), ("cap_per_month", day.month)):
                key = (line.member_id, line.rule_id, *window)
                used[key] = used.get(key, Decimal(0)) + line.points
            key = (line.member_id, line.rule_id, "cap_per_year", day.year)
            used[key] = used.get(key, Decimal(0)) + line.points
            for name in filter(None, line.note.split(", ")):
                if line.kind is LedgerKind.AWARD:
                    clipped_by[name] += 1
        ruleset = rulebook.in_force(UNTIL)
        assert ruleset is not None
        for (_member, rule_id, cap_name, _window), points in used.items():
            rule = ruleset.rule(rule_id)
            assert rule is not None
            cap = rule.caps.get(cap_name)
            assert cap is None or points <= cap, (rule_id, cap_name, points)
        # The busy members go over the monthly good-deed cap and the daily volunteer cap.
        assert clipped_by["cap_per_month"] >= 10
        assert clipped_by["cap_per_day"] >= 5
        # A revocation in a clipped month made room: an entry counted again (a cap line).
        cap_lines = session.scalars(
            select(LedgerLine).where(LedgerLine.kind == LedgerKind.CAP, LedgerLine.points > 0)
        ).all()
        assert any(line.note for line in cap_lines)


def test_suggestions_are_adopted_and_implemented_by_the_reviewer(
    town: Database, rulebook: Rulebook
) -> None:
    with town.transaction(write=False) as session:
        park = _branch(session, PARK)
        member = _account(session, "member")
        secretary = _account(session, "secretary")
        adopted = session.scalars(select(Entry).where(Entry.adopted_on.is_not(None))).all()
        assert len(adopted) >= 30
        implemented = [e for e in adopted if e.implemented_on is not None]
        assert 10 <= len(implemented) < len(adopted)
        for entry in adopted:
            ruleset = rulebook.in_force(entry.activity_date)
            rule = ruleset.rule(entry.rule_id) if ruleset else None
            assert rule is not None and rule.suggestion
            assert entry.status is EntryStatus.APPROVED
            assert entry.adopted_on is not None and entry.decided_at is not None
            assert entry.decided_at.date() <= entry.adopted_on <= UNTIL
            assert entry.adopted_by_id == entry.decided_by_id
            if entry.implemented_on is not None:
                assert entry.adopted_on <= entry.implemented_on <= UNTIL
                assert entry.implemented_by_id == entry.adopted_by_id
            else:
                assert entry.implemented_by_id is None
        # In the park branch the secretary marks them, except their own suggestions.
        park_steps = {
            (e.member_id == secretary.member_id, e.adopted_by_id)
            for e in adopted
            if e.branch_id == park.id
        }
        assert (False, secretary.id) in park_steps
        assert all(by != secretary.id for own, by in park_steps if own)
        # The demo member's suggestion went all the way.
        assert any(
            e.member_id == member.member_id and e.implemented_on is not None for e in implemented
        )


def test_deductions_and_adjustments_are_recorded_by_the_secretary(
    town: Database, rulebook: Rulebook
) -> None:
    with town.transaction(write=False) as session:
        park = _branch(session, PARK)
        member = _account(session, "member")
        secretary = _account(session, "secretary")
        admin = _account(session, "admin")
        adjustments = session.scalars(select(Adjustment).order_by(Adjustment.id)).all()
        deductions = [a for a in adjustments if a.rule_id != MANUAL_RULE_ID]
        manual = [a for a in adjustments if a.rule_id == MANUAL_RULE_ID]
        assert len(deductions) >= 20
        assert len(manual) == 2 and {a.points for a in manual} == {Decimal(3), Decimal(-1)}
        assert [a.created_at for a in adjustments] == sorted(a.created_at for a in adjustments)
        assert len({a.rule_id for a in deductions}) >= 3
        members = {m.id: m for m in session.scalars(select(Member))}
        for adjustment in adjustments:
            record = members[adjustment.member_id]
            assert record.status is not MemberStatus.EXEMPT
            assert adjustment.branch_id == record.branch_id
            assert adjustment.period == adjustment.day.strftime("%Y-%m")
            assert adjustment.day <= UNTIL
            assert adjustment.created_at.date() >= adjustment.day
            assert adjustment.reason.strip() and len(adjustment.reason) <= 500
            if adjustment.branch_id == park.id and adjustment.member_id != secretary.member_id:
                assert adjustment.created_by_id == secretary.id
            else:
                assert adjustment.created_by_id in (admin.id, secretary.id)
            assert not (
                adjustment.created_by_id == secretary.id
                and adjustment.member_id == secretary.member_id
            )
            if adjustment.rule_id == MANUAL_RULE_ID:
                assert adjustment.points is not None and adjustment.quantity == 1
                continue
            assert adjustment.points is None
            ruleset = rulebook.in_force(adjustment.day)
            rule = ruleset.rule(adjustment.rule_id) if ruleset else None
            assert rule is not None and not rule.member_declares
            assert quantity_problem(rule, adjustment.quantity) is None
        mine = [a for a in deductions if a.member_id == member.member_id]
        assert mine and all(a.created_by_id == secretary.id for a in mine)
        # Each adjustment is one award line with the reason as its cause.
        lines = {
            line.adjustment_id: line
            for line in session.scalars(
                select(LedgerLine).where(LedgerLine.source == Source.ADJUSTMENT)
            )
        }
        assert set(lines) == {a.id for a in adjustments}
        for adjustment in adjustments:
            line = lines[adjustment.id]
            assert line.points < 0 or adjustment.rule_id == MANUAL_RULE_ID
            if adjustment.points is not None:
                assert line.points == adjustment.points
            assert (line.created_at, line.created_by_id) == (
                adjustment.created_at,
                adjustment.created_by_id,
            )


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
                Entry.adopted_on,
                Entry.implemented_on,
                Entry.revoked_at,
                Entry.revoke_reason,
            )
            .join(Member, Member.id == Entry.member_id)
            .order_by(Entry.id)
        )
        fingerprint = [tuple(row) for row in rows]
        adjustments = session.execute(
            select(
                Adjustment.id,
                Adjustment.member_id,
                Adjustment.rule_id,
                Adjustment.day,
                Adjustment.quantity,
                Adjustment.points,
                Adjustment.reason,
                Adjustment.created_at,
                Adjustment.created_by_id,
            ).order_by(Adjustment.id)
        )
        fingerprint += [tuple(row) for row in adjustments]
        lines = session.execute(
            select(
                LedgerLine.id,
                LedgerLine.member_id,
                LedgerLine.activity_key,
                LedgerLine.kind,
                LedgerLine.points,
                LedgerLine.note,
                LedgerLine.created_at,
            ).order_by(LedgerLine.id)
        )
        fingerprint += [tuple(row) for row in lines]
        publications = session.execute(
            select(
                Publication.id,
                Publication.period,
                Publication.revision,
                Publication.published_at,
                Publication.window_ends_at,
                Publication.digest,
                Publication.previous_digest,
            ).order_by(Publication.id)
        )
        fingerprint += [tuple(row) for row in publications]
        objections = session.execute(
            select(
                Objection.member_id,
                Objection.line_member_id,
                Objection.line_branch_id,
                Objection.text,
                Objection.created_at,
                Objection.status,
                Objection.answer,
                Objection.resolved_at,
            ).order_by(Objection.id)
        )
        fingerprint += [tuple(row) for row in objections]
        return fingerprint


def test_same_until_gives_the_same_town(
    tmp_path: Path, rulebook: Rulebook, seeds_dir: Path
) -> None:
    fingerprints = []
    for name in ("a", "b"):
        database = open_database(f"sqlite:///{tmp_path / name}.sqlite3")
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
        for model in (
            Branch,
            Organisation,
            Member,
            Account,
            RoleGrant,
            Entry,
            Adjustment,
            LedgerLine,
        ):
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
        adjustments = _count(session, Adjustment)
        lines = _count(session, LedgerLine)
        member = session.scalars(select(Member).order_by(Member.id)).first()
        assert member is not None
        secretary = _account(session, "admin")
        adjustment = Adjustment(
            member_id=member.id,
            branch_id=member.branch_id,
            rule_id=MANUAL_RULE_ID,
            day=UNTIL,
            period=CURRENT_PERIOD,
            quantity=Decimal(1),
            points=Decimal(1),
            reason="test",
            created_by_id=secretary.id,
            created_at=utcnow(),
        )
        session.add(adjustment)
        session.flush()
        assert adjustment.id == adjustments + 1
        line_ids = session.scalars(select(func.max(LedgerLine.id))).one()
        assert line_ids == lines


# --- publication ----------------------------------------------------------------------


def _town_time(moment: datetime) -> datetime:
    return moment.astimezone(TOWN_ZONE)


def test_complete_months_are_published_and_the_last_is_on_notice(
    town: Database, rulebook: Rulebook
) -> None:
    with town.transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
        assert report.ok, "\n".join(d.describe() for d in report.differences[:20])
        chain = verify_chain(session)
        # Four month boards, then the 2025 优秀 list (the demo's finished appraisal) and
        # last year's branch stars (service/ops/seed/ratings.py).
        assert chain.ok and chain.publications == 6
        results = session.scalars(select(Publication).order_by(Publication.id)).all()[-2:]
        assert [(p.kind, p.period) for p in results] == [
            (PublicationKind.EXCELLENT, "2025"),
            (PublicationKind.BRANCH_STARS, "2025"),
        ]

        admin = _account(session, "admin")
        publications = session.scalars(
            select(Publication)
            .where(Publication.kind == PublicationKind.MONTH)
            .order_by(Publication.id)
        ).all()
        assert [(p.period, p.revision) for p in publications] == [
            ("2026-08", 1),
            ("2026-09", 1),
            ("2026-09", 2),
            ("2026-10", 1),
        ]
        # Published in time order by the office, each month after it ended.
        assert [p.published_at for p in publications] == sorted(
            p.published_at for p in publications
        )
        assert all(p.published_by_id == admin.id for p in publications)
        first = {p.period: p for p in publications if p.revision == 1}
        assert _town_time(first["2026-08"].published_at) == datetime(
            2026, 9, 5, 10, 0, tzinfo=TOWN_ZONE
        )
        assert _town_time(first["2026-09"].published_at) == datetime(
            2026, 10, 5, 10, 0, tzinfo=TOWN_ZONE
        )
        last = first["2026-10"]
        assert _town_time(last.published_at).date() <= UNTIL
        # Objections are still taken for days after the demo was loaded.
        assert last.window_ends_at - UNTIL_EVENING > timedelta(days=3)
        for publication in publications:
            assert session.scalar(
                select(func.count())
                .select_from(PublishedMemberRow)
                .where(PublishedMemberRow.publication_id == publication.id)
            )

        # Older months are final, the last complete one is still on notice.
        states = {
            period: month_state(session, period, UNTIL_EVENING)
            for period in ("2026-08", "2026-09", "2026-10", CURRENT_PERIOD)
        }
        assert states == {
            "2026-08": MonthState.FINAL,
            "2026-09": MonthState.FINAL,
            "2026-10": MonthState.PUBLISHED,
            CURRENT_PERIOD: MonthState.OPEN,
        }

        # Nothing dated in a published month was still pending, nor decided, recorded
        # or revoked after it was published (but for the correction's revocation).
        pending = session.execute(
            select(Entry.period, func.count())
            .where(Entry.status == EntryStatus.PENDING)
            .group_by(Entry.period)
        ).all()
        assert [period for period, _ in pending] == [CURRENT_PERIOD]
        assert pending[0][1] >= 150
        corrected = next(p for p in publications if p.revision == 2)
        for entry in session.scalars(select(Entry).where(Entry.period < CURRENT_PERIOD)):
            published_at = first[entry.period].published_at
            assert entry.submitted_at < published_at
            assert entry.decided_at is not None and entry.decided_at < published_at
            if entry.revoked_at is not None and entry.revoked_at > published_at:
                assert entry.period == corrected.period
                assert published_at < entry.revoked_at < corrected.published_at
        for adjustment in session.scalars(select(Adjustment)):
            if adjustment.period in first:
                assert adjustment.created_at < first[adjustment.period].published_at


def test_an_older_month_was_corrected_after_an_objection(town: Database) -> None:
    with town.transaction(write=False) as session:
        member = _account(session, "member")
        admin = _account(session, "admin")
        original, revision = session.scalars(
            select(Publication).where(Publication.period == "2026-09").order_by(Publication.id)
        ).all()
        assert revision.revision == 2 and revision.replaces_id == original.id
        assert "撤销" in revision.reason and "9月" in revision.reason
        correction = session.scalar(select(Correction).where(Correction.period == "2026-09"))
        assert correction is not None
        assert correction.publication_id == revision.id
        assert correction.reason == revision.reason
        assert original.published_at < correction.opened_at < revision.published_at
        assert correction.opened_at < original.window_ends_at

        # The member objected to a colleague's line; the office corrected and said so.
        objection = session.scalar(select(Objection).where(Objection.publication_id == original.id))
        assert objection is not None
        assert objection.member_id == member.member_id
        assert objection.line_member_id not in (None, member.member_id)
        assert objection.status is ObjectionStatus.RESOLVED
        assert objection.resolution is Resolution.CORRECTED
        assert objection.correction_publication_id == revision.id
        assert objection.resolved_by_id == admin.id and objection.answer

        # Revision 2 differs by the revoked entry: the colleague lost its points.
        revoked = session.scalar(
            select(Entry).where(
                Entry.member_id == objection.line_member_id,
                Entry.period == "2026-09",
                Entry.status == EntryStatus.REVOKED,
                Entry.revoked_at > original.published_at,
            )
        )
        assert revoked is not None and revoked.rule_id == "volunteer"
        diff = diff_revisions(session, "2026-09", 1, 2)
        assert diff.changed and diff.reason == revision.reason
        change = next(c for c in diff.members if c.member_id == objection.line_member_id)
        assert change.points_before is not None and change.points_after is not None
        assert change.points_after < change.points_before
        assert any(c.name == PARK for c in diff.branches)


def test_the_last_month_takes_objections(town: Database) -> None:
    with town.transaction() as session:
        park = _branch(session, PARK)
        member = _account(session, "member")
        secretary = _account(session, "secretary")
        admin = _account(session, "admin")
        last = session.scalar(select(Publication).where(Publication.period == "2026-10"))
        assert last is not None
        objections = session.scalars(
            select(Objection).where(Objection.publication_id == last.id).order_by(Objection.id)
        ).all()
        assert len(objections) == 2
        answered, waiting = objections
        assert (answered.member_id, answered.line_member_id) == (member.member_id, member.member_id)
        assert answered.status is ObjectionStatus.RESOLVED
        assert answered.resolution is Resolution.NO_CHANGE
        assert answered.resolved_by_id == admin.id and answered.answer
        assert answered.resolved_at is not None
        assert last.published_at < answered.created_at < answered.resolved_at <= UNTIL_EVENING
        assert (waiting.member_id, waiting.line_branch_id) == (secretary.member_id, park.id)
        assert waiting.status is ObjectionStatus.OPEN and waiting.answer is None
        assert last.published_at < waiting.created_at <= UNTIL_EVENING

        # The window is open when the demo is used: the member can object again.
        principal = load_principal(session, member.id)
        assert principal is not None
        raise_objection(
            session,
            principal,
            "2026-10",
            LineRef(member_id=secretary.member_id),
            "请核实。",
            now=UNTIL_EVENING,
        )


@pytest.mark.parametrize(
    ("until", "published", "corrected"),
    [
        # Early in a month: the last month is published on the day itself.
        (date(2026, 12, 1), ["2026-09", "2026-10", "2026-11"], "2026-10"),
        (date(2026, 12, 3), ["2026-09", "2026-10", "2026-11"], "2026-10"),
        # The rules start on 2025-01-01: one complete month of activity, no older one.
        (date(2025, 2, 2), ["2025-01"], None),
        # Only part of a month of activity: nothing to publish yet.
        (date(2025, 1, 20), [], None),
    ],
)
def test_publication_near_the_edges(
    database: Database,
    rulebook: Rulebook,
    seeds_dir: Path,
    until: date,
    published: list[str],
    corrected: str | None,
) -> None:
    summary = _load(database, rulebook, seeds_dir, until)
    evening = datetime.combine(until, clock(21, 0), tzinfo=TOWN_ZONE)
    with database.transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
        assert report.ok, "\n".join(d.describe() for d in report.differences[:20])
        assert verify_chain(session).ok
        periods = session.execute(
            select(Publication.period, Publication.revision)
            .where(Publication.kind == PublicationKind.MONTH)
            .order_by(Publication.id)
        ).all()
        assert sorted({period for period, _ in periods}) == published
        assert [p for p, revision in periods if revision == 2] == ([corrected] if corrected else [])
        for period in published[:-1]:
            assert month_state(session, period, evening) is MonthState.FINAL
        if published:
            assert month_state(session, published[-1], evening) is MonthState.PUBLISHED
            assert f"{published[-1]} on notice" in summary
        else:
            assert "no month published" in summary
        current = until.strftime("%Y-%m")
        assert set(
            session.scalars(
                select(Entry.period).where(Entry.status == EntryStatus.PENDING).distinct()
            )
        ) == {current}
