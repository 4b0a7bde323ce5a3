"""Shared fixtures: a real database (a SQLite file, or PostgreSQL when
JIFEN_TEST_DATABASE_URL is set) for each pytest-xdist worker, migrated by Alembic once.

Most tests run inside one transaction that is rolled back when they end, as warehouse's
suite does: the ``Database``'s session factories are bound to one connection, every
session the test, the app or the CLI opens joins it through a SAVEPOINT (its commit
releases the savepoint, its rollback returns to it), and nothing reaches the database
for good. While such a test runs, no other connection may be taken from the pool: a
test that needs real commits (another process, another thread, a live server, a second
engine) is marked ``commits`` and gets an emptied database instead; the browser tests
are marked by their folder.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, make_url, text
from sqlalchemy.engine import Connection

os.environ.setdefault("JIFEN_ENV", "test")
# The CLI speaks the terminal's language; tests read its English unless they ask for
# another one (tests/functional/test_cli_locale.py), whatever the developer's shell says.
os.environ["LANG"] = "C.UTF-8"
os.environ.pop("LANGUAGE", None)
os.environ.pop("LC_ALL", None)
os.environ.pop("LC_MESSAGES", None)
os.environ.pop("JIFEN_LOCALE", None)
# A developer's own instance settings (jifen init) must not reach the tests' Settings.
os.environ.pop("JIFEN_CONFIG", None)
os.environ.pop("JIFEN_CLI_ACCOUNT", None)

from service.database import open_database
from service.kernel.config import PROJECT_ROOT
from service.persistence.db import Database
from service.persistence.migrate import upgrade
from service.persistence.models import Base
from service.scoring.rules import Rulebook

IN_CI = os.environ.get("CI", "").lower() == "true"
# "gw0", "gw1"... under pytest-xdist; "main" in a run without workers.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "commits: the test needs real commits (another process or thread, a live server, "
        "a second engine): it gets an emptied database instead of a rolled-back transaction",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A browser talks to a live server, which answers from threads of its own.
    for item in items:
        if "browser" in item.nodeid.split("/")[:2]:
            item.add_marker(pytest.mark.commits)


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
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This worker's database: a SQLite file of its own, or on PostgreSQL a database of
    its own created for the run (JIFEN_TEST_DATABASE_URL names the server and the
    database to create it from) and dropped at the end."""
    url = os.environ.get("JIFEN_TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'jifen-test.sqlite3'}"
        return
    if not url.startswith("postgresql"):
        yield url
        return
    name = f"jifen_test_{WORKER}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    server = open_database(url, isolation_level="AUTOCOMMIT")
    try:
        with server.engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
        with server.engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        server.dispose()


def _schema_database(url: str, schema: str) -> Iterator[Database]:
    """A migrated database at ``url``; on PostgreSQL in schema ``schema`` of its own (the
    backups and the live server find it by the connection's search_path)."""
    if not url.startswith("postgresql"):
        database = open_database(url)
        upgrade(database.engine)
        yield database
        database.dispose()
        return
    admin = open_database(url)
    with admin.engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    database = open_database(url, connect_args={"options": f"-c search_path={schema}"})
    try:
        upgrade(database.engine)
        yield database
    finally:
        database.dispose()
        with admin.engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> Iterator[Database]:
    yield from _schema_database(database_url, f"jifen_test_{WORKER}")


def wipe(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names


class OtherConnection(RuntimeError):
    """A rolled-back test took a second connection: its work would escape the rollback
    (or, on SQLite, wait on the test's own write lock)."""


# The engines (by id) whose test is running in a rolled-back transaction, and those
# whose pool checkouts are watched. Kept here, not on the pool, which a dispose replaces.
_ROLLED_BACK: set[int] = set()
_GUARDED: set[int] = set()


def _refuse_checkout(engine: Engine) -> None:
    def checkout(_dbapi: Any, _record: Any, _proxy: Any) -> None:
        if id(engine) in _ROLLED_BACK:
            raise OtherConnection(
                "this test runs in a rolled-back transaction on one connection; use the "
                "database's sessions (database.transaction(), session.connection()), or "
                "mark the test `commits` if it needs real commits"
            )

    event.listen(engine, "checkout", checkout)
    _GUARDED.add(id(engine))


@contextmanager
def rolled_back(database: Database) -> Iterator[Connection]:
    """Bind ``database``'s sessions to one connection in a transaction rolled back when
    the block ends; yields that connection."""
    engine = database.engine
    if id(engine) not in _GUARDED:
        _refuse_checkout(engine)
    pool = engine.pool
    connection = engine.connect()
    transaction = connection.begin()
    saved = (dict(database.reader.kw), dict(database.writer.kw))
    bind = {"bind": connection, "join_transaction_mode": "create_savepoint"}
    database.reader.configure(**bind)
    database.writer.configure(**bind)
    _ROLLED_BACK.add(id(engine))
    try:
        yield connection
    finally:
        _ROLLED_BACK.discard(id(engine))
        database.reader.kw, database.writer.kw = saved
        transaction.rollback()
        connection.close()
        # A dispose during the test (an app shutting down a database it did not open)
        # orphans the pool this connection went back to: on PostgreSQL it stays open
        # until the garbage collector finds it, and a run ran out of connections.
        assert engine.pool is pool, "the test's database was disposed by something it lent to"


@pytest.fixture
def database(request: pytest.FixtureRequest, migrated_database: Database) -> Iterator[Database]:
    """An empty, migrated database whose changes vanish when the test ends: rolled back,
    or (``commits``) deleted."""
    if request.node.get_closest_marker("commits") is None:
        with rolled_back(migrated_database):
            yield migrated_database
        return
    wipe(migrated_database)
    yield migrated_database
    wipe(migrated_database)


# The demo town the seed tests read: loaded once per worker, up to this day.
DEMO_UNTIL = date(2026, 11, 20)


@pytest.fixture(scope="session")
def demo_database(
    database_url: str, rulebook: Rulebook, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """The demo town (``jifen seed demo --until DEMO_UNTIL``) in a database of its own,
    loaded once per worker: building it takes a second or two."""
    from service.ops.seed.load import load_demo_town

    url = database_url
    if not url.startswith("postgresql"):
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite3'}"
    for demo in _schema_database(url, f"jifen_demo_{WORKER}"):
        with demo.transaction() as session:
            load_demo_town(session, rulebook, PROJECT_ROOT / "seeds", until=DEMO_UNTIL, env="test")
        yield demo


@pytest.fixture
def demo_town(demo_database: Database) -> Iterator[Database]:
    """The shared demo town; whatever a test writes to it is rolled back."""
    with rolled_back(demo_database):
        yield demo_database


@contextmanager
def raw_connection(database: Database) -> Iterator[Connection]:
    """A connection for SQL the ORM would refuse (tampering with stored rows), in the
    test's transaction: committed at the end of the block like ``engine.begin()``."""
    with database.transaction() as session:
        yield session.connection()


@pytest.fixture(scope="session")
def rulebook() -> Rulebook:
    return Rulebook.from_directory(PROJECT_ROOT / "scoring_rules")


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


# --- a small town for integration and functional tests -------------------------------

import re  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from functools import lru_cache  # noqa: E402

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


@pytest.fixture(scope="session")
def shared_app(
    migrated_database: Database,
    rulebook: Rulebook,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Litestar:
    """The app with the test settings, built once per worker (building one registers
    every route again: about half a second). Photos go to the worker's own folder."""
    from web.app import create_app

    uploads = tmp_path_factory.mktemp("uploads")
    settings = Settings(
        env="test",
        database_url=database_url,
        upload_dir=uploads,
        roster_upload_dir=tmp_path_factory.mktemp("roster-uploads"),
    )
    return create_app(settings, database=migrated_database, rulebook=rulebook)


@pytest.fixture
def fresh_app(
    database: Database, rulebook: Rulebook, database_url: str, tmp_path: Path
) -> Litestar:
    """An app of the test's own, for a test that changes the app (adds routes)."""
    from web.app import create_app

    settings = Settings(
        env="test",
        database_url=database_url,
        upload_dir=tmp_path / "uploads",
        roster_upload_dir=tmp_path / "roster-uploads",
    )
    return create_app(settings, database=database, rulebook=rulebook)


@pytest.fixture
def app(shared_app: Litestar, database: Database) -> Litestar:
    """The shared app as a fresh one would be: no photo or roster files, no remembered
    answers."""
    settings: Settings = shared_app.state.settings
    for uploads in (settings.upload_dir, settings.roster_upload_dir):
        if uploads.exists():
            shutil.rmtree(uploads)
    for key in list(shared_app.state.dict()):
        if key not in {"settings", "database", "rulebook", "metrics"}:
            del shared_app.state[key]
    return shared_app


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
