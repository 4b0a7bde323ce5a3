"""`jifen` subcommands of this feature; service/cli.py imports this module at its end,
so commands declared here with ``@main.command()`` / ``@main.group()`` join ``jifen``."""

from __future__ import annotations

from service.cli import main  # noqa: F401 - the group the commands attach to
