"""`jifen audit list` and `jifen audit export`: who changed what, when, from where.

Every ``jifen`` command runs with the audit context "cli" (service/cli/app.py); a
command with a ``--by USERNAME`` option acts as that account (service/cli/common.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from service.audit.log import CSV_COLUMNS, AuditFilter, count_events, iter_events, to_csv
from service.cli.common import (
    cli_database,
    cli_settings,
    console,
)
from service.kernel.files import write_private
from service.kernel.i18n import terminal_gettext as _
from service.kernel.i18n import terminal_ngettext as ngettext


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as exc:
        raise click.BadParameter(
            _("'%(value)s' is not a date; write YYYY-MM-DD") % {"value": value}
        ) from exc


def _filters(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--since", callback=_date, help="From this day (YYYY-MM-DD, town time)."),
        click.option("--until", callback=_date, help="Up to this day, inclusive."),
        click.option("--kind", help="A kind (entry.approve) or an object type (entry)."),
        click.option("--branch", help="A branch code, e.g. B001."),
        click.option("--account", help="The username who made the changes."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _criteria(**values: Any) -> AuditFilter:
    return AuditFilter(
        account=values.get("account"),
        branch=values.get("branch"),
        kind=values.get("kind"),
        since=values.get("since"),
        until=values.get("until"),
    )


@click.group("audit")
def audit_group() -> None:
    """The audit log: who changed what, when, from where."""


@audit_group.command("list")
@_filters
@click.option("--limit", type=int, default=100, show_default=True, help="At most this many.")
def audit_list(limit: int, **filters: Any) -> None:
    """The latest changes, newest first."""
    from zoneinfo import ZoneInfo

    timezone = cli_settings().timezone
    zone = ZoneInfo(timezone)
    criteria = _criteria(**filters)
    with cli_database().transaction(write=False) as session:
        total = count_events(session, criteria, timezone=timezone)
        rows = list(iter_events(session, criteria, timezone=timezone, limit=limit))
    # An event's line is data (time, account, kind, object, fields): it stays as recorded.
    for row in rows:
        who = row.actor or "-"
        where = row.ip_address or "-"
        branch = f"  [{row.branch}]" if row.branch else ""
        click.echo(
            f"{row.at.astimezone(zone):%Y-%m-%d %H:%M:%S}  {who}@{where}  {row.kind} "
            f"#{row.object_id} {row.summary}{branch}"
        )
        for name, before, after in row.fields:
            click.echo(f"    {name}: {_show(before)} -> {_show(after)}")
    # Both English forms say "events" ("1 of 1 events shown", as scripts read it); the
    # catalog may inflect by the total.
    shown = ngettext(
        "%(shown)d of %(total)d events shown (%(timezone)s)",
        "%(shown)d of %(total)d events shown (%(timezone)s)",
        total,
    )
    click.echo(shown % {"shown": len(rows), "total": total, "timezone": timezone}, err=True)


def _show(value: Any) -> str:
    return "-" if value is None else str(value)


@audit_group.command("export")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@_filters
def audit_export(out: Path, **filters: Any) -> None:
    """Write the (filtered) log to OUT as CSV, UTF-8 with a BOM, newest first."""
    timezone = cli_settings().timezone
    criteria = _criteria(**filters)
    with (
        console.status(_("exporting the audit log")),
        cli_database().transaction(write=False) as session,
    ):
        total = count_events(session, criteria, timezone=timezone)
        body = to_csv(
            iter_events(session, criteria, timezone=timezone),
            CSV_COLUMNS,
            timezone=timezone,
        )
    # The log's before and after values hold ID numbers and phones: a file for its owner.
    write_private(out, body)
    written = ngettext(
        "%(count)d event written to %(path)s", "%(count)d events written to %(path)s", total
    )
    click.echo(written % {"count": total, "path": out})
