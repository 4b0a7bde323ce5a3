"""What every ``jifen`` command shares: the settings and the database, passed through
click's context (``CliContext``), the acting office account (``--by``), and how
problems are printed (in the terminal's language, machine-readable parts as they are).

A test runs a command on its own database by passing ``obj=CliContext(...)`` to
click's ``invoke``; the installed ``jifen`` builds one from the environment.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from service.audit.capture import act_as_username
from service.database import open_database
from service.kernel.config import Settings, get_settings
from service.kernel.errors import DomainError, InvalidInput
from service.kernel.i18n import terminal_gettext as _
from service.kernel.i18n import terminal_render
from service.kernel.periods import PERIOD_PATTERN
from service.persistence.db import Database
from service.scoring.rules import Rulebook, RulesError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from service.accounts.principal import Principal

# Progress and problems go to standard error; what a command answers goes to standard
# output (click.echo), so it can be piped.
console = Console(stderr=True)


@dataclass
class CliContext:
    """The settings and the database of one ``jifen`` run (click's ``ctx.obj``). The
    database is opened at first use, so ``jifen --help`` touches none."""

    settings: Settings = field(default_factory=get_settings)
    opened: Database | None = None

    def database(self) -> Database:
        if self.opened is None:
            self.opened = open_database(self.settings.database_url)
        return self.opened


def cli_context() -> CliContext:
    """The context of the command running now."""
    return click.get_current_context().ensure_object(CliContext)


def cli_settings() -> Settings:
    return cli_context().settings


def cli_database() -> Database:
    return cli_context().database()


def print_problems(problems: list[str]) -> None:
    # Plain echo, not rich: a problem line names a path and must never be wrapped.
    for problem in problems:
        click.echo(problem, err=True)


def load_rulebook(*, serving: bool = False) -> Rulebook:
    """The rulebook in force: the configured rules directory's files and the versions
    adopted on the web (the same merge as the web app's, service/ledger/adoption.py); on
    problems, print each with its file, rule and field and exit 1."""
    rules_dir = cli_settings().rules_dir
    try:
        files = Rulebook.from_directory(rules_dir)
        return with_adopted(files)
    except RulesError as exc:
        if serving:
            text = _(
                "error: the scoring rules in %(directory)s are invalid; the server does not start:"
            )
        else:
            text = _("error: the scoring rules in %(directory)s are invalid:")
        click.echo(text % {"directory": rules_dir}, err=True)
        print_problems(exc.problems)
        raise SystemExit(1) from exc


def with_adopted(files: Rulebook) -> Rulebook:
    """``files`` with the versions adopted on the web, read from the database. A
    database without the table yet (before ``jifen db upgrade``) has adopted nothing,
    and so has a SQLite file that does not exist yet (``jifen rules check`` in a fresh
    checkout must not create one)."""
    from pathlib import Path

    from sqlalchemy import inspect, make_url

    from service.ledger.adoption import rulebook_in_force
    from service.persistence.models import AdoptedRuleset

    context = cli_context()
    url = make_url(context.settings.database_url)
    if (
        context.opened is None
        and url.get_backend_name() == "sqlite"
        and url.database not in (None, "", ":memory:")
        and not Path(url.database).exists()
    ):
        return files
    with cli_database().transaction(write=False) as session:
        if not inspect(session.connection()).has_table(AdoptedRuleset.__tablename__):
            return files
        return rulebook_in_force(session, files)


def error_markup(text: str) -> str:
    """A problem for the rich console: "error" in red, then what is wrong."""
    label = _("error")
    return f"[red]{label}[/red] {text}"


def error_line(text: str) -> str:
    """A problem for plain output: "error: " and what is wrong."""
    return _("error: %(message)s") % {"message": text}


def fail(message: str) -> SystemExit:
    """Print ``message`` as an error; the caller raises what this returns (exit 1)."""
    click.echo(error_line(message), err=True)
    return SystemExit(1)


def domain_failure(exc: DomainError) -> SystemExit:
    """Print a domain error (each field of an ``InvalidInput`` on its own line, the
    branches holding a month's pending entries); the caller raises what this returns."""
    from service.publication.state import PendingEntries

    if isinstance(exc, PendingEntries):
        click.echo(error_line(terminal_render(exc.message)), err=True)
        for branch in exc.branches:
            pending = _("%(branch)s: %(count)d pending")
            click.echo("  " + pending % {"branch": branch.name, "count": branch.count}, err=True)
    elif isinstance(exc, InvalidInput):
        for field_name, message in exc.errors.items():
            # The field stays the form's own name (username, member_code): scripts read it.
            text = f"{field_name}: {terminal_render(message)}"
            click.echo(error_line(text), err=True)
    else:
        click.echo(error_line(terminal_render(exc.message)), err=True)
    return SystemExit(1)


def _acting_account(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    # Known before any session exists: the audit hook resolves the name when it writes.
    # Without --by, JIFEN_CLI_ACCOUNT names the account, audited the same way.
    act_as_username(value or cli_settings().cli_account)
    return value


BY_OPTION = click.option(
    "--by",
    "by_username",
    default=None,
    callback=_acting_account,
    help=("The office account acting (default: JIFEN_CLI_ACCOUNT, else the only admin account)."),
)


def office_principal(session: Session, username: str | None) -> Principal:
    """The office (admin) account a command acts as: ``--by USERNAME``, else the account
    JIFEN_CLI_ACCOUNT names, else the only admin account; exit 1 with the reason
    otherwise. Changes are audited as the account only when ``--by`` or the setting names
    it (``BY_OPTION``), else as the command line with no account."""
    from sqlalchemy import select

    from service.accounts.principal import load_principal
    from service.persistence.models import Account, Role, RoleGrant

    from_setting = not username and bool(cli_settings().cli_account)
    if from_setting:
        username = cli_settings().cli_account
    if username:
        account_id = session.scalar(select(Account.id).where(Account.username == username))
        if account_id is None:
            if from_setting:
                text = _("JIFEN_CLI_ACCOUNT names no account: '%(username)s'")
            else:
                text = _("no account '%(username)s'")
            console.print(error_markup(text % {"username": username}))
            raise SystemExit(1)
    else:
        admins = list(
            session.scalars(
                select(RoleGrant.account_id).where(RoleGrant.role == Role.ADMIN).distinct()
            )
        )
        if len(admins) != 1:
            console.print(
                error_markup(
                    _(
                        "say which office account acts: --by USERNAME "
                        "(%(count)d admin accounts exist)"
                    )
                    % {"count": len(admins)}
                )
            )
            raise SystemExit(1)
        account_id = admins[0]
    principal = load_principal(session, account_id)
    if principal is None or not principal.is_admin:
        if from_setting:
            text = _("JIFEN_CLI_ACCOUNT: '%(username)s' is not an active office (admin) account")
        else:
            text = _("'%(username)s' is not an active office (admin) account")
        console.print(error_markup(text % {"username": username}))
        raise SystemExit(1)
    return principal


def acting_office(session: Session, username: str | None) -> Principal:
    """``office_principal``, with every change after it audited as that account even
    without ``--by`` (the people and token commands: the account the office acts as is
    always named in their audit lines)."""
    principal = office_principal(session, username)
    act_as_username(principal.username)
    return principal


def not_a_month(value: str) -> click.BadParameter:
    return click.BadParameter(
        _("'%(value)s' is not a month; write YYYY-MM, e.g. 2026-03") % {"value": value}
    )


def month_argument(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """A click callback: ``value`` must be a month, YYYY-MM."""
    if not PERIOD_PATTERN.fullmatch(value):
        raise not_a_month(value)
    return value


def town_time(moment: datetime) -> str:
    from zoneinfo import ZoneInfo

    zone = cli_settings().timezone
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} ({zone})"


def rank_text(rank: int | None) -> str:
    return "-" if rank is None else str(rank)


def signed(value: Decimal) -> str:
    return f"{value:+.1f}"


def stdout_console() -> Console:
    # Piped output gets a fixed, generous width so tables are never squeezed or wrapped.
    interactive = sys.stdout.isatty()
    return Console(
        highlight=False,
        width=None if interactive else 120,
        no_color=not interactive,
        soft_wrap=not interactive,
    )
