"""`jifen ledger verify` and `jifen ledger rescore`: recompute every number from scratch
and compare; bring the ledger in line with new rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

from service.cli.common import (
    cli_database,
    console,
    load_rulebook,
    signed,
)
from service.kernel.i18n import terminal_gettext as _
from service.kernel.i18n import terminal_ngettext as ngettext

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from service.ledger.verify import VerifyReport


@click.group()
def ledger() -> None:
    """The points ledger: verify it, rescore it after a rules change."""


@ledger.command("verify")
def ledger_verify() -> None:
    """Recompute every member-year from scratch and compare with the ledger and the
    summary table. Prints every difference; exit code 1 when there is any."""
    from service.ledger.verify import verify_ledger

    rulebook = load_rulebook()
    with cli_database().transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
    for difference in report.differences:
        click.echo(difference.describe())
    click.echo(verify_summary(report))
    if not report.ok:
        from service.ledger.verify import REMEDY_LABELS

        count = len(report.differences)
        failed = ngettext("FAILED: %(count)d difference", "FAILED: %(count)d differences", count)
        click.echo(failed % {"count": count}, err=True)
        for remedy in report.remedies:
            click.echo(_("remedy: %(remedy)s") % {"remedy": _(REMEDY_LABELS[remedy])}, err=True)
        raise SystemExit(1)
    click.echo(_("OK: the summary table and the ledger agree with a fresh scoring"))


def verify_summary(report: VerifyReport) -> str:
    rows = report.ledger_lines + report.summary_rows
    rate = rows / report.seconds if report.seconds > 0 else float(rows)
    return _(
        "checked %(member_years)s member-years (%(activities)s activities), "
        "%(ledger_lines)s ledger lines and %(summary_rows)s summary rows "
        "in %(seconds)s s (%(rate)s rows/s)"
    ) % {
        "member_years": report.member_years,
        "activities": report.activities,
        "ledger_lines": report.ledger_lines,
        "summary_rows": report.summary_rows,
        "seconds": f"{report.seconds:.2f}",
        "rate": f"{rate:,.0f}",
    }


@ledger.command("rebuild-totals")
def ledger_rebuild_totals() -> None:
    """Rebuild the derived tables from the ledger and the rosters: the summary rows of
    open months and the live board totals. Never writes a ledger line or a published
    board. The remedy `jifen ledger verify` names for summary and totals differences."""
    from service.ledger.repair import rebuild_derived

    with cli_database().transaction() as session:
        result = rebuild_derived(session)
    click.echo(
        _(
            "rebuilt %(summary_rows)s summary rows of %(open_months)s open months and "
            "%(board_rows)s board total rows from the ledger and the rosters"
        )
        % {
            "summary_rows": result.summary_rows,
            "open_months": result.open_months,
            "board_rows": result.board_rows,
        }
    )
    if result.frozen_months:
        click.echo(
            _("published months left unchanged: %(months)s")
            % {"months": ", ".join(result.frozen_months)}
        )
    click.echo(_("run 'jifen ledger verify' to check"))


@ledger.command("rescore")
@click.option(
    "--year",
    "years",
    multiple=True,
    type=click.IntRange(2000, 2100),
    help="Only this year (repeatable). Default: every year with activity.",
)
def ledger_rescore(years: tuple[int, ...]) -> None:
    """Bring the ledger in line with the rules now in the rules directory.

    Run it after adding a new ruleset file: activities whose points change get a
    correcting line (kind "rescore"); nothing is edited or deleted. Running it again
    appends nothing.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from service.ledger.preview import rescore_ledger
    from service.persistence.types import utcnow

    rulebook = load_rulebook()
    now = utcnow()
    database = cli_database()
    with Progress(
        TextColumn(_("rescoring")),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(_("member-years")),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("rescore", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        with database.transaction() as session:
            result = rescore_ledger(
                session, rulebook, years=years or None, now=now, progress=advance
            )
    with database.transaction(write=False) as session:
        appended = _lines_written_at(session, now)
    for line in appended[:_SHOWN_LINES]:
        click.echo(line)
    if len(appended) > _SHOWN_LINES:
        more = len(appended) - _SHOWN_LINES
        click.echo(
            ngettext("... and %(count)d more line", "... and %(count)d more lines", more)
            % {"count": more}
        )
    with database.transaction(write=False) as session:
        from service.publication.state import frozen_months

        frozen = sorted(frozen_months(session))
    if frozen:
        click.echo(_("published months left unchanged: %(months)s") % {"months": ", ".join(frozen)})
    rescored = ngettext(
        "rescored %(member_years)s member-years: appended %(count)d ledger line, "
        "net change %(change)s points",
        "rescored %(member_years)s member-years: appended %(count)d ledger lines, "
        "net change %(change)s points",
        result.lines,
    )
    click.echo(
        rescored
        % {
            "member_years": result.member_years,
            "count": result.lines,
            "change": signed(result.points),
        }
    )


_SHOWN_LINES = 50


def _lines_written_at(session: Session, now: datetime) -> list[str]:
    from sqlalchemy import select

    from service.persistence.models import LedgerLine, Member

    rows = session.execute(
        select(
            Member.code,
            Member.name,
            LedgerLine.period,
            LedgerLine.activity_key,
            LedgerLine.rule_id,
            LedgerLine.ruleset_version,
            LedgerLine.kind,
            LedgerLine.points,
        )
        .join(Member, Member.id == LedgerLine.member_id)
        .where(LedgerLine.created_at == now)
        .order_by(Member.code, LedgerLine.period, LedgerLine.id)
    )
    line = _(
        "%(code)s %(name)s, %(period)s, %(activity)s: %(rule)s "
        "(rules %(version)s) %(kind)s %(points)s"
    )
    return [
        line
        % {
            "code": row.code,
            "name": row.name,
            "period": row.period,
            "activity": row.activity_key,
            "rule": row.rule_id,
            "version": row.ruleset_version,
            "kind": row.kind.value,
            "points": signed(row.points),
        }
        for row in rows
    ]
