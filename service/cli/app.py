"""The ``jifen`` command: one group, with each command group from its own module."""

from __future__ import annotations

import click

from service.audit.capture import CLI_ADDRESS, reset_context, set_context
from service.cli import audit, backup, ledger, org, publish, roster, rules, setup, tokens
from service.cli.common import CliContext


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Jifen (积分): points service for party members."""
    # Settings come from the environment unless the caller (a test) passed its own.
    ctx.ensure_object(CliContext)
    # Every change a command makes is audited as coming from the command line; a
    # command with --by acts as that office account (service/cli/common.py).
    token = set_context(None, CLI_ADDRESS)
    ctx.call_on_close(lambda: reset_context(token))


for command in (
    setup.db,
    setup.seed,
    setup.stats,
    setup.serve,
    rules.rules,
    ledger.ledger,
    publish.publish,
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
):
    main.add_command(command)
