"""The audit log on a real database: every change through the ORM leaves one event in
the same transaction, with who, where, what, and the changed fields before and after."""

from __future__ import annotations

import csv
import io
import json
import stat
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete, func, insert, select, update

from service.audit.capture import AuditContext, acting, current_context, suspended
from service.audit.log import (
    CSV_COLUMNS,
    AuditFilter,
    audit_page,
    count_events,
    iter_events,
    to_csv,
)
from service.cli import main
from service.cli.common import CliContext
from service.entries.entry import EntryInput, submit_entry, withdraw_entry
from service.entries.review import approve_entry, reject_entry, revoke_entry
from service.kernel.config import PROJECT_ROOT, Settings
from service.kernel.periods import period_of, shift_period, town_today
from service.persistence.db import Database
from service.persistence.models import (
    Account,
    AuditEvent,
    Branch,
    BranchKind,
    LedgerLine,
    Member,
    MemberStatus,
    PointsSummary,
    Role,
    RoleGrant,
    WebSession,
)
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


def events(database: Database, **where: Any) -> list[AuditEvent]:
    with database.transaction(write=False) as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        return list(session.scalars(query))


def submit(database: Database, town: SmallTown, rulebook: Rulebook, username: str) -> int:
    with database.transaction() as session:
        return submit_entry(
            session,
            town.principal(database, username),
            rulebook,
            EntryInput("volunteer", today(), Decimal(2), "在西山桥路口指挥交通"),
            today=today(),
            now=utcnow(),
        )


def test_create_update_delete_are_recorded_with_actor_and_address(database: Database) -> None:
    with database.transaction() as session:
        session.add(Account(username="office", password_hash="x", display_name="组织办"))
    with database.transaction(write=False) as session:
        office_id = session.scalar(select(Account.id).where(Account.username == "office"))
    assert office_id is not None

    with acting(office_id, "203.0.113.7"), database.transaction() as session:
        branch = Branch(code="B901", name="西山桥联合党支部", kind=BranchKind.JOINT)
        session.add(branch)
        session.flush()
        branch_id = branch.id
    with acting(office_id, "203.0.113.7"), database.transaction() as session:
        found = session.get(Branch, branch_id)
        assert found is not None
        found.name = "西山桥两新组织联合党支部"
    with acting(office_id, "203.0.113.8"), database.transaction() as session:
        grant = RoleGrant(account_id=office_id, role=Role.INSTRUCTOR, branch_id=branch_id)
        session.add(grant)
        session.flush()
        grant_id = grant.id
        session.flush()
    with acting(office_id, "203.0.113.8"), database.transaction() as session:
        session.delete(session.get(RoleGrant, grant_id))

    created, updated = events(database, object_type="branch")
    assert created.kind == "branch.create"
    assert created.actor_id == office_id and created.ip_address == "203.0.113.7"
    assert created.object_id == str(branch_id) and created.branch_id == branch_id
    assert created.before is None
    after = json.loads(created.after or "{}")
    assert after["code"] == "B901" and after["kind"] == "joint"
    assert "created_at" in after  # timestamps as ISO strings

    assert updated.kind == "branch.update"
    assert json.loads(updated.before or "{}") == {"name": "西山桥联合党支部"}
    assert json.loads(updated.after or "{}") == {"name": "西山桥两新组织联合党支部"}
    assert updated.summary.startswith("西山桥两新组织联合党支部")

    granted, revoked = events(database, object_type="role_grant")
    assert granted.kind == "role_grant.create" and revoked.kind == "role_grant.delete"
    assert revoked.ip_address == "203.0.113.8" and revoked.branch_id == branch_id
    assert json.loads(revoked.before or "{}") == {
        "account_id": office_id,
        "branch_id": branch_id,
        "id": grant_id,
        "role": "instructor",
    }
    assert revoked.after is None and revoked.object_id == str(grant_id)


def test_nothing_changed_nothing_recorded(database: Database, town: SmallTown) -> None:
    before = len(events(database))
    with database.transaction() as session:
        member = session.get(Member, town.member_ids["member"])
        assert member is not None
        member.name = member.name  # same value
        session.flush()
    assert len(events(database)) == before


