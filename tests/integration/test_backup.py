"""``jifen backup`` and ``jifen restore`` as an operator runs them, on SQLite and on
PostgreSQL: a round trip keeps every row of every table, the ledger check and the
boards; a backup taken while approvals are being written is one consistent snapshot;
and a restore refuses what would lose data or is not a Jifen database.

The target of a restore is a database that did not exist before: a new SQLite file, or
a new PostgreSQL database whose search_path names another schema than the one backed
up (so the restore must also move the tables there).
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, create_engine, func, inspect, make_url, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

from service.accounts.principal import load_principal
from service.boards.live import branch_board, member_board
from service.database import open_database
from service.entries.review import approve_entry
from service.kernel.errors import Conflict
from service.ops.seed.load import load_demo_town
from service.persistence.db import Database
from service.persistence.migrate import head_revision
from service.persistence.models import Account, Entry, EntryStatus, LedgerLine
from service.persistence.types import utcnow
from service.publication.stored import published_month
from service.scoring.rules import Rulebook
from tests.live_server import process_database_url, process_env, run_jifen, start_server

# Another process, thread or engine reads what the test writes: real commits.
pytestmark = pytest.mark.commits

UNTIL = date(2026, 11, 20)
# 2026-08 and 2026-09 are final (09 corrected), 10 is on notice, 11 is open.
MONTHS = ("2026-08", "2026-09", "2026-10", "2026-11", "2026-Q3", "2026")
AFTER_SEED = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


@pytest.fixture
def seeded(database: Database, rulebook: Rulebook, project_root: Path) -> Database:
    with database.transaction() as session:
        load_demo_town(session, rulebook, project_root / "seeds", until=UNTIL, env="test")
    return database


@pytest.fixture
def source_env(seeded: Database, tmp_path: Path) -> dict[str, str]:
    return process_env(
        process_database_url(seeded),
        upload_dir=str(tmp_path / "uploads"),
        roster_upload_dir=str(tmp_path / "roster-uploads"),
    )


@pytest.fixture(scope="session")
def restore_server(database_url: str) -> str | None:
    """On PostgreSQL, the URL of a database beside the test database to restore into: the
    test database holds the schema backed up, and a restore never reuses its name. Made
    once and kept, like the test database: dropping a database forces a checkpoint of the
    whole server, tens of seconds on a busy machine. Tests use schemas of their own in it.
    None on SQLite."""
    if not database_url.startswith("postgresql"):
        return None
    url = make_url(database_url)
    name = f"{url.database}_restore"
    admin = create_engine(database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = text("SELECT 1 FROM pg_database WHERE datname = :name")
            if not connection.execute(exists, {"name": name}).scalar():
                try:
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
                except ProgrammingError:  # another run created it just now
                    assert connection.execute(exists, {"name": name}).scalar()
    finally:
        admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def fresh_url(restore_server: str | None, database: Database, tmp_path: Path) -> Iterator[str]:
    """The URL of a database that does not exist yet: a new SQLite file, or on
    PostgreSQL a search_path naming a schema that does not exist yet, in a database that
    does not hold the schema backed up (so a restore also moves the tables to the new
    name)."""
    if restore_server is None:
        yield f"sqlite:///{tmp_path / 'restored' / 'jifen.sqlite3'}"
        return
    schema = f"restored_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    yield (
        make_url(restore_server)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    engine = create_engine(restore_server, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            # This test's schemas only: other runs may be using the database too.
            for name in (schema, _backed_up_schema(database)):
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        engine.dispose()


def _backed_up_schema(database: Database) -> str:
    with database.engine.connect() as connection:
        return str(connection.execute(text("SELECT current_schema()")).scalar_one())


def _env(base: dict[str, str], url: str) -> dict[str, str]:
    return {**base, "JIFEN_DATABASE_URL": url}


def _rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (the schema the engine's search_path names), by key."""
    metadata = MetaData()
    metadata.reflect(bind=engine)
    with engine.connect() as connection:
        return {
            name: [
                tuple(row)
                for row in connection.execute(
                    select(table).order_by(*(table.primary_key.columns or table.columns))
                )
            ]
            for name, table in metadata.tables.items()
        }


