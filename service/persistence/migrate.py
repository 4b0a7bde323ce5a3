"""Schema migrations through Alembic, configured in code so there is no ini to drift."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo migrations down to ``revision`` ("base" for an empty schema). For tests of
    the migrations and for an operator's way back after a failed release."""
    _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    """Run an Alembic ``step`` in one transaction on a connection of ``engine``."""
    config = alembic_config()
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        driver = connection.connection.driver_connection
        if sqlite:
            # SQLite alters a table by copying it and dropping the original; with foreign
            # keys on, dropping a referenced table fails. The pragma only takes effect
            # outside a transaction, so it goes straight to the driver connection.
            driver.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                step(config, revision)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                driver.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    # Read from the migration files once: they do not change under a running process.
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def revision_of(connection: Connection) -> str | None:
    """The schema revision of the database ``connection`` reaches (None: no schema)."""
    return MigrationContext.configure(connection).get_current_revision()


def schema_problem(revision: str | None) -> str | None:
    """Why a database at ``revision`` cannot be served by this release (None: it can),
    in English for logs and probes; the CLI says it in the terminal's language."""
    head = head_revision()
    if revision == head:
        return None
    if revision is None:
        return "the database has no schema yet: run 'jifen db upgrade'"
    if revision in revision_chain():
        return (
            f"the database schema is at revision {revision}, this release needs {head}: "
            "run 'jifen db upgrade'"
        )
    return (
        f"the database schema is at revision {revision}, which this release does not know "
        "(made by a newer release?)"
    )


def revision_chain() -> list[str]:
    """Every revision from the first to head, in the order they apply."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def previous_revision(revision: str = "head") -> str | None:
    """The revision ``revision`` upgrades from (None for the first): with the default,
    the schema of the previous release."""
    script = ScriptDirectory.from_config(alembic_config())
    found = script.get_revision(revision)
    if found is None:
        return None
    down = found.down_revision
    # Only a merge revision has several parents; Jifen's history is one line.
    assert down is None or isinstance(down, str), f"revision {revision} merges {down}"
    return down
