"""The roster from a terminal:

* ``jifen import members FILE [--apply]``: check a roster (CSV or XLSX, an office's own
  sheet with a title above the column names and columns of its own); dry run by
  default; prints what was skipped or ignored, then exits 1 with every problem as
  "row N, column X: ...".
* ``jifen import template [--xlsx] OUT``: write an empty roster template.
* ``jifen transfer MEMBER_CODE BRANCH_CODE --on YYYY-MM-DD``: 组织关系转接.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from service.cli.common import (
    BY_OPTION,
    cli_database,
    cli_settings,
    console,
    domain_failure,
    error_line,
    office_principal,
)
from service.kernel.i18n import N_, Message, terminal_render
from service.kernel.i18n import terminal_gettext as _
from service.kernel.i18n import terminal_ngettext as ngettext

# Files with more rows than this show a progress bar (a small file is done at once).
PROGRESS_FROM_ROWS = 500
# A run shows at most this many of the members it creates or updates.
SHOWN_CHANGES = 50


@click.group("import")
def import_group() -> None:
    """Import the member roster (党员名册) from CSV or XLSX."""


@import_group.command("members")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--apply", "apply", is_flag=True, help="Write the changes (default: dry run).")
@BY_OPTION
def import_members(path: Path, apply: bool, by_username: str | None) -> None:
    """Check FILE and, with --apply, create and update members.

    Nothing is written while any row has a problem; each problem is printed as
    "row N, column X: what is wrong" and the command exits 1.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from service.people.roster_apply import apply_roster
    from service.people.roster_file import MAX_FILE_BYTES, RosterFileError, read_table
    from service.people.roster_import import import_roster

    try:
        # Checked before reading: the file is read into memory whole.
        if path.stat().st_size > MAX_FILE_BYTES:
            raise RosterFileError(
                Message(
                    N_("The file is larger than %(max)s MB; split it."),
                    {"max": MAX_FILE_BYTES // (1024 * 1024)},
                )
            )
        table = read_table(path.read_bytes())
    except RosterFileError as exc:
        text = f"{path}: {terminal_render(exc.message)}"
        click.echo(error_line(text), err=True)
        raise SystemExit(1) from exc

    # What was skipped or ignored, before any problem: a row number below is the
    # file's own, and the office sees at once which lines were not read as members.
    for note in table.notes:
        click.echo(f"{path.name}: {terminal_render(note)}", err=True)

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=len(table.rows) < PROGRESS_FROM_ROWS,
    ) as progress:
        checking = progress.add_task(_("checking rows"), total=len(table.rows))
        saving = progress.add_task(_("saving rows"), total=len(table.rows), visible=apply)

        def checked(done: int, total: int) -> None:
            progress.update(checking, completed=done, total=total)

        def saved(done: int, total: int) -> None:
            progress.update(saving, completed=done, total=total)

        database = cli_database()
        if apply:
            with database.transaction(write=False) as session:
                actor_id = office_principal(session, by_username).account_id
            # In batches of short write transactions: the web app's sign-ins and
            # approvals go on while a large roster is written.
            report = apply_roster(
                database,
                table,
                actor_id=actor_id,
                batch_rows=cli_settings().import_batch_rows,
                checking=checked,
                saving=saved,
            )
        else:
            with database.transaction(write=False) as session:
                report = import_roster(session, table, apply=False, progress=checked)
    for problem in report.problems:
        click.echo(problem.render(_), err=True)
    if report.more_problems:
        more = report.more_problems
        click.echo(
            ngettext("... and %(count)d more", "... and %(count)d more", more) % {"count": more},
            err=True,
        )
    if report.saved_through is not None and not report.applied:
        click.echo(f"{path.name}: {terminal_render(report.summary())}", err=True)
        raise SystemExit(1)
    if report.problem_count:
        count = report.problem_count
        refused = ngettext(
            "%(file)s: %(rows)d rows, %(count)d problem; nothing was written",
            "%(file)s: %(rows)d rows, %(count)d problems; nothing was written",
            count,
        )
        click.echo(refused % {"file": path.name, "rows": len(table.rows), "count": count}, err=True)
        raise SystemExit(1)
    for change in report.changes[:SHOWN_CHANGES]:
        values = {"row": change.row, "code": change.code, "name": change.name}
        if change.created:
            line = _("row %(row)s: %(code)s %(name)s: create")
        else:
            # The fields stay the roster's column keys (name, phone, branch_code, ...).
            line = _("row %(row)s: %(code)s %(name)s: update %(fields)s")
            values["fields"] = ", ".join(change.fields)
        click.echo(line % values)
    if len(report.changes) > SHOWN_CHANGES:
        more = len(report.changes) - SHOWN_CHANGES
        click.echo(
            ngettext("... and %(count)d more", "... and %(count)d more", more) % {"count": more}
        )
    done = ngettext(
        "%(file)s: %(rows)d row in %(seconds)s s. %(summary)s",
        "%(file)s: %(rows)d rows in %(seconds)s s. %(summary)s",
        report.rows,
    )
    click.echo(
        done
        % {
            "file": path.name,
            "rows": report.rows,
            "seconds": f"{report.seconds:.2f}",
            "summary": terminal_render(report.summary()),
        }
    )