def test_entry_life_cycle_has_specific_kinds(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    secretary = town.principal(database, "secretary")
    with acting(town.account_ids["member"], "198.51.100.1"):
        first = submit(database, town, rulebook, "member")
        second = submit(database, town, rulebook, "member")
        third = submit(database, town, rulebook, "member")
    with acting(secretary.account_id, "198.51.100.2"), database.transaction() as session:
        approve_entry(session, secretary, rulebook, first, now=utcnow())
        reject_entry(session, secretary, second, "请补充照片", now=utcnow())
    with acting(secretary.account_id, "198.51.100.2"), database.transaction() as session:
        revoke_entry(session, secretary, rulebook, first, "重复申报", now=utcnow())
    with database.transaction() as session:
        withdraw_entry(session, town.principal(database, "member"), third, now=utcnow())

    kinds = [(e.kind, e.object_id) for e in events(database, object_type="entry")]
    assert kinds == [
        ("entry.create", str(first)),
        ("entry.create", str(second)),
        ("entry.create", str(third)),
        ("entry.approve", str(first)),
        ("entry.reject", str(second)),
        ("entry.revoke", str(first)),
        ("entry.withdraw", str(third)),
    ]
    approve = events(database, kind="entry.approve")[0]
    assert approve.actor_id == secretary.account_id and approve.ip_address == "198.51.100.2"
    assert approve.branch_id == town.jinwan
    assert json.loads(approve.before or "{}")["status"] == "pending"
    after = json.loads(approve.after or "{}")
    assert after["status"] == "approved" and after["decided_by_id"] == secretary.account_id
    reject = events(database, kind="entry.reject")[0]
    assert json.loads(reject.after or "{}")["decision_reason"] == "请补充照片"
    submitted = events(database, kind="entry.create")[0]
    assert submitted.actor_id == town.account_ids["member"]
    assert json.loads(submitted.after or "{}")["quantity"] == "2"  # decimals as strings
    assert json.loads(submitted.after or "{}")["activity_date"] == today().isoformat()
    # Derived rows are not audited: the ledger and the summary have their own history.
    assert not events(database, object_type="ledger_line")
    assert not events(database, object_type="points_summary")
    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(LedgerLine))
        assert session.scalar(select(func.count()).select_from(PointsSummary)) is not None


def test_password_hash_is_never_recorded(database: Database, town: SmallTown) -> None:
    with database.transaction() as session:
        account = session.get(Account, town.account_ids["member"])
        assert account is not None
        old_hash = account.password_hash
        account.password_hash = "$argon2id$v=19$new-secret-hash"
        account.last_login_at = utcnow()  # noise: never recorded
    (event,) = events(database, kind="account.password")
    assert json.loads(event.after or "{}") == {"password_hash": "changed"}
    assert "argon2" not in (event.before or "") + (event.after or "")
    assert old_hash not in (event.before or "")
    with database.transaction(write=False) as session:
        texts = session.scalars(select(AuditEvent.after).where(AuditEvent.object_type == "account"))
        assert all("argon2" not in (text or "") for text in texts)


def test_disable_and_transfer_kinds(database: Database, town: SmallTown) -> None:
    with database.transaction() as session:
        account = session.get(Account, town.account_ids["member2"])
        member = session.get(Member, town.member_ids["member3"])
        assert account is not None and member is not None
        account.disabled_at = utcnow()
        account.is_active = False
        member.branch_id = town.jinwan
    (disabled,) = events(database, kind="account.disable")
    assert disabled.object_id == str(town.account_ids["member2"])
    assert disabled.branch_id == town.jinwan  # the account's member's branch
    (transfer,) = events(database, kind="member.transfer")
    assert json.loads(transfer.before or "{}") == {"branch_id": town.baoyuan}
    assert json.loads(transfer.after or "{}") == {"branch_id": town.jinwan}


def test_noise_is_not_audited(database: Database, town: SmallTown) -> None:
    before = len(events(database))
    with database.transaction() as session:
        account = session.get(Account, town.account_ids["member"])
        assert account is not None
        account.last_login_at = utcnow()
        session.add(
            WebSession(
                id="a" * 64,
                account_id=account.id,
                created_at=utcnow(),
                last_seen_at=utcnow(),
            )
        )
    assert len(events(database)) == before


