"""Backup and restore of the whole database (``jifen backup`` and ``jifen restore``).

SQLite: a backup is a copy made with SQLite's online backup API. It reads one
consistent snapshot while the server keeps serving (WAL: readers never block the
writer), and the copy is a single self-contained database file (journal mode DELETE,
no -wal beside it), so it can be copied, opened with ``sqlite3`` or restored as is.

PostgreSQL: a backup is ``pg_dump --format=custom`` of the schema Jifen's tables live
in (the first schema of the URL's search_path that holds them, usually ``public``),
taken from a snapshot exported by the transaction that also counts its rows, so the
summary printed is exactly what the file holds. ``pg_restore`` loads it in a single
transaction, without owners and grants: the restored objects belong to the user of
the target URL, which must be allowed to create schemas in that database. pg_dump and
pg_restore must be at least the server's major version (Debian: postgresql-client).

A backup file is created 0600 (and its directory 0700 when made here): it holds what
the database holds. A restore is refused while a server serves the target database
(service/persistence/serving.py): stop the server first.

Both refuse what would lose data by surprise: a backup does not overwrite an existing
file, a restore does not overwrite a database that holds rows (``force`` does both).
A restore checks first that the file is a Jifen database at a revision this Jifen
knows, and replaces the target only once the restored copy is complete.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import URL, Connection, Engine, create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from service.kernel.files import create_private, private_directory
from service.persistence.migrate import head_revision, revision_chain
from service.persistence.serving import (
    DatabaseInUse,
    first_schema,
    pg_exclusive_use,
    schema_exists,
    sqlite_exclusive_use,
)

VERSION_TABLE = "alembic_version"
SQLITE_HEADER = b"SQLite format 3\x00"
# The first bytes of a pg_dump --format=custom archive.
PG_DUMP_HEADER = b"PGDMP"
SQLITE_TIMEOUT_S = 30
PG_TOOL_TIMEOUT_S = 3600


class BackupError(Exception):
    """Refused or failed: the message says why and what to do instead."""


@dataclass(frozen=True)
class Contents:
    """What a database (or a backup of one) holds."""

    revision: str
    rows: dict[str, int] = field(default_factory=dict)  # per table, alembic_version aside

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def describe(self) -> str:
        tables = len(self.rows)
        return f"revision {self.revision}, {tables} tables, {self.total_rows:,} rows"


@dataclass(frozen=True)
class BackupDone:
    source: str  # the database, password hidden
    path: Path
    contents: Contents
    size_bytes: int
    seconds: float

    def describe(self) -> str:
        return (
            f"backed up {self.source} ({self.contents.describe()}) to {self.path} "
            f"({_size(self.size_bytes)}) in {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class RestoreDone:
    path: Path
    target: str  # the database, password hidden
    contents: Contents
    replaced_rows: int  # rows the target held before (only with force)
    seconds: float

    def describe(self) -> str:
        lines = [
            f"restored {self.path} ({self.contents.describe()}) into {self.target} "
            f"in {self.seconds:.1f} s"
        ]
        if self.replaced_rows:
            lines.append(f"replaced what the target held: {self.replaced_rows:,} rows")
        head = head_revision()
        if self.contents.revision != head:
            lines.append(
                f"the backup is at revision {self.contents.revision}, this Jifen's schema "
                f"is at {head}: run 'jifen db upgrade' before serving it"
            )
        return "\n".join(lines)


def default_backup_file(url: str, backup_dir: Path, *, now: datetime | None = None) -> Path:
    """A new file in ``backup_dir`` (JIFEN_BACKUP_DIR) named by the time (UTC), for a
    backup given no file name: ``jifen-YYYYMMDD-HHMMSS.sqlite3`` (SQLite) or ``.dump``
    (pg_dump's custom format)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    suffix = ".sqlite3" if make_url(url).get_backend_name() == "sqlite" else ".dump"
    return backup_dir / f"jifen-{moment:%Y%m%d-%H%M%S}{suffix}"


def backup_database(url: str, out: Path, *, force: bool = False) -> BackupDone:
    """Write a consistent copy of the database at ``url`` to ``out``."""
    if out.is_dir():
        raise BackupError(f"{out} is a directory; name the backup file")
    if out.exists() and not force:
        raise BackupError(f"{out} exists; choose a new file name or pass --force to overwrite it")
    # A backup holds ID numbers, phones and password hashes: its owner's alone.
    private_directory(out.parent)
    started = time.perf_counter()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        try:
            contents = _sqlite_backup(_sqlite_path(parsed), out)
        except sqlite3.Error as exc:
            raise BackupError(f"SQLite: {exc}") from exc
    elif parsed.get_backend_name() == "postgresql":
        try:
            contents = _pg_backup(parsed, out)
        except SQLAlchemyError as exc:
            raise BackupError(f"PostgreSQL: {_reason(exc)}") from exc
    else:
        raise BackupError(f"cannot back up a {parsed.get_backend_name()} database")
    return BackupDone(
        source=_shown(parsed),
        path=out,
        contents=contents,
        size_bytes=out.stat().st_size,
        seconds=time.perf_counter() - started,
    )


def restore_database(url: str, source: Path, *, force: bool = False) -> RestoreDone:
    """Replace the database at ``url`` by the backup ``source``; refused when the target
    holds rows, unless ``force``."""
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    started = time.perf_counter()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        try:
            target = _sqlite_path(parsed)
            with sqlite_exclusive_use(target):
                contents, replaced = _sqlite_restore(source, target, force=force)
        except DatabaseInUse as exc:
            raise BackupError(str(exc)) from exc
        except sqlite3.Error as exc:
            raise BackupError(f"SQLite: {exc}") from exc
    elif parsed.get_backend_name() == "postgresql":
        try:
            contents, replaced = _pg_restore(parsed, source, force=force)
        except DatabaseInUse as exc:
            raise BackupError(str(exc)) from exc
        except SQLAlchemyError as exc:
            raise BackupError(f"PostgreSQL: {_reason(exc)}") from exc
    else:
        raise BackupError(f"cannot restore into a {parsed.get_backend_name()} database")
    return RestoreDone(
        path=source,
        target=_shown(parsed),
        contents=contents,
        replaced_rows=replaced,
        seconds=time.perf_counter() - started,
    )


def prune_backups(newest: Path, keep: int) -> list[Path]:
    """Delete the older backups in ``newest``'s folder so that ``keep`` remain, ``newest``
    among them; returns the deleted files, oldest first.

    A backup here is a file that starts as one ``backup_database`` writes (an SQLite
    database or a pg_dump archive): anything else in the folder is left alone, so a
    folder shared with other files loses none of them. Newest by modification time,
    then by name (a timestamped name sorts in time order)."""
    if keep < 1:
        raise BackupError("--keep must be at least 1: the backup just made is kept")
    folder = newest.parent
    backups = [
        path
        for path in folder.iterdir()
        if not path.name.startswith(".") and path.is_file() and _is_backup(path)
    ]
    backups.sort(key=lambda path: (path.stat().st_mtime, path.name), reverse=True)
    kept = [newest, *[path for path in backups if path != newest]][:keep]
    deleted = sorted(
        (path for path in backups if path not in kept),
        key=lambda path: (path.stat().st_mtime, path.name),
    )
    for path in deleted:
        path.unlink()
    return deleted


def _is_backup(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            start = file.read(len(SQLITE_HEADER))
    except OSError:
        return False
    return start.startswith((SQLITE_HEADER, PG_DUMP_HEADER))


def _reason(exc: SQLAlchemyError) -> str:
    # The driver's own message (e.g. "connection refused"), without SQLAlchemy's wrapping.
    original = getattr(exc, "orig", None)
    return str(original if original is not None else exc).strip()


def _shown(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"the SQLite database {url.database}"
    return f"the PostgreSQL database {url.render_as_string(hide_password=True)}"


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size:,} bytes"


def _check_revision(revision: str | None, what: str, *, known: bool = True) -> str:
    """``revision`` if there is one; with ``known``, only a revision of this release's
    migrations (a backup may be of a newer release; restoring it here may not)."""
    if revision is None:
        raise BackupError(
            f"{what} is not a Jifen database: its {VERSION_TABLE} table does not hold one revision"
        )
    if known and revision not in revision_chain():
        raise BackupError(
            f"{what} is at schema revision {revision}, which this Jifen does not know "
            "(made by a newer release?); use that release's jifen"
        )
    return revision


def _partial(out: Path) -> Path:
    # Written beside the target and renamed into place at the end: an interrupted
    # backup never leaves a truncated file under the name the operator asked for.
    return out.with_name(f".{out.name}.partial-{os.getpid()}")


# --- SQLite --------------------------------------------------------------------------------


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up or restore")
    return Path(url.database)


def _sqlite_contents(connection: sqlite3.Connection, what: str, *, known: bool = True) -> Contents:
    names = [
        name
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    if VERSION_TABLE not in names:
        raise BackupError(f"{what} is not a Jifen database: it has no {VERSION_TABLE} table")
    revisions = [row[0] for row in connection.execute(f"SELECT version_num FROM {VERSION_TABLE}")]  # noqa: S608 - a constant
    revision = _check_revision(revisions[0] if len(revisions) == 1 else None, what, known=known)
    rows = {
        name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # noqa: S608 - names from sqlite_master
        for name in sorted(names)
        if name != VERSION_TABLE
    }
    return Contents(revision, rows)


def _sqlite_rows(path: Path) -> int:
    """Rows a SQLite file holds outside alembic_version (0 for a file without tables)."""
    with closing(sqlite3.connect(path, timeout=SQLITE_TIMEOUT_S)) as connection:
        names = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return sum(
            connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # noqa: S608 - names from sqlite_master
            for name in names
            if name != VERSION_TABLE
        )


def _check_sqlite_file(connection: sqlite3.Connection, what: str, *, references: bool) -> None:
    problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise BackupError(f"{what} is damaged: {'; '.join(problems[:5])}")
    if not references:
        return
    broken = connection.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise BackupError(f"{what} has rows whose references are missing: {broken[:5]}")


def _sqlite_backup(path: Path, out: Path) -> Contents:
    if not path.is_file():
        raise BackupError(f"no SQLite database at {path}")
    partial = _partial(out)
    partial.unlink(missing_ok=True)
    # SQLite opens an empty file as a new database and gives its journal the file's mode.
    create_private(partial)
    try:
        with (
            closing(sqlite3.connect(path, timeout=SQLITE_TIMEOUT_S)) as source,
            closing(sqlite3.connect(partial)) as copy,
        ):
            # All pages in one step, under one read transaction: a consistent snapshot,
            # however many writes the server commits meanwhile.
            source.backup(copy, pages=-1)
            # One self-contained file: no -wal or -shm beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
            # A sound file; its references are the restore's to check (a backup is most
            # wanted when something is wrong).
            _check_sqlite_file(copy, "the copy", references=False)
            contents = _sqlite_contents(copy, str(path), known=False)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return contents


def _sqlite_restore(source: Path, target: Path, *, force: bool) -> tuple[Contents, int]:
    with source.open("rb") as file:
        if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise BackupError(f"{source} is not a SQLite database file")
    # Read-only: checking a backup never changes it.
    backup_uri = f"{source.resolve().as_uri()}?mode=ro"
    with closing(sqlite3.connect(backup_uri, uri=True)) as backup:
        _check_sqlite_file(backup, str(source), references=True)
        contents = _sqlite_contents(backup, str(source))
        replaced = _sqlite_rows(target) if target.exists() else 0
        if replaced and not force:
            raise BackupError(
                f"{target} holds {replaced:,} rows; restoring would replace them. Restore "
                "into an empty database, or pass --force to replace it"
            )
        if not target.exists():
            # A new database file, as private as the backup it comes from.
            private_directory(target.parent)
            create_private(target)
        with closing(sqlite3.connect(target, timeout=SQLITE_TIMEOUT_S)) as database:
            # The backup API writes every page in one transaction on the target: a reader
            # sees the old database or the restored one, never a mix.
            backup.backup(database, pages=-1)
            database.execute("PRAGMA journal_mode=WAL")  # what the server uses
            _check_sqlite_file(database, str(target), references=True)
            restored = _sqlite_contents(database, str(target))
    if restored != contents:
        raise BackupError(f"{target} differs from {source} after the restore")
    return contents, replaced


# --- PostgreSQL ------------------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found on PATH: install the PostgreSQL client tools "
            "(Debian: apt-get install postgresql-client), at least the server's version"
        )
    return found


def _conninfo(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for pg_dump and pg_restore, and their environment (the
    password goes there, never on a command line others can read)."""
    values: dict[str, str] = {}
    if url.host:
        values["host"] = url.host
    if url.port:
        values["port"] = str(url.port)
    if url.username:
        values["user"] = url.username
    if url.database:
        values["dbname"] = url.database
    for key, value in url.query.items():
        values[key] = value if isinstance(value, str) else value[-1]
    quoted = " ".join(f"{key}={_libpq_quote(value)}" for key, value in values.items())
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return quoted, env


def _libpq_quote(value: str) -> str:
    # libpq's rule: single quotes around the value, a backslash before ' and before \.
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


@contextmanager
def _pg_engine(url: URL) -> Iterator[Engine]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote_identifier(name)


def _rename(connection: Connection, schema: str, new_name: str) -> str:
    return f"ALTER SCHEMA {_quote(connection, schema)} RENAME TO {_quote(connection, new_name)}"


def _jifen_schema(connection: Connection) -> str | None:
    """The schema whose alembic_version the connection's search_path finds."""
    found: str | None = connection.execute(
        text(
            "SELECT n.nspname FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = :name AND c.relkind IN ('r', 'p') "
            "AND pg_catalog.pg_table_is_visible(c.oid)"
        ),
        {"name": VERSION_TABLE},
    ).scalar()
    return found


def _pg_rows(connection: Connection, schema: str) -> dict[str, int]:
    names = connection.execute(
        text(
            "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = :schema "
            "ORDER BY tablename"
        ),
        {"schema": schema},
    ).scalars()
    quoted_schema = _quote(connection, schema)
    return {
        name: connection.execute(
            text(f"SELECT count(*) FROM {quoted_schema}.{_quote(connection, name)}")  # noqa: S608 - quoted names from the catalog
        ).scalar_one()
        for name in list(names)
        if name != VERSION_TABLE
    }


def _pg_contents(connection: Connection, schema: str, what: str, *, known: bool = True) -> Contents:
    revisions = (
        connection.execute(
            text(f"SELECT version_num FROM {_quote(connection, schema)}.{VERSION_TABLE}")  # noqa: S608 - a quoted catalog name
        )
        .scalars()
        .all()
    )
    revision = _check_revision(revisions[0] if len(revisions) == 1 else None, what, known=known)
    return Contents(revision, _pg_rows(connection, schema))


def _run(args: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(  # noqa: S603 - a fixed tool, arguments we built
        args,
        env=env,
        capture_output=True,
        text=True,
        timeout=PG_TOOL_TIMEOUT_S,
        check=False,
        # Whatever the tool creates is its owner's alone (pg_dump writes into the 0600
        # file made for it; this covers any other file it might make).
        umask=0o077,
    )
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _pg_backup(url: URL, out: Path) -> Contents:
    pg_dump = _tool("pg_dump")
    conninfo, env = _conninfo(url)
    partial = _partial(out)
    partial.unlink(missing_ok=True)
    # pg_dump truncates and fills the file made here, keeping its 0600 mode.
    create_private(partial)
    try:
        contents = _pg_dump_into(url, pg_dump, conninfo, env, partial)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return contents


def _pg_dump_into(
    url: URL, pg_dump: str, conninfo: str, env: dict[str, str], partial: Path
) -> Contents:
    with _pg_engine(url) as engine, engine.connect() as connection:
        schema = _jifen_schema(connection)
        if schema is None:
            raise BackupError(
                f"{_shown(url)} is not a Jifen database: no {VERSION_TABLE} table on its "
                "search_path (run 'jifen db upgrade' first, or check the URL's search_path)"
            )
        connection.commit()
        # The rows counted here and the rows pg_dump writes come from one snapshot.
        snapshot_reader = connection.execution_options(isolation_level="REPEATABLE READ")
        with snapshot_reader.begin():
            snapshot = snapshot_reader.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            contents = _pg_contents(snapshot_reader, schema, _shown(url), known=False)
            _run(
                [
                    pg_dump,
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    f"--schema={_pattern(schema)}",
                    f"--file={partial}",
                    f"--dbname={conninfo}",
                ],
                env,
                "pg_dump",
            )
    return contents


def _pattern(schema: str) -> str:
    # pg_dump reads --schema as a pattern; double quotes make it the exact name.
    return '"' + schema.replace('"', '""') + '"'


_TOC_SCHEMA = re.compile(r"^\d+; \d+ \d+ SCHEMA - (\S+) ")
_TOC_VERSION = re.compile(r"^\d+; \d+ \d+ TABLE DATA (\S+) " + VERSION_TABLE + " ")


def _archive_schema(pg_restore: str, source: Path, env: dict[str, str]) -> tuple[str, str]:
    """The schema a pg_dump archive holds Jifen's tables in, and its revision."""
    try:
        listing = _run([pg_restore, "--list", str(source)], env, "reading the archive")
    except BackupError as exc:
        raise BackupError(f"{source} is not a pg_dump archive (--format=custom): {exc}") from exc
    schemas = {m.group(1) for line in listing.splitlines() if (m := _TOC_SCHEMA.match(line))}
    holders = {m.group(1) for line in listing.splitlines() if (m := _TOC_VERSION.match(line))}
    if len(holders) != 1:
        raise BackupError(
            f"{source} is not a backup of one Jifen database: "
            f"{VERSION_TABLE} found in {len(holders)} schemas"
        )
    (schema,) = holders
    if schema not in schemas:
        raise BackupError(f"{source} lacks the schema {schema} itself: make it with jifen backup")
    data = _run(
        [
            pg_restore,
            "--data-only",
            f"--schema={schema}",
            f"--table={VERSION_TABLE}",
            "--file=-",
            str(source),
        ],
        env,
        "reading the archive's revision",
    )
    lines = data.splitlines()
    starts = [index for index, line in enumerate(lines) if line.startswith("COPY ")]
    revisions: list[str] = []
    if starts:
        for line in lines[starts[0] + 1 :]:
            if line == "\\.":
                break
            revisions.append(line.strip())
    return schema, _check_revision(revisions[0] if len(revisions) == 1 else None, str(source))


def _pg_restore(url: URL, source: Path, *, force: bool) -> tuple[Contents, int]:
    pg_restore = _tool("pg_restore")
    conninfo, env = _conninfo(url)
    dumped, revision = _archive_schema(pg_restore, source, env)
    # The lock is held on a connection of its own until the restore is done: no server
    # may serve the schema meanwhile, nor start.
    with (
        _pg_engine(url) as engine,
        engine.connect() as holder,
        pg_exclusive_use(holder, first_schema(holder)),
    ):
        with engine.begin() as connection:
            target = first_schema(connection)
            exists = schema_exists(connection, target)
            replaced = sum(_pg_rows(connection, target).values()) if exists else 0
            if replaced and not force:
                raise BackupError(
                    f"schema {target} of {_shown(url)} holds {replaced:,} rows; restoring "
                    "would replace them. Restore into an empty database, or pass --force"
                )
            if dumped != target and schema_exists(connection, dumped):
                raise BackupError(
                    f"the backup holds schema {dumped}, and {_shown(url)} already has a "
                    f"schema of that name besides the target {target}: restore into "
                    "another database"
                )
            aside = None
            if exists:
                # Kept until the restored copy is complete, then dropped: a failed
                # restore puts it back as it was.
                stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
                aside = f"{target[:40]}_replaced_{stamp}"
                connection.execute(text(_rename(connection, target, aside)))
        try:
            _run(
                [
                    pg_restore,
                    "--no-owner",
                    "--no-acl",
                    "--single-transaction",
                    "--exit-on-error",
                    f"--dbname={conninfo}",
                    str(source),
                ],
                env,
                "pg_restore",
            )
            with engine.begin() as connection:
                if dumped != target:
                    connection.execute(text(_rename(connection, dumped, target)))
        except BaseException:
            with engine.begin() as connection:
                if dumped != target:
                    # Ours: the schema did not exist before (checked above).
                    connection.execute(
                        text(f"DROP SCHEMA IF EXISTS {_quote(connection, dumped)} CASCADE")
                    )
                if aside is not None:
                    connection.execute(text(_rename(connection, aside, target)))
            raise
        with engine.begin() as connection:
            if aside is not None:
                connection.execute(text(f"DROP SCHEMA {_quote(connection, aside)} CASCADE"))
            contents = _pg_contents(connection, target, str(source))
    if contents.revision != revision:
        raise BackupError(f"{_shown(url)} is not at the backup's revision after the restore")
    return contents, replaced