@import_group.command("template")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--xlsx", "as_xlsx", is_flag=True, help="Write XLSX (default: CSV).")
def import_template(out: Path, as_xlsx: bool) -> None:
    """Write a roster template with the column names and one example row to OUT."""
    from service.people.roster_file import COLUMNS, template_csv, template_xlsx

    out.write_bytes(template_xlsx() if as_xlsx else template_csv())
    click.echo(_("wrote %(path)s") % {"path": out})
    # The column names are the file's own (Chinese, then the key), in any language.
    for column in COLUMNS:
        line = f"{column.chinese} ({column.key})"
        if column.required:
            line = _("%(column)s: required") % {"column": line}
        click.echo(f"  {line}")


def _date(_ctx: click.Context, _param: click.Parameter, value: str) -> Any:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as exc:
        raise click.BadParameter(
            _("'%(value)s' is not a date; write YYYY-MM-DD") % {"value": value}
        ) from exc


@click.command()
@click.argument("member_code")
@click.argument("branch_code")
@click.option(
    "--on",
    "effective",
    required=True,
    callback=_date,
    metavar="YYYY-MM-DD",
    help="The effective date (today or earlier).",
)
@click.option("--note", default="", help="The reason or reference (e.g. the transfer letter).")
@click.option("--mobile", is_flag=True, help="A mobile member (流动党员) taking part here.")
@BY_OPTION
def transfer(
    member_code: str,
    branch_code: str,
    effective: Any,
    note: str,
    mobile: bool,
    by_username: str | None,
) -> None:
    """Transfer a member to another branch (组织关系转接) from the effective date on."""
    from sqlalchemy import select

    from service.kernel.errors import DomainError
    from service.kernel.periods import town_today
    from service.people.transfers import member_history, transfer_member
    from service.persistence.models import Branch, Member
    from service.persistence.types import utcnow

    now = utcnow()
    try:
        with cli_database().transaction() as session:
            principal = office_principal(session, by_username)
            member = session.scalar(select(Member).where(Member.code == member_code))
            if member is None:
                no_member = _("no member '%(code)s'") % {"code": member_code}
                click.echo(error_line(no_member), err=True)
                raise SystemExit(1)
            branch_id = session.scalar(select(Branch.id).where(Branch.code == branch_code))
            if branch_id is None:
                no_branch = _("no branch '%(code)s'") % {"code": branch_code}
                click.echo(error_line(no_branch), err=True)
                raise SystemExit(1)
            result = transfer_member(
                session,
                principal,
                member.id,
                branch_id,
                effective,
                note,
                today=town_today(now, cli_settings().timezone),
                now=now,
                mobile=mobile,
            )
            history = member_history(session, member.id)
            name = member.name
    except DomainError as exc:
        raise domain_failure(exc) from exc
    values = {
        "code": member_code,
        "name": name,
        "branch": branch_code,
        "date": result.effective.isoformat(),
        "count": result.pending_moved,
    }
    if result.pending_moved:
        moved = ngettext(
            "%(code)s %(name)s transferred to %(branch)s from %(date)s; "
            "%(count)d pending entry moves with them",
            "%(code)s %(name)s transferred to %(branch)s from %(date)s; "
            "%(count)d pending entries move with them",
            result.pending_moved,
        )
    else:
        moved = _("%(code)s %(name)s transferred to %(branch)s from %(date)s")
    click.echo(moved % values)
    for stay in history:
        since = stay.from_date.isoformat() if stay.from_date else _("(records began)")
        until = stay.to_date.isoformat() if stay.to_date else _("now")
        click.echo(f"  {since} – {until}: {stay.branch_code} {stay.branch_name}")