def test_change_and_its_event_roll_back_together(database: Database, town: SmallTown) -> None:
    before = len(events(database))
    with pytest.raises(RuntimeError, match="boom"), database.transaction() as session:
        member = session.get(Member, town.member_ids["member"])
        assert member is not None
        member.phone = "13800000000"
        session.flush()
        raise RuntimeError("boom")
    assert len(events(database)) == before


def test_bulk_statements_are_recorded(database: Database, town: SmallTown) -> None:
    with acting(town.account_ids["admin"], "cli"), database.transaction() as session:
        # Numbered by the database: fixed ids would meet the sequence's on PostgreSQL,
        # which a rolled-back test does not rewind.
        session.execute(
            insert(Member),
            [
                {
                    "code": f"M9{n:02d}",
                    "name": f"导入{n}",
                    "branch_id": town.baoyuan,
                    "status": MemberStatus.FULL,
                    "active": True,
                }
                for n in range(3)
            ],
        )
        session.execute(update(Member).where(Member.code.like("M9%")).values(phone="13900000000"))
        ids = [
            str(member_id)
            for member_id in session.scalars(
                select(Member.id).where(Member.code.like("M9%")).order_by(Member.code)
            )
        ]
    created = events(database, kind="member.create")
    labels = ["导入0 M900", "导入1 M901", "导入2 M902"]
    imported = [e for e in created if e.summary in labels]
    assert sorted(e.summary for e in imported) == labels
    assert all(e.branch_id == town.baoyuan and e.actor_id for e in imported)
    # One line per member changed, named and numbered like a change made one by one,
    # with the field before and after; never the statement's SQL.
    changed = events(database, kind="member.update")
    assert sorted((e.object_id, e.summary) for e in changed) == sorted(
        zip(ids, labels, strict=True)
    )
    for event in changed:
        assert json.loads(event.before or "{}") == {"phone": None}
        assert json.loads(event.after or "{}") == {"phone": "13900000000"}
        assert event.branch_id == town.baoyuan and event.actor_id
    assert events(database, kind="member.bulk_update") == []
    assert all("member.id" not in e.summary and ":" not in e.summary for e in events(database))


def test_a_bulk_delete_names_each_row_and_what_it_held(database: Database, town: SmallTown) -> None:
    with acting(town.account_ids["admin"], "cli"), database.transaction() as session:
        session.execute(
            delete(RoleGrant).where(
                RoleGrant.account_id == town.account_ids["secretary"],
                RoleGrant.role == Role.SECRETARY,
            )
        )
    (deleted,) = events(database, kind="role_grant.delete")
    assert deleted.summary == "secretary"
    assert json.loads(deleted.before or "{}")["account_id"] == town.account_ids["secretary"]
    assert deleted.after is None


def test_suspended_records_nothing(database: Database) -> None:
    with suspended(), database.transaction() as session:
        session.add(Branch(code="B902", name="静默支部", kind=BranchKind.SINGLE))
        session.execute(
            insert(Branch), [{"code": "B903", "name": "批量支部", "kind": BranchKind.SINGLE}]
        )
    assert events(database) == []


def test_audit_events_are_append_only(database: Database, town: SmallTown) -> None:
    event_id = events(database)[0].id
    with pytest.raises(RuntimeError, match="append-only"), database.transaction() as session:
        found = session.get(AuditEvent, event_id)
        assert found is not None
        found.kind = "member.nothing"
    with pytest.raises(RuntimeError, match="append-only"), database.transaction() as session:
        session.delete(session.get(AuditEvent, event_id))
    with pytest.raises(RuntimeError, match="append-only"), database.transaction() as session:
        session.execute(delete(AuditEvent))
    with pytest.raises(RuntimeError, match="append-only"), database.transaction() as session:
        session.execute(update(AuditEvent).values(kind="x"))
    assert events(database)[0].id == event_id


