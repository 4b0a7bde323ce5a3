"""The ``jifen`` command for operators."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Any

import click
from rich.console import Console

from service.config import get_settings
from service.db import Database
from service.scoring.rules import Rulebook, RulesError

console = Console(stderr=True)


def _database() -> Database:
    return Database.from_url(get_settings().database_url)


def _rulebook() -> Rulebook:
    try:
        return Rulebook.from_directory(get_settings().rules_dir)
    except RulesError as exc:
        for problem in exc.problems:
            console.print(f"[red]error[/red] {problem}", highlight=False)
        raise SystemExit(1) from exc


@click.group()
def main() -> None:
    """Jifen (积分): points service for party members."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from service.migrate import current_revision, upgrade

    database = _database()
    upgrade(database.engine, revision)
    console.print(f"database at revision {current_revision(database.engine)}")


@main.group()
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
    from service.periods import town_today
    from service.seed import DemoRefused, load_demo_town
    from service.stats import is_empty
    from service.types import utcnow

    settings = get_settings()
    database = _database()
    rulebook = _rulebook()
    with database.transaction() as session:
        if not is_empty(session):
            if if_empty:
                console.print("database already holds a town; demo seed skipped")
                return
            console.print("[red]error[/red] the database is not empty; seed an empty database")
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
        console.print(f"[red]error[/red] {exc}")
        raise SystemExit(1) from exc
    console.print(summary)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(as_json: bool) -> None:
    """Counts of branches, organisations, members and entries."""
    from service.stats import town_stats

    with _database().transaction(write=False) as session:
        data = town_stats(session)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key, value in data.items():
        click.echo(f"{key}: {value}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web application."""
    import uvicorn

    _rulebook()  # refuse to start on broken rules, with the reasons
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
