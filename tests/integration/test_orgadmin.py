"""People administration in the service layer on a real database, and the `jifen
accounts / branches / members` commands: the checks hold whatever the caller is."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from service.accounts.admin import RolesInput, disable_account, reset_password, set_roles
from service.accounts.passwords import authenticate, verify_password
from service.accounts.sessions import resolve_session, start_session
from service.cli import main
from service.cli.common import CliContext
from service.kernel.errors import InvalidInput, PermissionDenied
from service.people.fields import id_number_problem, phone_problem
from service.people.members import create_member, parse_member, update_member
from service.persistence.db import Database
from service.persistence.models import (
    Account,
    AuditEvent,
    Member,
    Membership,
    Organisation,
    Role,
    RoleGrant,
    WebSession,
)
from service.persistence.types import utcnow
from tests.conftest import PASSWORD, SmallTown

TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("11010519491231002X", True),
        ("440524188001010014", True),
        ("11010519491231002x".upper(), True),
        ("110105194912310021", False),  # wrong check character
        ("11010519491331002X", False),  # month 13
        ("1101051949123100", False),  # too short
        ("11010519491231002Y", False),
    ],
)
def test_id_number_format_and_checksum(value: str, ok: bool) -> None:
    assert (id_number_problem(value) is None) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("13812345678", True), ("19912345678", True), ("12812345678", False), ("1381234567", False)],
)
def test_mainland_mobile_numbers(value: str, ok: bool) -> None:
    assert (phone_problem(value) is None) is ok


def test_parse_member_collects_every_problem_and_normalises() -> None:
    parsed = parse_member(
        {
            "code": "M9",
            "name": "甲",
            "status": "mobile",
            "id_number": "11010519491231002x",
            "phone": "+86 138-1234-5678",
        },
        today=TODAY,
    )
    assert parsed.id_number == "11010519491231002X" and parsed.phone == "13812345678"
    with pytest.raises(InvalidInput) as caught:
        parse_member(
            {"code": "", "name": "", "status": "retired", "joined_party_on": "2027-01-01"},
            today=TODAY,
        )
    assert set(caught.value.errors) == {"code", "name", "status", "joined_party_on"}


def _member_input(**values: str) -> Any:
    return parse_member({"code": "M500", "name": "新人", "status": "full", **values}, today=TODAY)


def test_a_secretary_adds_and_edits_only_in_their_own_branch(
    database: Database, town: SmallTown
) -> None:
    secretary = town.principal(database, "secretary")
    secretary2 = town.principal(database, "secretary2")
    instructor = town.principal(database, "instructor")
    with database.transaction() as session:
        member_id = create_member(
            session, secretary, _member_input(), branch_id=town.jinwan, now=utcnow()
        )
        stay = session.scalar(select(Membership).where(Membership.member_id == member_id))
        assert stay is not None and stay.branch_id == town.jinwan and stay.to_date is None
    for actor in (secretary2, instructor):
        with database.transaction() as session, pytest.raises(PermissionDenied):
            update_member(session, actor, member_id, _member_input(name="改名"))
        with database.transaction() as session, pytest.raises(PermissionDenied):
            create_member(
                session, actor, _member_input(code="M501"), branch_id=town.jinwan, now=utcnow()
            )
    # Through their own branch's roster, secretary2 still cannot reach a 金湾 member.
    with database.transaction() as session, pytest.raises(PermissionDenied):
        update_member(
            session, secretary2, member_id, _member_input(name="改名"), branch_id=town.baoyuan
        )
    with database.transaction() as session:
        update_member(session, secretary, member_id, _member_input(left_on="2026-10-31"))
    with database.transaction(write=False) as session:
        member = session.get(Member, member_id)
        assert member is not None and member.name == "新人" and not member.active
        stay = session.scalar(select(Membership).where(Membership.member_id == member_id))
        assert stay is not None and stay.to_date == date(2026, 10, 31)
        kinds = session.scalars(
            select(AuditEvent.kind).where(
                AuditEvent.object_type == "member", AuditEvent.object_id == str(member_id)
            )
        ).all()
        assert len(kinds) >= 2  # the audit log saw the creation and the change


def test_disable_and_reset_end_sessions_and_keep_history(
    database: Database, town: SmallTown
) -> None:
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        account = session.get(Account, town.account_ids["member"])
        assert account is not None
        token = start_session(session, account, now=utcnow())
    with database.transaction() as session:
        reset_password(session, admin, town.account_ids["member"], "initial-pass-99")
    with database.transaction(write=False) as session:
        lookup = resolve_session(
            session, token, now=utcnow(), idle=_minutes(30), absolute=_minutes(600)
        )
        assert lookup.principal is None
        account = authenticate(session, "member", "initial-pass-99")
        assert account is not None and account.must_change_password
    with database.transaction() as session:
        account = session.get(Account, town.account_ids["member"])
        assert account is not None
        token = start_session(session, account, now=utcnow())
        lookup = resolve_session(
            session, token, now=utcnow(), idle=_minutes(30), absolute=_minutes(600)
        )
        # The session only allows the password change.
        assert lookup.principal is None and lookup.password_change is not None
    with database.transaction() as session:
        disable_account(session, admin, town.account_ids["member"], now=utcnow())
    with database.transaction(write=False) as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(WebSession)
                .where(WebSession.account_id == town.account_ids["member"])
            )
            == 0
        )
        assert authenticate(session, "member", "initial-pass-99") is None
        assert session.get(Member, town.member_ids["member"]) is not None


def test_only_the_office_changes_roles(database: Database, town: SmallTown) -> None:
    with database.transaction() as session, pytest.raises(PermissionDenied):
        set_roles(
            session,
            town.principal(database, "secretary"),
            town.account_ids["secretary"],
            RolesInput(admin=True),
        )
    with database.transaction() as session:
        set_roles(
            session,
            town.principal(database, "admin"),
            town.account_ids["instructor"],
            RolesInput(instructor_of=frozenset({town.jinwan, town.baoyuan})),
        )
    with database.transaction(write=False) as session:
        grants = session.execute(
            select(RoleGrant.role, RoleGrant.branch_id).where(
                RoleGrant.account_id == town.account_ids["instructor"]
            )
        ).all()
        assert sorted((role, branch) for role, branch in grants) == sorted(
            [(Role.INSTRUCTOR, town.jinwan), (Role.INSTRUCTOR, town.baoyuan)]
        )


def _minutes(n: int) -> Any:
    from datetime import timedelta

    return timedelta(minutes=n)


# --- the commands -------------------------------------------------------------------------


@pytest.fixture
def jifen(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run `jifen ...` in-process against the test database."""
    runner = CliRunner()
    context = CliContext(opened=database)

    def run(*args: str) -> Any:
        return runner.invoke(main, list(args), obj=context, catch_exceptions=False)

    yield run