def _boards(database: Database) -> dict[str, Any]:
    with database.transaction(write=False) as session:
        boards: dict[str, Any] = {}
        for period in MONTHS:
            boards[f"members {period}"] = member_board(session, period)
            boards[f"branches {period}"] = branch_board(session, period)
        for period in MONTHS[:3]:
            boards[f"published {period}"] = published_month(session, period, now=AFTER_SEED)
        return boards


def _verified(env: dict[str, str]) -> None:
    for check in (["ledger", "verify"], ["publish", "verify"]):
        done = run_jifen(check, env)
        assert done.returncode == 0, f"jifen {' '.join(check)}:\n{done.stdout}{done.stderr}"


def _approve_one_more(database: Database, rulebook: Rulebook) -> None:
    """A write after the restore: ids (PostgreSQL's sequences) continue past the rows."""
    with database.transaction() as session:
        admin = session.scalar(select(Account.id).where(Account.username == "admin"))
        assert admin is not None
        principal = load_principal(session, admin)
        assert principal is not None
        entry_id = session.scalar(
            select(Entry.id)
            .where(Entry.status == EntryStatus.PENDING)
            .order_by(Entry.activity_date.desc())
            .limit(1)
        )
        assert entry_id is not None
        lines_before = session.scalar(select(func.max(LedgerLine.id)))
        approve_entry(session, principal, rulebook, entry_id, now=utcnow())
        assert session.scalar(select(func.max(LedgerLine.id))) > lines_before


def test_round_trip_keeps_every_row_the_ledger_and_the_boards(
    seeded: Database,
    rulebook: Rulebook,
    source_env: dict[str, str],
    fresh_url: str,
    tmp_path: Path,
) -> None:
    backup = tmp_path / "backups" / "jifen.backup"
    done = run_jifen(["backup", str(backup)], source_env)
    assert done.returncode == 0, done.stderr
    assert f"revision {head_revision()}" in done.stdout and str(backup) in done.stdout
    assert backup.is_file() and not list(backup.parent.glob(".*partial*"))

    target_env = _env(source_env, fresh_url)
    restored = run_jifen(["restore", str(backup)], target_env)
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout and f"revision {head_revision()}" in restored.stdout
    assert "replaced" not in restored.stdout  # the target was empty

    target = open_database(fresh_url)
    try:
        expected = _rows(seeded.engine)
        found = _rows(target.engine)
        assert sorted(found) == sorted(expected)
        assert len(expected["entry"]) > 4000 and expected["published_member_row"]
        for table, rows in expected.items():
            assert found[table] == rows, f"table {table} differs after the restore"
        _verified(target_env)
        assert _boards(target) == _boards(seeded)
        _approve_one_more(target, rulebook)
    finally:
        target.dispose()
    _verified(target_env)


