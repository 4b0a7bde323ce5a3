"""Shared fixtures: a real database (SQLite file, or PostgreSQL when
JIFEN_TEST_DATABASE_URL is set), migrated by Alembic once per run and emptied after
every test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

os.environ.setdefault("JIFEN_ENV", "test")
# The CLI speaks the terminal's language; tests read its English unless they ask for
# another one (tests/functional/test_cli_locale.py), whatever the developer's shell says.
os.environ["LANG"] = "C.UTF-8"
os.environ.pop("LANGUAGE", None)
os.environ.pop("LC_ALL", None)
os.environ.pop("LC_MESSAGES", None)
os.environ.pop("JIFEN_LOCALE", None)

from service.database import open_database
from service.kernel.config import PROJECT_ROOT
from service.persistence.db import Database
from service.persistence.migrate import upgrade
from service.persistence.models import Base
from service.scoring.rules import Rulebook

IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI nothing real may silently not run: any skipped test fails the run."""
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        for report in skipped:
            print(f"\nCI: skipped test counts as a failure: {report.nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("JIFEN_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'jifen-test.sqlite3'}"


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> Iterator[Database]:
    """On PostgreSQL each run gets its own schema, so runs side by side never collide."""
    if not database_url.startswith("postgresql"):
        database = open_database(database_url)
        upgrade(database.engine)
        yield database
        database.dispose()
        return
    schema = f"jifen_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = open_database(database_url)
    with admin.engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    database = open_database(database_url, connect_args={"options": f"-c search_path={schema}"})
    try:
        upgrade(database.engine)
        yield database
    finally:
        database.dispose()
        with admin.engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def wipe(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names


@pytest.fixture
def database(migrated_database: Database) -> Iterator[Database]:
    """An empty, migrated database; whatever a test writes is removed afterwards."""
    wipe(migrated_database)
    yield migrated_database
    wipe(migrated_database)


@pytest.fixture(scope="session")
def rulebook() -> Rulebook:
    return Rulebook.from_directory(PROJECT_ROOT / "scoring_rules")


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


# --- a small town for integration and functional tests -------------------------------

import re  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import date  # noqa: E402
from functools import lru_cache  # noqa: E402
from typing import Any  # noqa: E402

from litestar import Litestar  # noqa: E402
from litestar.testing import TestClient  # noqa: E402

from service.accounts.passwords import hash_password  # noqa: E402
from service.accounts.principal import Principal, load_principal  # noqa: E402
from service.kernel.config import Settings  # noqa: E402
from service.persistence.models import (  # noqa: E402
    Account,
    Branch,
    BranchKind,
    Member,
    MemberStatus,
    Organisation,
    OrganisationKind,
    Role,
    RoleGrant,
)

PASSWORD = "correct horse battery staple"


@lru_cache(maxsize=1)
def password_hash() -> str:
    # Hashing once keeps the suite fast; every account still verifies through argon2id.
    return hash_password(PASSWORD)


@dataclass(frozen=True)
class SmallTown:
    """Two branches. In 金湾: member (a), member2 (b), secretary (also a member).
    In 宝元: member3 and secretary2. Plus an instructor of 金湾 and an admin."""

    jinwan: int
    baoyuan: int
    member_ids: dict[str, int]
    account_ids: dict[str, int]

    def principal(self, database: Database, username: str) -> Principal:
        with database.transaction(write=False) as session:
            principal = load_principal(session, self.account_ids[username])
        assert principal is not None
        return principal


@pytest.fixture
def town(database: Database) -> SmallTown:
    with database.transaction() as session:
        jinwan = Branch(code="B001", name="金湾工业园区联合党支部", kind=BranchKind.JOINT)
        baoyuan = Branch(code="B002", name="宝元鞋厂党支部", kind=BranchKind.SINGLE)
        session.add_all([jinwan, baoyuan])
        session.flush()
        for index, (name, branch) in enumerate(
            [("飞鹰机械有限公司", jinwan), ("宝元鞋厂", baoyuan)], start=1
        ):
            session.add(
                Organisation(
                    branch_id=branch.id,
                    name=name,
                    kind=OrganisationKind.ENTERPRISE,
                    business_status="operating",
                    employee_count=100 * index,
                    owner_name="业主",
                )
            )
        people = {
            "member": ("M001", "张伟", jinwan, MemberStatus.FULL),
            "member2": ("M002", "李娜", jinwan, MemberStatus.FULL),
            "secretary": ("M003", "王书记", jinwan, MemberStatus.FULL),
            "member3": ("M004", "刘洋", baoyuan, MemberStatus.PROBATIONARY),
            "secretary2": ("M005", "陈书记", baoyuan, MemberStatus.FULL),
            "elder": ("M006", "赵老", jinwan, MemberStatus.EXEMPT),
        }
        member_ids: dict[str, int] = {}
        account_ids: dict[str, int] = {}
        for username, (code, name, branch, status) in people.items():
            member = Member(
                code=code,
                name=name,
                branch_id=branch.id,
                status=status,
                joined_party_on=date(2010, 7, 1),
                active=True,
            )
            session.add(member)
            session.flush()
            member_ids[username] = member.id
            if username == "elder":
                continue
            account = Account(
                username=username,
                password_hash=password_hash(),
                display_name=name,
                member_id=member.id,
            )
            session.add(account)
            session.flush()
            account_ids[username] = account.id
            session.add(RoleGrant(account_id=account.id, role=Role.MEMBER, branch_id=branch.id))
        session.add(
            RoleGrant(account_id=account_ids["secretary"], role=Role.SECRETARY, branch_id=jinwan.id)
        )
        session.add(
            RoleGrant(
                account_id=account_ids["secretary2"], role=Role.SECRETARY, branch_id=baoyuan.id
            )
        )
        for username, display, role, branch_id in [
            ("instructor", "党建指导员", Role.INSTRUCTOR, jinwan.id),
            ("admin", "镇党委组织办", Role.ADMIN, None),
        ]:
            account = Account(
                username=username, password_hash=password_hash(), display_name=display
            )
            session.add(account)
            session.flush()
            account_ids[username] = account.id
            session.add(RoleGrant(account_id=account.id, role=role, branch_id=branch_id))
        return SmallTown(
            jinwan=jinwan.id, baoyuan=baoyuan.id, member_ids=member_ids, account_ids=account_ids
        )


@pytest.fixture
def app(database: Database, rulebook: Rulebook, database_url: str, tmp_path: Path) -> Litestar:
    from web.app import create_app

    # Photos a test uploads go to its own folder, never to the working tree's var/uploads.
    settings = Settings(env="test", database_url=database_url, upload_dir=tmp_path / "uploads")
    return create_app(settings, database=database, rulebook=rulebook)


CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


class Browser:
    """Drives the HTML forms the way a browser does: fetch the page, take its token."""

    def __init__(self, client: TestClient[Litestar]) -> None:
        self.client = client

    def csrf_token(self, path: str = "/login") -> str:
        page = self.client.get(path)
        match = CSRF_FIELD.search(page.text)
        assert match, f"no CSRF field on {path}"
        return match.group(1)

    def submit(self, form_page: str, action: str, fields: dict[str, Any]) -> Any:
        token = self.csrf_token(form_page)
        return self.client.post(
            action, data={**fields, "_csrf_token": token}, follow_redirects=False
        )

    def login(self, username: str, password: str = PASSWORD) -> Any:
        response = self.submit("/login", "/login", {"username": username, "password": password})
        assert response.status_code == 303, response.text
        return response


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
def browser(client: TestClient[Litestar]) -> Browser:
    return Browser(client)


@pytest.fixture
def make_browser(app: Litestar) -> Iterator[Any]:
    """More than one signed-in person in one test, each with their own cookies."""
    clients: list[TestClient[Litestar]] = []

    def make() -> Browser:
        test_client = TestClient(app=app)
        test_client.__enter__()
        clients.append(test_client)
        return Browser(test_client)

    yield make
    # Closed in reverse order: closing the first of two clients on one app first blocks
    # the second in its shutdown wait forever.
    for test_client in reversed(clients):
        test_client.__exit__(None, None, None)
