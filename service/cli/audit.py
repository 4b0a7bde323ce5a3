"""`jifen audit list` and `jifen audit export`; and who the CLI's changes are audited as.

service/cli.py imports this module at its end, so the commands declared here join
``jifen``. Every ``jifen`` command runs with the audit context "cli" (no account); a
command with a ``--by USERNAME`` option acts as that account.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from service.audit.capture import CLI_ADDRESS, act_as_username, reset_context, set_context
from service.audit.log import CSV_COLUMNS, AuditFilter, count_events, iter_events, to_csv
from service.cli import commands as _cli
from service.cli.commands import console, main
from service.kernel.config import Settings
from service.kernel.i18n import terminal_gettext as _
from service.kernel.i18n import terminal_ngettext as ngettext

_BY_MARK = "_jifen_audit_by"


def _remember_by(previous: Callable[..., Any] | None) -> Callable[..., Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if previous is not None:
            value = previous(ctx, param, value)
        if isinstance(value, str) and value:
            act_as_username(value)
        return value

    setattr(callback, _BY_MARK, True)
    return callback


def _watch_by_options(command: click.Command) -> None:
    """Make every ``--by`` option (of any feature's command) name the acting account."""
    for param in command.params:
        by = isinstance(param, click.Option) and "--by" in param.opts
        if by and not getattr(param.callback, _BY_MARK, False):
            param.callback = _remember_by(param.callback)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _watch_by_options(sub)


_main_callback = main.callback


@click.pass_context
def _main_with_audit(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
    _watch_by_options(main)
    token = set_context(None, CLI_ADDRESS)
    ctx.call_on_close(lambda: reset_context(token))
    if _main_callback is None:
        return None
    return ctx.invoke(_main_callback, *args, **kwargs)


main.callback = _main_with_audit


def _settings() -> Settings:
    # Read through service.cli.commands so tests that patch cli.get_settings patch this too.
    settings: Settings = _cli.get_settings()  # type: ignore[attr-defined]
    return settings


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


@main.group("audit")
def audit_group() -> None:
    """The audit log: who changed what, when, from where."""


@audit_group.command("list")
@_filters
@click.option("--limit", type=int, default=100, show_default=True, help="At most this many.")
def audit_list(limit: int, **filters: Any) -> None:
    """The latest changes, newest first."""
    from zoneinfo import ZoneInfo

    timezone = _settings().timezone
    zone = ZoneInfo(timezone)
    criteria = _criteria(**filters)
    with _cli._database().transaction(write=False) as session:
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
    timezone = _settings().timezone
    criteria = _criteria(**filters)
    with (
        console.status(_("exporting the audit log")),
        _cli._database().transaction(write=False) as session,
    ):
        total = count_events(session, criteria, timezone=timezone)
        body = to_csv(
            iter_events(session, criteria, timezone=timezone),
            CSV_COLUMNS,
            timezone=timezone,
        )
    out.write_bytes(body)
    written = ngettext(
        "%(count)d event written to %(path)s", "%(count)d events written to %(path)s", total
    )
    click.echo(written % {"count": total, "path": out})
