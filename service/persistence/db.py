"""Engine and session factories.

SQLite is configured for a web server with concurrent writers: WAL so readers never
block the writer, a busy timeout so a second writer waits instead of failing, and
write transactions opened with ``BEGIN IMMEDIATE``. Without IMMEDIATE, two
transactions that both read and then write deadlock on lock upgrade and one gets
"database is locked" regardless of the busy timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from service.kernel.files import create_private, private_directory
from service.persistence import guards

WRITE_OPTION = "jifen_write"
SQLITE_BUSY_TIMEOUT_S = 30


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so our BEGIN is the one used.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def _create_private_database(path: Path) -> None:
    """A new SQLite file starts empty and 0600 (SQLite would make it 0644, and its -wal
    and -shm take the database's mode): it will hold ID numbers and password hashes."""
    if path.exists():
        return
    private_directory(path.parent)
    # Made meanwhile by another process: theirs to have made private.
    with suppress(FileExistsError):
        create_private(path)


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the settings Jifen relies on."""
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            _create_private_database(Path(database))
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


# A session hook puts listeners on a session factory: the audit log, the board totals.
SessionHook = Callable[[sessionmaker[Session]], None]


@dataclass(frozen=True)
class Database:
    """One engine with a factory for read sessions and one for write sessions.

    Every session it makes carries the persistence guards (service/persistence/guards.py)
    and the ``hooks`` it was opened with; ``service.database.open_database`` passes the
    domain's, so every way into the service keeps the audit log and the board totals.
    """

    engine: Engine
    reader: sessionmaker[Session]
    writer: sessionmaker[Session]
    hooks: tuple[SessionHook, ...]

    @classmethod
    def from_url(cls, url: str, *, hooks: Sequence[SessionHook], **kwargs: Any) -> Database:
        """``hooks`` is required: a database opened without the domain's hooks would
        let the board totals drift from the ledger (open it through
        ``service.database.open_database``)."""
        engine = create_db_engine(url, **kwargs)
        write_engine = engine.execution_options(**{WRITE_OPTION: True})
        reader = sessionmaker(bind=engine, expire_on_commit=False)
        writer = sessionmaker(bind=write_engine, expire_on_commit=False)
        for factory in (reader, writer):
            guards.install(factory)
            for hook in hooks:
                hook(factory)
        return cls(engine=engine, reader=reader, writer=writer, hooks=tuple(hooks))

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """A session whose transaction commits when the block ends without error."""
        factory = self.writer if write else self.reader
        with factory() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