def test_backup_while_approvals_are_written_is_one_snapshot(
    seeded: Database,
    rulebook: Rulebook,
    source_env: dict[str, str],
    fresh_url: str,
    tmp_path: Path,
) -> None:
    """Approvals keep committing (another process's point of view: the backup runs as
    ``jifen backup``) while the backup is taken; the restored copy passes the ledger
    check, so it holds each approval with all of its ledger lines or not at all."""
    with seeded.transaction(write=False) as session:
        admin = session.scalar(select(Account.id).where(Account.username == "admin"))
        assert admin is not None
        principal = load_principal(session, admin)
        pending = list(
            session.scalars(
                select(Entry.id).where(Entry.status == EntryStatus.PENDING).order_by(Entry.id)
            )
        )
    assert principal is not None and len(pending) > 100
    approved: list[int] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    def approve_until_stopped() -> None:
        try:
            for entry_id in pending:
                if stop.is_set():
                    return
                try:
                    with seeded.transaction() as session:
                        approve_entry(session, principal, rulebook, entry_id, now=utcnow())
                    approved.append(entry_id)
                except Conflict:
                    continue  # e.g. dated in a month published since: not this test's point
        except BaseException as exc:
            failures.append(exc)

    writer = threading.Thread(target=approve_until_stopped, name="approver")
    writer.start()
    try:
        while len(approved) < 5 and writer.is_alive():
            stop.wait(0.01)
        before = len(approved)
        backup = tmp_path / "online.backup"
        done = run_jifen(["backup", str(backup)], source_env)
        during = len(approved) - before
    finally:
        stop.set()
        writer.join(60)
    assert not failures, failures
    assert done.returncode == 0, done.stderr
    assert during > 0, "no approval was committed while the backup ran"

    target_env = _env(source_env, fresh_url)
    restored = run_jifen(["restore", str(backup)], target_env)
    assert restored.returncode == 0, restored.stderr
    _verified(target_env)
    target = open_database(fresh_url)
    try:
        with target.transaction(write=False) as session:
            in_backup = set(
                session.scalars(
                    select(Entry.id).where(
                        Entry.id.in_(pending), Entry.status == EntryStatus.APPROVED
                    )
                )
            )
    finally:
        target.dispose()
    # A prefix of the approvals, in commit order: nothing later without what came first.
    assert in_backup == set(approved[: len(in_backup)])
    assert before <= len(in_backup) <= len(approved)


def test_backup_refuses_to_overwrite_a_file_unless_forced(
    source_env: dict[str, str], tmp_path: Path
) -> None:
    backup = tmp_path / "jifen.backup"
    backup.write_text("an older backup", encoding="utf-8")
    refused = run_jifen(["backup", str(backup)], source_env)
    assert refused.returncode == 1
    assert "exists" in refused.stderr and "--force" in refused.stderr
    assert backup.read_text(encoding="utf-8") == "an older backup"
    forced = run_jifen(["backup", "--force", str(backup)], source_env)
    assert forced.returncode == 0, forced.stderr
    assert backup.stat().st_size > 100_000


def test_restore_refuses_a_database_with_data_unless_forced(
    seeded: Database, rulebook: Rulebook, source_env: dict[str, str], tmp_path: Path
) -> None:
    backup = tmp_path / "jifen.backup"
    assert run_jifen(["backup", str(backup)], source_env).returncode == 0
    expected = _rows(seeded.engine)
    _approve_one_more(seeded, rulebook)  # after the backup: the restore must undo it
    changed = _rows(seeded.engine)

    refused = run_jifen(["restore", str(backup)], source_env)
    assert refused.returncode == 1
    assert "holds" in refused.stderr and "--force" in refused.stderr, refused.stderr
    assert _rows(seeded.engine) == changed, "a refused restore changed the database"

    # Make sure nothing pools a connection to the tables the restore replaces.
    seeded.engine.dispose()
    forced = run_jifen(["restore", "--force", str(backup)], source_env)
    assert forced.returncode == 0, forced.stderr
    assert "replaced what the target held" in forced.stdout
    seeded.engine.dispose()
    assert _rows(seeded.engine) == expected
    _verified(source_env)