def test_accounts_commands(jifen: Any, town: SmallTown, database: Database) -> None:
    created = jifen(
        "accounts", "create", "elder", "--name", "赵老", "--member", "M006",
        "--role", "secretary:B002", "--role", "instructor:B001",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    password = created.output.strip().splitlines()[-1]
    with database.transaction(write=False) as session:
        account = session.scalar(select(Account).where(Account.username == "elder"))
        assert account is not None and account.must_change_password
        assert verify_password(account.password_hash, password)
        roles = set(
            session.execute(
                select(RoleGrant.role, RoleGrant.branch_id).where(
                    RoleGrant.account_id == account.id
                )
            ).all()
        )
        assert roles == {(Role.SECRETARY, town.baoyuan), (Role.INSTRUCTOR, town.jinwan)}

    for args, words in [
        (("accounts", "create", "elder", "--name", "x"), "username: This username is taken"),
        (
            ("accounts", "create", "y1", "--name", "x", "--role", "boss:B001"),
            "secretary:BRANCHCODE",
        ),
        (("accounts", "create", "y2", "--name", "x", "--role", "secretary:B999"), "no branch"),
        (("accounts", "create", "y3", "--name", "x", "--member", "M001"), "already has an account"),
        (("accounts", "disable", "nobody"), "No account has this username."),
        (("members", "list", "--branch", "B999"), "no branch with code"),
    ]:
        result = jifen(*args)
        assert result.exit_code == 1, args
        assert words in result.output, (args, result.output)

    reset = jifen("accounts", "reset-password", "member")
    assert reset.exit_code == 0
    new_password = reset.output.strip().splitlines()[-1]
    disabled = jifen("accounts", "disable", "member")
    assert disabled.exit_code == 0 and "signed out everywhere" in disabled.output
    assert jifen("accounts", "disable", "member").exit_code == 1
    with database.transaction(write=False) as session:
        assert authenticate(session, "member", new_password) is None
    assert jifen("accounts", "enable", "member").exit_code == 0
    with database.transaction(write=False) as session:
        account = authenticate(session, "member", new_password)
        assert account is not None and account.must_change_password
        assert authenticate(session, "member", PASSWORD) is None


def test_branch_and_member_lists(jifen: Any, town: SmallTown) -> None:
    branches = jifen("branches", "list")
    assert branches.exit_code == 0
    lines = branches.output.strip().splitlines()
    assert lines[1:] == [
        "B001\tjoint\t4\t1\t金湾工业园区联合党支部",
        "B002\tsingle\t2\t1\t宝元鞋厂党支部",
    ]
    members = jifen("members", "list", "--branch", "B002")
    assert members.exit_code == 0
    assert members.output.strip().splitlines()[1:] == [
        "M004\t刘洋\t宝元鞋厂党支部\tprobationary\tactive",
        "M005\t陈书记\t宝元鞋厂党支部\tfull\tactive",
    ]
    everybody = jifen("members", "list")
    assert len(everybody.output.strip().splitlines()) == 7


def test_branch_and_organisation_commands(jifen: Any, town: SmallTown, database: Database) -> None:
    created = jifen("branches", "create", "B003", "西山桥商业街联合党支部", "--kind", "joint")
    assert created.exit_code == 0, created.output
    for name, owner in [("西山桥百货商行", "林老板"), ("西山桥餐饮店", "何老板")]:
        added = jifen(
            "organisations", "create", name, "--branch", "B003", "--kind", "enterprise",
            "--employees", "12", "--owner", owner,
        )  # fmt: skip
        assert added.exit_code == 0, added.output
    listed = jifen("organisations", "list", "--search", "西山桥")
    assert listed.exit_code == 0
    assert [line.split("\t")[0] for line in listed.output.strip().splitlines()[1:]] == [
        "B003",
        "B003",
    ]
    assert "B003\tjoint\t0\t2\t西山桥商业街联合党支部" in jifen("branches", "list").output

    for args, words in [
        (("branches", "create", "B003", "另一个支部", "--kind", "single"), "code"),
        (
            ("organisations", "create", "某厂", "--branch", "B999", "--kind", "enterprise",
             "--employees", "3", "--owner", "某人"),
            "no branch with code",
        ),
        # 宝元鞋厂党支部 is single and already covers its one organisation
        (
            ("organisations", "create", "宝元二厂", "--branch", "B002", "--kind", "enterprise",
             "--employees", "3", "--owner", "某人"),
            "error:",
        ),
    ]:  # fmt: skip
        result = jifen(*args)
        assert result.exit_code == 1, (args, result.output)
        assert words in result.output, (args, result.output)
    with database.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Organisation)) == 4
