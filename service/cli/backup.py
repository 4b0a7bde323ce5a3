"""`jifen backup` and `jifen restore` (service/ops/backup.py does the work)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from service.cli.common import (
    cli_settings,
    console,
    error_line,
)
from service.kernel.i18n import terminal_gettext as _
from service.kernel.i18n import terminal_ngettext as ngettext

if TYPE_CHECKING:
    from service.ops.backup import BackupDone, Contents, RestoreDone


@click.command("backup")
@click.argument(
    "out", metavar="[FILE]", required=False, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Then delete older backups in FILE's folder so that N remain (FILE among them).",
)
def backup(out: Path | None, force: bool, keep: int | None) -> None:
    """Copy the whole database to FILE; the server may keep running.

    Without FILE: a new file named by the time in JIFEN_BACKUP_DIR (made 0700 if
    missing), jifen-YYYYMMDD-HHMMSS.sqlite3 or .dump.

    SQLite: a consistent snapshot through SQLite's online backup API, as one database
    file. PostgreSQL: pg_dump --format=custom of the schema the tables live in (the
    URL's search_path), from one snapshot; pg_dump must be on PATH. FILE is created
    readable by its owner only (0600): it holds ID numbers, phones and password hashes.

    --keep N (e.g. in a nightly timer) deletes the oldest backups in FILE's folder once
    this one is written, so that N remain; only files that are backups (SQLite
    databases, pg_dump archives) count or are deleted.
    """
    from service.ops.backup import (
        BackupError,
        backup_database,
        default_backup_file,
        prune_backups,
    )

    url = cli_settings().database_url
    try:
        if out is None:
            out = default_backup_file(url, cli_settings().backup_dir)
        with console.status(_("backing up to %(path)s") % {"path": out}):
            done = backup_database(url, out, force=force)
    except BackupError as exc:
        click.echo(error_line(str(exc)), err=True)
        raise SystemExit(1) from exc
    click.echo(_backed_up(done, url))
    if keep is None:
        return
    try:
        deleted = prune_backups(done.path, keep)
    except (BackupError, OSError) as exc:
        click.echo(error_line(str(exc)), err=True)
        raise SystemExit(1) from exc
    for path in deleted:
        click.echo(_("deleted the older backup %(path)s") % {"path": path})


@click.command("restore")
@click.argument("source", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
def restore(source: Path, force: bool) -> None:
    """Replace the configured database by the backup FILE (made by 'jifen backup').

    Stop the server first: refused while a Jifen server serves the database. Refused
    when the database holds data, unless --force; the backup must be a Jifen database
    at a schema revision this release knows (an older one is restored and then needs
    'jifen db upgrade'). PostgreSQL: pg_restore must be on PATH, and the user must be
    allowed to create schemas in the database.
    """
    from service.ops.backup import BackupError, restore_database

    url = cli_settings().database_url
    try:
        with console.status(_("restoring %(path)s") % {"path": source}):
            done = restore_database(url, source, force=force)
    except BackupError as exc:
        click.echo(error_line(str(exc)), err=True)
        raise SystemExit(1) from exc
    click.echo(_restored(done, url))


# What was done, in the terminal's language: the words of BackupDone.describe() and
# RestoreDone.describe() (service/ops/backup.py), which stay the English of logs.


def _database(url: str) -> str:
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _("the SQLite database %(path)s") % {"path": parsed.database}
    shown = parsed.render_as_string(hide_password=True)
    return _("the PostgreSQL database %(url)s") % {"url": shown}


def _rows(count: int) -> str:
    return ngettext("%(count)s row", "%(count)s rows", count) % {"count": f"{count:,}"}


def _contents(contents: Contents) -> str:
    tables = len(contents.rows)
    text = ngettext(
        "revision %(revision)s, %(count)d table, %(rows)s",
        "revision %(revision)s, %(count)d tables, %(rows)s",
        tables,
    )
    return text % {
        "revision": contents.revision,
        "count": tables,
        "rows": _rows(contents.total_rows),
    }


def _size(size: int) -> str:
    if size >= 100_000:
        return f"{size / 1_000_000:.1f} MB"
    return ngettext("%(count)s byte", "%(count)s bytes", size) % {"count": f"{size:,}"}


def _backed_up(done: BackupDone, url: str) -> str:
    return _("backed up %(database)s (%(contents)s) to %(path)s (%(size)s) in %(seconds)s s") % {
        "database": _database(url),
        "contents": _contents(done.contents),
        "path": done.path,
        "size": _size(done.size_bytes),
        "seconds": f"{done.seconds:.1f}",
    }


def _restored(done: RestoreDone, url: str) -> str:
    from service.persistence.migrate import head_revision

    lines = [
        _("restored %(path)s (%(contents)s) into %(database)s in %(seconds)s s")
        % {
            "path": done.path,
            "contents": _contents(done.contents),
            "database": _database(url),
            "seconds": f"{done.seconds:.1f}",
        }
    ]
    if done.replaced_rows:
        lines.append(
            _("replaced what the target held: %(rows)s") % {"rows": _rows(done.replaced_rows)}
        )
    head = head_revision()
    if done.contents.revision != head:
        lines.append(
            _(
                "the backup is at revision %(revision)s, this Jifen's schema is at %(head)s: "
                "run 'jifen db upgrade' before serving it"
            )
            % {"revision": done.contents.revision, "head": head}
        )
    return "\n".join(lines)