def test_restore_refuses_what_is_not_a_jifen_backup(
    seeded: Database, source_env: dict[str, str], fresh_url: str, tmp_path: Path
) -> None:
    target_env = _env(source_env, fresh_url)
    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup\n", encoding="utf-8")
    refused = run_jifen(["restore", str(junk)], target_env)
    assert refused.returncode == 1
    assert "is not a" in refused.stderr, refused.stderr

    # A database at a revision this Jifen does not know (a newer release's).
    backup = tmp_path / "future.backup"
    with seeded.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    try:
        assert run_jifen(["backup", str(backup)], source_env).returncode == 0
    finally:
        with seeded.engine.begin() as connection:
            connection.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()}
            )
    refused = run_jifen(["restore", str(backup)], target_env)
    assert refused.returncode == 1
    assert "9999_future" in refused.stderr and "does not know" in refused.stderr

    if fresh_url.startswith("sqlite"):
        # A SQLite file that is some other application's database.
        other = tmp_path / "other.sqlite3"
        with sqlite3.connect(other) as connection:
            connection.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)")
        refused = run_jifen(["restore", str(other)], target_env)
        assert refused.returncode == 1
        assert "not a Jifen database" in refused.stderr
        # Refused before anything was written: not even an empty file.
        assert not Path(str(make_url(fresh_url).database)).exists()
    else:
        engine = create_engine(fresh_url, poolclass=NullPool)
        try:
            # Refused before anything was written: neither the target schema nor the one
            # the backup holds exists.
            schemas = set(inspect(engine).get_schema_names())
            target = make_url(fresh_url).query["options"].removeprefix("-csearch_path=")
            assert not {target, _backed_up_schema(seeded)} & schemas
        finally:
            engine.dispose()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_backups_and_restored_databases_are_private(
    source_env: dict[str, str], fresh_url: str, tmp_path: Path
) -> None:
    """A backup holds ID numbers, phones and password hashes: 0600, in a directory made
    0700, whatever the umask lets other files be (here the usual 022)."""
    umask = os.umask(0o022)
    try:
        backup = tmp_path / "made" / "backups" / "jifen.backup"
        done = run_jifen(["backup", str(backup)], source_env)
        assert done.returncode == 0, done.stderr
        assert _mode(backup) == 0o600
        assert _mode(backup.parent) == 0o700 and _mode(backup.parent.parent) == 0o700

        # Overwriting a world-readable file leaves a private one.
        older = tmp_path / "older.backup"
        older.write_text("an older backup", encoding="utf-8")
        older.chmod(0o644)
        forced = run_jifen(["backup", "--force", str(older)], source_env)
        assert forced.returncode == 0, forced.stderr
        assert _mode(older) == 0o600

        restored = run_jifen(["restore", str(backup)], _env(source_env, fresh_url))
        assert restored.returncode == 0, restored.stderr
    finally:
        os.umask(umask)
    if fresh_url.startswith("sqlite"):
        # The new database file and whatever SQLite keeps beside it.
        database_file = Path(str(make_url(fresh_url).database))
        files = [database_file, *database_file.parent.glob(f"{database_file.name}-*")]
        assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}
        assert _mode(database_file.parent) == 0o700


def test_restore_is_refused_while_a_server_serves_the_database(
    seeded: Database, source_env: dict[str, str], tmp_path: Path
) -> None:
    """The README says to stop the server first: a restore that replaced the tables
    under a running server would leave it serving (and writing) what it no longer
    matches. Refused, with the reason, until the server has stopped."""
    backup = tmp_path / "jifen.backup"
    assert run_jifen(["backup", str(backup)], source_env).returncode == 0
    expected = _rows(seeded.engine)
    seeded.engine.dispose()  # nothing of the test holds the tables either

    server = start_server(source_env, tmp_path / "server.log")
    try:
        refused = run_jifen(["restore", "--force", str(backup)], source_env)
        assert refused.returncode == 1
        assert "in use by a running Jifen server" in refused.stderr, refused.stderr
        assert "stop the server" in refused.stderr and "Traceback" not in refused.stderr
        assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
    finally:
        server.stop()
    assert _rows(seeded.engine) == expected
    seeded.engine.dispose()

    forced = run_jifen(["restore", "--force", str(backup)], source_env)
    assert forced.returncode == 0, forced.stderr
    seeded.engine.dispose()
    assert _rows(seeded.engine) == expected
