"""Who is using the database: a running server holds a shared "serving" lock on it, and
``jifen restore`` takes the same lock exclusively, so a restore is refused while a
server serves the database (and a server does not start in the middle of a restore).

SQLite: an flock on a file beside the database (``<database>.lock``), released by the
kernel when the process ends, however it ends. PostgreSQL: a session advisory lock
whose key names the schema Jifen's tables live in (the first of the search_path), held
by one connection of each server process; several Jifen instances may share one
database in schemas of their own, so other connections to the database say nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, Connection, Engine, text

from service.kernel.files import private_directory


class DatabaseInUse(Exception):
    """The lock is held by someone else: the message says who and what to do."""


def lock_file_of(database_path: Path) -> Path:
    return database_path.with_name(f"{database_path.name}.lock")


def first_schema(connection: Connection) -> str:
    """The schema the connection creates tables in: the first of the search_path
    (``$user`` when a schema of the user's name exists), as Alembic would."""
    search_path = str(connection.execute(text("SHOW search_path")).scalar_one())
    user = str(connection.execute(text("SELECT current_user")).scalar_one())
    for part in search_path.split(","):
        name = part.strip()
        if name.startswith('"') and name.endswith('"'):
            name = name[1:-1].replace('""', '"')
        if name == "$user":
            if schema_exists(connection, user):
                return user
            continue
        if name:
            return name
    return "public"


def schema_exists(connection: Connection, schema: str) -> bool:
    return bool(
        connection.execute(
            text("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = :schema"),
            {"schema": schema},
        ).scalar()
    )


def _advisory_key(schema: str) -> int:
    # Advisory locks are per database; the key tells Jifen instances' schemas apart.
    digest = hashlib.sha256(f"jifen serving {schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _sqlite_path(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:":
        return None
    return Path(database)


def _open_lock_file(database_path: Path) -> int:
    # 0600: the file holds nothing, but its directory holds the database.
    return os.open(lock_file_of(database_path), os.O_RDWR | os.O_CREAT, 0o600)


def _flock(descriptor: int, exclusive: bool) -> bool:
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@dataclass
class ServingLock:
    """Held by a server process for as long as it serves the database."""

    descriptor: int | None = None
    connection: Connection | None = None

    @classmethod
    def acquire(cls, engine: Engine) -> ServingLock:
        """The shared lock of a server; DatabaseInUse while a restore holds it."""
        refused = "a restore of this database is in progress; start the server when it is done"
        if engine.url.get_backend_name() == "sqlite":
            path = _sqlite_path(engine.url)
            if path is None:
                return cls()
            descriptor = _open_lock_file(path)
            if not _flock(descriptor, exclusive=False):
                os.close(descriptor)
                raise DatabaseInUse(refused)
            return cls(descriptor=descriptor)
        connection = engine.connect()
        try:
            key = _advisory_key(first_schema(connection))
            held = connection.execute(
                text("SELECT pg_try_advisory_lock_shared(:key)"), {"key": key}
            ).scalar_one()
            # A session lock: it outlives this transaction, until the connection closes.
            connection.commit()
        except BaseException:
            connection.close()
            raise
        if not held:
            connection.close()
            raise DatabaseInUse(refused)
        return cls(connection=connection)

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)  # closing the file releases the flock
            self.descriptor = None
        if self.connection is not None:
            # Closing the session releases its advisory locks; invalidate so the pool
            # does not hand that session (and its lock) to someone else.
            self.connection.invalidate()
            self.connection.close()
            self.connection = None


SERVING = (
    "the database is in use by a running Jifen server; stop the server (every worker) "
    "first, then restore"
)


@contextmanager
def sqlite_exclusive_use(database_path: Path) -> Iterator[None]:
    """Hold the SQLite database for a restore; DatabaseInUse while a server serves it."""
    private_directory(database_path.parent)  # a new database's directory: its own
    descriptor = _open_lock_file(database_path)
    try:
        if not _flock(descriptor, exclusive=True):
            raise DatabaseInUse(SERVING)
        yield
    finally:
        os.close(descriptor)


@contextmanager
def pg_exclusive_use(connection: Connection, schema: str) -> Iterator[None]:
    """Hold ``schema`` for a restore on ``connection`` (kept open for the whole restore);
    DatabaseInUse while a server serves it."""
    key = _advisory_key(schema)
    held = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one()
    connection.commit()
    if not held:
        raise DatabaseInUse(SERVING)
    try:
        yield
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        connection.commit()
