"""`jifen db`, `jifen seed`, `jifen stats` and `jifen serve`: the schema, the demo town, the
town's counts and the web server.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

import click

from service.cli.common import (
    cli_database,
    cli_settings,
    console,
    error_line,
    error_markup,
    load_rulebook,
)
from service.kernel.i18n import terminal_gettext as _
from service.kernel.i18n import terminal_render

if TYPE_CHECKING:
    from service.kernel.config import Settings


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from service.persistence.migrate import current_revision, upgrade

    database = cli_database()
    upgrade(database.engine, revision)
    console.print(
        _("database at revision %(revision)s") % {"revision": current_revision(database.engine)}
    )


@db.command("current")
def db_current() -> None:
    """Print the database's schema revision and whether it is this release's head.

    Exit status: 0 at head; 1 when the database has no schema, is behind (run 'jifen db
    upgrade'), is at a revision this release does not know, or cannot be reached.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from service.persistence.migrate import head_revision, revision_chain, revision_of

    try:
        with cli_database().transaction(write=False) as session:
            revision = revision_of(session.connection())
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip()
        click.echo(
            error_line(_("cannot reach the database: %(reason)s") % {"reason": reason}), err=True
        )
        raise SystemExit(1) from exc
    head = head_revision()
    values = {"revision": revision, "head": head}
    if revision == head:
        click.echo(_("revision %(revision)s (head)") % values)
        return
    if revision is None:
        click.echo(_("no schema yet (head is %(head)s): run 'jifen db upgrade'") % values)
    elif revision in revision_chain():
        click.echo(
            _("revision %(revision)s, behind head %(head)s: run 'jifen db upgrade'") % values
        )
    else:
        click.echo(
            _(
                "revision %(revision)s, which this release does not know (head is %(head)s): "
                "made by a newer release?"
            )
            % values
        )
    raise SystemExit(1)


@click.group()
def seed() -> None:
    """Load data from seeds/."""


@seed.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has branches.")
@click.option(
    "--until",
    "until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Last day of demo activity (default: today in the town's timezone).",
)
def seed_demo(if_empty: bool, until: Any) -> None:
    """Load the demo town (refused when JIFEN_ENV=production)."""
    from service.kernel.periods import town_today
    from service.ops.seed.load import load_demo_town
    from service.ops.seed.state import DemoRefused
    from service.ops.seed.town_file import TOWN_FILE
    from service.ops.stats import is_empty
    from service.persistence.types import utcnow

    settings = cli_settings()
    # Both refusals come before the database is opened: a refused seed leaves no trace
    # (an installed copy would otherwise make an empty var/jifen.sqlite3 here).
    if settings.env == "production":
        # Said first: in production the reason is production, whatever the database holds.
        console.print(
            error_markup(_("the demo town is not loaded in production (JIFEN_ENV=production)"))
        )
        raise SystemExit(1)
    if not (settings.seeds_dir / TOWN_FILE).is_file():
        # An installed wheel ships no seeds: the demo town is a source checkout's.
        console.print(
            error_markup(
                _(
                    "no demo town at %(path)s: 'jifen seed demo' needs Jifen's source "
                    "checkout (its seeds/ folder), or JIFEN_SEEDS_DIR naming that folder"
                )
                % {"path": settings.seeds_dir / TOWN_FILE}
            )
        )
        raise SystemExit(1)
    database = cli_database()
    rulebook = load_rulebook()
    with database.transaction() as session:
        if not is_empty(session):
            if if_empty:
                console.print(_("database already holds a town; demo seed skipped"))
                return
            console.print(error_markup(_("the database is not empty; seed an empty database")))
            raise SystemExit(1)
    last_day: date = until.date() if until else town_today(utcnow(), settings.timezone)
    try:
        with database.transaction() as session:
            summary = load_demo_town(
                session,
                rulebook,
                settings.seeds_dir,
                until=last_day,
                env=settings.env,
                console=console,
            )
    except DemoRefused as exc:
        console.print(error_markup(str(exc)))
        raise SystemExit(1) from exc
    console.print(summary)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(as_json: bool) -> None:
    """Counts of branches, organisations, members and entries."""
    from service.ops.stats import town_stats

    with cli_database().transaction(write=False) as session:
        data = town_stats(session)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key, value in data.items():
        click.echo(f"{key}: {value}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web application.

    Checks first, before any worker starts, what would keep the app from serving (the
    settings, the scoring rules, the database and its schema revision); on a problem it
    says which and exits 1, instead of workers failing one after another.
    """
    import uvicorn

    settings = cli_settings()
    problems = _serving_problems(settings)
    for problem in problems:
        click.echo(error_line(problem), err=True)
    load_rulebook(serving=True)  # refuse broken rules, with reasons (exit 1)
    if problems:
        click.echo(_("the server does not start"), err=True)
        raise SystemExit(1)
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,
    )


def _serving_problems(settings: Settings) -> list[str]:
    """What would keep the app from serving, in the terminal's language."""
    from service.kernel.config import serving_problems
    from service.kernel.files import UnsafeDirectory, owned_private_directory

    problems = [terminal_render(problem) for problem in serving_problems(settings)]
    try:
        owned_private_directory(settings.roster_upload_dir)
    except (UnsafeDirectory, OSError) as exc:
        problems.append(
            _("JIFEN_ROSTER_UPLOAD_DIR cannot hold uploads: %(reason)s") % {"reason": exc}
        )
    problem = _database_problem(settings)
    if problem:
        problems.append(problem)
    return problems


def _database_problem(settings: Settings) -> str | None:
    """Why the configured database cannot be served (None: it can): unreachable, a
    schema that is not this release's, or a restore in progress."""
    from sqlalchemy.exc import SQLAlchemyError

    from service.database import open_database
    from service.persistence.migrate import revision_of
    from service.persistence.serving import DatabaseInUse, ServingLock

    # A database of its own, closed before the workers start: none inherits a connection.
    database = open_database(settings.database_url)
    try:
        with database.engine.connect() as connection:
            revision = revision_of(connection)
        ServingLock.acquire(database.engine).release()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip()
        return _("cannot reach the database: %(reason)s") % {"reason": reason}
    except DatabaseInUse:
        return _("a restore of the database is in progress; start the server when it is done")
    finally:
        database.dispose()
    return schema_message(revision)


def schema_message(revision: str | None) -> str | None:
    """Why this release cannot work on a database at ``revision`` (None: it can), in the
    terminal's language."""
    from service.persistence.migrate import head_revision, revision_chain

    head = head_revision()
    if revision == head:
        return None
    if revision is None:
        return _("the database has no schema yet: run 'jifen db upgrade' first")
    if revision in revision_chain():
        return _(
            "the database schema is at revision %(revision)s, this release needs %(head)s: "
            "run 'jifen db upgrade' first"
        ) % {"revision": revision, "head": head}
    return _(
        "the database schema is at revision %(revision)s, which this release does not know "
        "(made by a newer release?): serve it with that release"
    ) % {"revision": revision}
