"""`jifen backup` and `jifen restore` (service/backup.py does the work).

service/cli.py imports this module at its end, so the commands declared here join
``jifen``.
"""

from __future__ import annotations

from pathlib import Path

import click

from service import cli as _cli
from service.cli import console, main


def _database_url() -> str:
    # Read through service.cli so tests that patch cli.get_settings patch this too.
    url: str = _cli.get_settings().database_url  # type: ignore[attr-defined]
    return url


@main.command("backup")
@click.argument("out", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
def backup(out: Path, force: bool) -> None:
    """Copy the whole database to FILE; the server may keep running.

    SQLite: a consistent snapshot through SQLite's online backup API, as one database
    file. PostgreSQL: pg_dump --format=custom of the schema the tables live in (the
    URL's search_path), from one snapshot; pg_dump must be on PATH.
    """
    from service.backup import BackupError, backup_database

    try:
        with console.status(f"backing up to {out}"):
            done = backup_database(_database_url(), out, force=force)
    except BackupError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from exc
    click.echo(done.describe())


@main.command("restore")
@click.argument("source", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
def restore(source: Path, force: bool) -> None:
    """Replace the configured database by the backup FILE (made by 'jifen backup').

    Stop the server first. Refused when the database holds data, unless --force; the
    backup must be a Jifen database at a schema revision this release knows (an older
    one is restored and then needs 'jifen db upgrade'). PostgreSQL: pg_restore must be
    on PATH, and the user must be allowed to create schemas in the database.
    """
    from service.backup import BackupError, restore_database

    try:
        with console.status(f"restoring {source}"):
            done = restore_database(_database_url(), source, force=force)
    except BackupError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from exc
    click.echo(done.describe())
