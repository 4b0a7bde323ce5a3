"""`jifen db`, `jifen seed`, `jifen stats` and `jifen serve`: the schema, the demo town, the
town's counts and the web server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
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
from service.kernel.logs import MULTIPROCESS_DIR

if TYPE_CHECKING:
    from service.kernel.config import Settings
    from service.persistence.db import Database


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
                now=utcnow(),
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

    Checks first, before any worker starts, what would keep the app from serving: the
    settings, then the readiness checks of /readyz (the database, its schema revision,
    the scoring rules, the upload folders) and a restore in progress. On a problem it
    names each and exits 1, instead of workers failing one after another.
    """
    import uvicorn

    from service.kernel.logs import logging_config

    settings = cli_settings()
    problems = _serving_problems(settings)
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        click.echo(_("the server does not start"), err=True)
        raise SystemExit(1)
    with _metrics_directory():
        uvicorn.run(
            "web.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=False,
            # One line per request, Jifen's own (web/observability.py), in the format
            # of every other line.
            access_log=False,
            log_config=logging_config(settings),
            log_level=settings.log_level.lower(),
        )


@contextmanager
def _metrics_directory() -> Iterator[None]:
    """A private, empty PROMETHEUS_MULTIPROC_DIR for this server's workers (each writes
    its request counts there; a scrape of any of them sums all), removed when the
    server stops. Always a new one: counts left by an earlier run would be summed in."""
    import os
    import shutil
    import tempfile

    before = os.environ.get(MULTIPROCESS_DIR)
    directory = tempfile.mkdtemp(prefix="jifen-metrics-")  # 0700
    os.environ[MULTIPROCESS_DIR] = directory
    try:
        yield
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if before is None:
            os.environ.pop(MULTIPROCESS_DIR, None)
        else:
            os.environ[MULTIPROCESS_DIR] = before


def _serving_problems(settings: Settings) -> list[str]:
    """What would keep the app from serving, one line each, in the terminal's language:
    the settings, each failed readiness check, a restore in progress."""
    from service.database import open_database
    from service.kernel.config import serving_problems
    from service.ops.readiness import readiness

    lines = [error_line(terminal_render(problem)) for problem in serving_problems(settings)]
    # A database of its own, closed before the workers start: none inherits a connection.
    database = open_database(settings.database_url)
    try:
        found = readiness(settings, database)
        for check in found.failed.values():
            if check.problems:  # the rule files: each problem on a line of its own
                header = _("error: the scoring rules in %(directory)s are invalid:")
                lines.append(header % {"directory": settings.rules_dir})
                lines.extend(check.problems)
            else:
                lines.append(error_line(terminal_render(check.detail)))
        if found.checks["database"].ok:
            restore = _restore_in_progress(database)
            if restore:
                lines.append(error_line(restore))
    finally:
        database.dispose()
    return lines


def _restore_in_progress(database: Database) -> str | None:
    from sqlalchemy.exc import SQLAlchemyError

    from service.persistence.serving import DatabaseInUse, ServingLock

    try:
        ServingLock.acquire(database.engine).release()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip()
        return _("cannot reach the database: %(reason)s") % {"reason": reason}
    except DatabaseInUse:
        return _("a restore of the database is in progress; start the server when it is done")
    return None
