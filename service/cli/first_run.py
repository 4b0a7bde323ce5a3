"""`jifen init` and `jifen setup`: the first run of a production install. ``init`` lays
out an instance folder (service/ops/instance.py); ``setup`` creates the first office
account through the account service (service/accounts/admin.py), as no office account
exists yet to act with ``--by``.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click

from service.cli.common import cli_database, domain_failure, fail
from service.kernel.i18n import terminal_gettext as _
from service.kernel.i18n import terminal_render

# The variable `jifen setup` reads the first office account's password from.
SETUP_PASSWORD_VARIABLE = "JIFEN_SETUP_PASSWORD"  # noqa: S105 - a variable's name


def stdin_is_terminal() -> bool:
    """Whether a person may be asked (prompts); a test of the prompts replaces this."""
    return sys.stdin.isatty()


@click.command("init")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--town-name", default=None, help="The town's full name, e.g. 青溪镇.")
@click.option(
    "--public-url",
    default=None,
    help="The address people open, e.g. https://jifen.example.org (production needs it).",
)
def init(directory: Path, town_name: str | None, public_url: str | None) -> None:
    """Lay out a production instance in DIR (made if missing).

    DIR/jifen.env (settings: a new secret key, JIFEN_ENV=production, SQLite in DIR, and
    commented lines for PostgreSQL, the town, HTTPS and a proxy), DIR/rules/ (the shipped
    sample rulesets, to review), DIR/uploads/, DIR/roster-uploads/ and DIR/backups/
    (0700: they hold personal data). Refused when DIR/jifen.env exists.
    """
    from service.kernel.config import Settings, public_url_problem
    from service.kernel.files import UnsafeDirectory
    from service.kernel.periods import town_today
    from service.ops.instance import InstanceExists, lay_out_instance
    from service.persistence.types import utcnow

    if public_url is not None:
        problem = public_url_problem(public_url)
        if problem is not None:
            raise fail(f"--public-url: {problem}")
        public_url = public_url.rstrip("/")
    try:
        instance = lay_out_instance(
            directory,
            # The town's day for the file's first line; no settings are read (above).
            today=town_today(utcnow(), Settings.model_fields["timezone"].default),
            town_name=town_name.strip() if town_name else None,
            public_url=public_url,
        )
    except InstanceExists as exc:
        raise fail(
            _("%(path)s exists already and is not overwritten; edit it, or init another folder")
            % {"path": exc.path}
        ) from exc
    except (UnsafeDirectory, OSError) as exc:
        text = _("cannot lay out %(path)s: %(reason)s")
        raise fail(text % {"path": directory, "reason": exc}) from exc
    config = shlex.quote(str(instance.settings_file))
    lines = [_("Jifen instance laid out in %(path)s.") % {"path": instance.directory}]
    if instance.copied_rules:
        lines.append(
            _("The rules in %(path)s are samples: review them with the town's office.")
            % {"path": instance.rules_dir}
        )
    lines += [
        "",
        _("Next steps:"),
        f"  export JIFEN_CONFIG={config}",
        "  "
        + _("# edit %(path)s: the town's name, its public URL and host names")
        % {"path": instance.settings_file},
        "  jifen db upgrade",
        '  jifen setup --username office --name "..."',
        "  jifen serve",
    ]
    click.echo("\n".join(lines))


@click.command("setup")
@click.option("--username", default=None, help="The first office account's username.")
@click.option("--name", "display_name", default=None, help="Its name shown on pages.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help=(
        f"Read the password from the first line of standard input "
        f"(else ${SETUP_PASSWORD_VARIABLE}, else a hidden prompt)."
    ),
)
def setup(username: str | None, display_name: str | None, password_stdin: bool) -> None:
    """Create the first office (admin) account; refused once an admin account exists.

    The password comes from standard input (--password-stdin), from the environment
    variable JIFEN_SETUP_PASSWORD, or from a hidden prompt (typed twice) when standard
    input is a terminal; the rules of a chosen password apply (at least 10 characters,
    not a common password, not the username). Missing --username and --name are asked
    for on a terminal. The account is created in the audit log as 'account.setup'.
    """
    from service.accounts.admin import (
        RolesInput,
        create_first_admin,
        has_admin,
        parse_account,
    )
    from service.kernel.errors import DomainError
    from service.ops.readiness import schema_message
    from service.persistence.migrate import revision_of

    database = cli_database()
    # Said before anyone types a password for nothing.
    with database.transaction(write=False) as session:
        problem = schema_message(revision_of(session.connection()))
        exists = problem is None and has_admin(session)
    if problem:
        raise fail(terminal_render(problem))
    if exists:
        raise fail(
            _(
                "an office account exists already; sign in with it, or create accounts "
                "with 'jifen accounts create --by USERNAME'"
            )
        )
    username = username or _asked("--username", _("Username of the office account"))
    display_name = display_name or _asked("--name", _("Name shown on pages"))
    password = _password(password_stdin)
    try:
        data = parse_account(
            {"username": username, "display_name": display_name, "password": password},
            RolesInput(admin=True),
        )
        with database.transaction() as session:
            create_first_admin(session, data)
    except DomainError as exc:
        raise domain_failure(exc) from exc
    click.echo(
        _("office account %(username)s created; it may sign in now.") % {"username": username}
    )
    click.echo(_("Next steps:"))
    click.echo("  jifen serve")
    click.echo(
        "  "
        + _("# then sign in as %(username)s: branches, accounts, the roster import")
        % {"username": username}
    )
    click.echo(
        "  "
        + _("# the jifen command acts as this account with: export JIFEN_CLI_ACCOUNT=%(username)s")
        % {"username": username}
    )


def _asked(option: str, prompt: str) -> str:
    if not stdin_is_terminal():
        raise fail(_("give %(option)s (standard input is not a terminal)") % {"option": option})
    return str(click.prompt(prompt)).strip()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        # One line; its line ending is not part of the password.
        return sys.stdin.readline().rstrip("\r\n")
    from_environment = os.environ.get(SETUP_PASSWORD_VARIABLE)
    if from_environment:
        return from_environment
    if not stdin_is_terminal():
        raise fail(
            _(
                "no password: set %(variable)s or give --password-stdin "
                "(standard input is not a terminal, so it cannot be asked)"
            )
            % {"variable": SETUP_PASSWORD_VARIABLE}
        )
    return str(
        click.prompt(
            _("Password (at least 10 characters)"),
            hide_input=True,
            confirmation_prompt=_("Password again"),
        )
    )
