"""The ``jifen`` command: one group, with each command group from its own module."""

from __future__ import annotations

import click
from pydantic import ValidationError

from service.audit.capture import CLI_ADDRESS, reset_context, set_context
from service.cli import (
    audit,
    backup,
    bands,
    first_run,
    ledger,
    notify,
    org,
    publish,
    results,
    roster,
    rules,
    setup,
    tokens,
)
from service.cli.common import CliContext, error_line
from service.kernel.config import ConfigFileError


@click.group()
@click.version_option(package_name="jifen", prog_name="jifen")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Jifen (积分): points service for party members.

    Settings come from JIFEN_* environment variables and from the settings file named
    by JIFEN_CONFIG (made by 'jifen init'); the environment wins over the file.
    """
    # Settings come from the environment unless the caller (a test) passed its own.
    # `jifen init` makes the settings file JIFEN_CONFIG may already name (the README's
    # alias sets it for every command): it reads no settings, so that is no error.
    try:
        if ctx.invoked_subcommand != "init":
            ctx.ensure_object(CliContext)
    except ConfigFileError as exc:
        click.echo(error_line(str(exc)), err=True)
        raise SystemExit(1) from exc
    except ValidationError as exc:
        # A setting of the environment that is not valid: named, without a traceback.
        for error in exc.errors():
            name = "JIFEN_" + "_".join(str(part) for part in error["loc"]).upper()
            click.echo(error_line(f"{name}: {error['msg']}"), err=True)
        raise SystemExit(1) from exc
    # Every change a command makes is audited as coming from the command line; a
    # command with --by acts as that office account (service/cli/common.py).
    token = set_context(None, CLI_ADDRESS)
    ctx.call_on_close(lambda: reset_context(token))


for command in (
    first_run.init,
    first_run.setup,
    setup.db,
    setup.seed,
    setup.stats,
    setup.serve,
    rules.rules,
    ledger.ledger,
    publish.publish,
    results.results,
    org.accounts,
    org.branches,
    org.organisations,
    org.members,
    roster.import_group,
    roster.transfer,
    tokens.tokens,
    audit.audit_group,
    backup.backup,
    backup.restore,
    bands.bands,
    notify.notify,
):
    main.add_command(command)
