"""Member accounts in bulk (service/accounts/bulk.py): who gets one, who is skipped and
why, who may do it, and what each account holds."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select

from service.accounts.bulk import (
    create_bulk_accounts,
    member_username,
    plan_bulk_accounts,
)
from service.accounts.passwords import verify_password
from service.cli import main
from service.cli.common import CliContext
from service.kernel.errors import NotFound, PermissionDenied
from service.persistence.db import Database
from service.persistence.models import (
    Account,
    AuditEvent,
    Member,
    MemberStatus,
    Role,
    RoleGrant,
)
from tests.conftest import SmallTown

LOOK_ALIKES = set("0O1lI")


def add_member(database: Database, branch_id: int, code: str, name: str, **extra: Any) -> int:
    with database.transaction() as session:
        member = Member(
            code=code,
            name=name,
            branch_id=branch_id,
            status=MemberStatus.FULL,
            joined_party_on=date(2015, 7, 1),
            active=extra.pop("active", True),
            **extra,
        )
        session.add(member)
        session.flush()
        return member.id


@pytest.fixture
def roster(town: SmallTown, database: Database) -> dict[str, int]:
    """Besides the town's 赵老 (M006, 金湾, no account): a newcomer of 金湾, one who left,
    one whose member number is the username of an existing account, one whose number no
    username can hold, and a newcomer of 宝元."""
    return {
        "newcomer": add_member(database, town.jinwan, "M007", "孙新"),
        "left": add_member(
            database, town.jinwan, "M008", "周离", active=False, left_on=date(2026, 3, 1)
        ),
        "clash": add_member(database, town.jinwan, "admin", "吴同名"),
        "odd": add_member(database, town.jinwan, "金湾 09", "郑九"),
        "baoyuan": add_member(database, town.baoyuan, "M010", "冯宝"),
    }


def test_the_office_creates_accounts_for_a_branch_and_skips_with_reasons(
    town: SmallTown, roster: dict[str, int], database: Database
) -> None:
    office = town.principal(database, "admin")
    with database.transaction() as session:
        result = create_bulk_accounts(session, office, town.jinwan)
    assert result.scope_name == "金湾工业园区联合党支部"
    created = {issued.member_name: issued for issued in result.created}
    assert set(created) == {"赵老", "孙新", "郑九"}
    assert created["赵老"].username == "M006"
    assert created["郑九"].username == f"m{roster['odd']}"
    skipped = {row.member_name: str(row.skipped) for row in result.skipped}
    assert skipped == {
        "张伟": "already has an account",
        "李娜": "already has an account",
        "王书记": "already has an account",
        "周离": "left on 2026-03-01",
        "吴同名": "the username admin is taken by another account",
    }
    passwords = [issued.password for issued in result.created]
    assert len(set(passwords)) == len(passwords)
    with database.transaction(write=False) as session:
        for issued in result.created:
            account = session.get(Account, issued.account_id)
            assert account is not None
            assert account.username == issued.username
            assert account.display_name == issued.member_name
            assert account.must_change_password and account.is_active
            assert account.password_hash.startswith("$argon2id$")
            assert verify_password(account.password_hash, issued.password)
            assert len(issued.password) >= 10 and not LOOK_ALIKES & set(issued.password)
            member = session.get(Member, account.member_id)
            assert member is not None and member.name == issued.member_name
            grants = session.execute(
                select(RoleGrant.role, RoleGrant.branch_id).where(
                    RoleGrant.account_id == account.id
                )
            ).all()
            assert grants == [(Role.MEMBER, town.jinwan)]
            # One audit line per account, naming it, without the password or its hash.
            lines = session.scalars(
                select(AuditEvent).where(
                    AuditEvent.kind == "account.create",
                    AuditEvent.object_id == str(account.id),
                )
            ).all()
            assert len(lines) == 1
            assert issued.password not in (lines[0].after or "")
            assert account.password_hash not in (lines[0].after or "")
        # Only 金湾's members: 宝元's newcomer has no account yet.
        assert session.scalar(select(Account).where(Account.member_id == roster["baoyuan"])) is None


def test_a_second_run_creates_nothing(
    town: SmallTown, roster: dict[str, int], database: Database
) -> None:
    office = town.principal(database, "admin")
    with database.transaction() as session:
        first = create_bulk_accounts(session, office, None)
    assert {issued.member_name for issued in first.created} == {"赵老", "孙新", "郑九", "冯宝"}
    with database.transaction() as session:
        again = create_bulk_accounts(session, office, None)
    assert again.created == ()
    reasons = {row.member_name: str(row.skipped) for row in again.skipped}
    assert reasons["冯宝"] == reasons["赵老"] == "already has an account"


def test_the_plan_changes_nothing(
    town: SmallTown, roster: dict[str, int], database: Database
) -> None:
    with database.transaction(write=False) as session:
        plan = plan_bulk_accounts(session, town.principal(database, "secretary2"), town.baoyuan)
        assert [row.username for row in plan.create] == ["M010"]
        assert session.scalar(select(Account).where(Account.username == "M010")) is None


def test_a_secretary_creates_for_their_own_branch_only(
    town: SmallTown, roster: dict[str, int], database: Database
) -> None:
    secretary = town.principal(database, "secretary")
    for principal, branch_id in [
        (secretary, town.baoyuan),
        (secretary, None),
        (town.principal(database, "instructor"), town.jinwan),
        (town.principal(database, "member"), town.jinwan),
    ]:
        with pytest.raises(PermissionDenied), database.transaction() as session:
            create_bulk_accounts(session, principal, branch_id)
    with database.transaction() as session:
        result = create_bulk_accounts(session, secretary, town.jinwan)
    assert {issued.member_name for issued in result.created} == {"赵老", "孙新", "郑九"}
    with pytest.raises(NotFound), database.transaction() as session:
        create_bulk_accounts(session, town.principal(database, "admin"), 999_999)


def test_usernames_are_member_numbers_when_they_can_be() -> None:
    assert member_username("M0042", 42) == "M0042"
    assert member_username("金湾 09", 7) == "m7"
    assert member_username("x", 8) == "m8"  # too short for a username


# --- the commands -------------------------------------------------------------------------


@pytest.fixture
def jifen(database: Database) -> Any:
    """Run `jifen ...` in-process against the test database."""
    runner = CliRunner()
    context = CliContext(opened=database)

    def run(*args: str) -> Any:
        return runner.invoke(main, list(args), obj=context, catch_exceptions=False)

    return run


def test_create_bulk_writes_a_private_sheet_and_never_overwrites(
    jifen: Any, town: SmallTown, roster: dict[str, int], database: Database, tmp_path: Path
) -> None:
    sheet = tmp_path / "jinwan.xlsx"
    done = jifen("accounts", "create-bulk", "--branch", "B001", "--sheet", str(sheet))
    assert done.exit_code == 0, done.output
    assert "3 accounts created, 5 members skipped" in done.output
    assert "M008\t周离\tleft on 2026-03-01" in done.output
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o600
    workbook = load_workbook(sheet)
    assert workbook.active is not None
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[0][3:5] == ("Username", "Initial password")
    usernames = [row[3] for row in rows[1:]]
    assert usernames == ["M006", "M007", f"m{roster['odd']}"]
    with database.transaction(write=False) as session:
        for row in rows[1:]:
            account = session.scalar(select(Account).where(Account.username == row[3]))
            assert account is not None and account.must_change_password
            assert verify_password(account.password_hash, str(row[4]))
    before = sheet.read_bytes()

    refused = jifen("accounts", "create-bulk", "--all", "--sheet", str(sheet))
    assert refused.exit_code == 1 and "exists" in refused.output
    assert sheet.read_bytes() == before
    with database.transaction(write=False) as session:
        assert session.scalar(select(Account).where(Account.member_id == roster["baoyuan"])) is None

    for args, words in [
        (("--sheet", str(tmp_path / "a.xlsx")), "--branch CODE or --all"),
        (("--all", "--branch", "B001", "--sheet", str(tmp_path / "b.xlsx")), "--branch CODE"),
        (("--branch", "B999", "--sheet", str(tmp_path / "c.xlsx")), "No branch has this code"),
        (("--all", "--sheet", str(tmp_path / "nowhere" / "d.xlsx")), "nowhere"),
    ]:
        result = jifen("accounts", "create-bulk", *args)
        assert result.exit_code == 1, args
        assert words in result.output, (args, result.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jinwan.xlsx"]

    town_sheet = tmp_path / "town.xlsx"
    rest = jifen("accounts", "create-bulk", "--all", "--sheet", str(town_sheet), "--by", "admin")
    assert rest.exit_code == 0 and "1 accounts created" in rest.output
    town_rows = load_workbook(town_sheet).active
    assert town_rows is not None
    assert [r[3] for r in town_rows.iter_rows(min_row=2, values_only=True)] == ["M010"]


def test_create_takes_the_name_from_the_member(
    jifen: Any, town: SmallTown, database: Database
) -> None:
    created = jifen("accounts", "create", "zhao", "--member", "M006")
    assert created.exit_code == 0, created.output
    with database.transaction(write=False) as session:
        account = session.scalar(select(Account).where(Account.username == "zhao"))
        assert account is not None and account.display_name == "赵老"
    for args, words in [
        (("accounts", "create", "nobody"), "--name is required unless --member"),
        (("accounts", "create", "ghost", "--member", "M999"), "no member with number"),
    ]:
        result = jifen(*args)
        assert result.exit_code == 1 and words in result.output, result.output


def test_reset_password_asks_for_a_new_one_at_next_sign_in(
    jifen: Any, town: SmallTown, database: Database
) -> None:
    reset = jifen("accounts", "reset-password", "member2")
    assert reset.exit_code == 0
    with database.transaction(write=False) as session:
        account = session.get(Account, town.account_ids["member2"])
        assert account is not None and account.must_change_password
        assert verify_password(account.password_hash, reset.output.strip().splitlines()[-1])