def test_filters_and_csv(database: Database, town: SmallTown, rulebook: Rulebook) -> None:
    secretary = town.principal(database, "secretary")
    with acting(town.account_ids["member"], "198.51.100.1"):
        entry_id = submit(database, town, rulebook, "member")
    with acting(secretary.account_id, "198.51.100.2"), database.transaction() as session:
        approve_entry(session, secretary, rulebook, entry_id, now=utcnow())
    zone = "Asia/Shanghai"
    with database.transaction(write=False) as session:
        by_secretary = list(iter_events(session, AuditFilter(account="secretary"), timezone=zone))
        assert [row.kind for row in by_secretary] == ["entry.approve"]
        row = by_secretary[0]
        assert row.actor == "secretary" and row.branch == "金湾工业园区联合党支部"
        assert ("status", "pending", "approved") in row.fields
        in_baoyuan = count_events(session, AuditFilter(branch="B002", kind="member"), timezone=zone)
        assert in_baoyuan == 2  # member3 and secretary2 of the small town
        entries = count_events(session, AuditFilter(kind="entry"), timezone=zone)
        assert entries == 2
        tomorrow = today() + timedelta(days=1)
        assert not count_events(session, AuditFilter(since=tomorrow), timezone=zone)
        assert count_events(
            session, AuditFilter(since=today(), until=today()), timezone=zone
        ) == count_events(session, AuditFilter(), timezone=zone)
        page = audit_page(session, AuditFilter(), timezone=zone, size=5, page=2)
        assert page.page == 2 and len(page.items) == 5
        newest = audit_page(session, AuditFilter(), timezone=zone, size=1)
        assert newest.items[0].kind == "entry.approve"
        body = to_csv(
            iter_events(session, AuditFilter(kind="entry"), timezone=zone),
            CSV_COLUMNS,
            timezone=zone,
        )
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == list(CSV_COLUMNS)
    assert [r[4] for r in rows[1:]] == ["entry.approve", "entry.create"]
    assert rows[1][1].endswith("+08:00")  # town time with its offset


def test_formulas_are_neutralised_in_csv(database: Database) -> None:
    with database.transaction() as session:
        session.add(Branch(code="B904", name="=HYPERLINK(1)", kind=BranchKind.SINGLE))
    with database.transaction(write=False) as session:
        body = to_csv(
            iter_events(session, AuditFilter(), timezone="Asia/Shanghai"),
            CSV_COLUMNS,
            timezone="Asia/Shanghai",
        )
    assert "'=HYPERLINK(1)" in body.decode("utf-8-sig")


# --- the command line and the seed ------------------------------------------------------


@pytest.fixture
def run(database: Database) -> Any:
    settings = Settings(env="test")

    def invoke(args: list[str]) -> Result:
        return CliRunner().invoke(main, args, obj=CliContext(settings, database))

    return invoke


def test_cli_changes_are_audited_as_cli_and_by(
    run: Any, database: Database, town: SmallTown, tmp_path: Path
) -> None:
    last_month = shift_period(period_of(today()), -1)
    published = run(["publish", "month", last_month, "--yes"])  # nothing counts in it
    assert published.exit_code == 0, published.output
    (event,) = events(database, kind="publication.create")
    assert event.actor_id is None and event.ip_address == "cli"
    assert current_context() == AuditContext()  # reset after the command

    corrected = run(["publish", "correct", last_month, "--reason", "核实更正", "--by", "admin"])
    assert corrected.exit_code == 0, corrected.output
    (event,) = events(database, kind="correction.create")
    assert event.actor_id == town.account_ids["admin"] and event.ip_address == "cli"
    assert current_context() == AuditContext()

    listed = run(["audit", "list", "--kind", "correction", "--account", "admin"])
    assert listed.exit_code == 0, listed.output
    assert "admin@cli  correction.create" in listed.output
    assert "reason: - -> 核实更正" in listed.output
    assert "1 of 1 events" in listed.output

    out = tmp_path / "audit.csv"
    exported = run(["audit", "export", str(out), "--branch", "B002", "--since", "2020-01-01"])
    assert exported.exit_code == 0, exported.output
    # Before and after values hold ID numbers and phones: the owner's alone.
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[1:] and all(row[7] == "宝元鞋厂党支部" for row in rows[1:])

    bad = run(["audit", "list", "--since", "yesterday"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_demo_seed_is_not_audited(database: Database, rulebook: Rulebook) -> None:
    from service.ops.seed.load import load_demo_town

    with database.transaction() as session:
        load_demo_town(
            session, rulebook, PROJECT_ROOT / "seeds", until=date(2026, 11, 20), env="test"
        )
    assert events(database) == []
