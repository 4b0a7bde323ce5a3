"""`jifen bands`: band an ended period into red and yellow lists (红黄榜), opening the
warning cases (预警) of its yellow list, through the same service as the office's page;
and check every run against the ledger's summary."""

from __future__ import annotations

import click

from service.cli.common import (
    BY_OPTION,
    cli_database,
    console,
    domain_failure,
    load_rulebook,
    office_principal,
)
from service.kernel.i18n import terminal_gettext as _


@click.group("bands")
def bands() -> None:
    """Red and yellow lists and the warning cases they open."""


@bands.command("run")
@click.argument("period", metavar="PERIOD")
@BY_OPTION
def bands_run(period: str, by_username: str | None) -> None:
    """Band PERIOD (a quarter like 2026-Q3, or a month like 2026-09 when the rules band
    months) once it has ended; a period is banded once."""
    from sqlalchemy import func, select

    from service.assessment.bands import run_banding
    from service.kernel.errors import DomainError
    from service.persistence.assessment import Band, BandLine, WarningCase
    from service.persistence.types import utcnow

    rulebook = load_rulebook()
    try:
        with (
            console.status(_("banding %(period)s") % {"period": period}),
            cli_database().transaction() as session,
        ):
            principal = office_principal(session, by_username)
            run = run_banding(session, principal, rulebook, period, utcnow())
            counts = {
                band: count
                for band, count in session.execute(
                    select(BandLine.band, func.count())
                    .where(BandLine.run_id == run.id)
                    .group_by(BandLine.band)
                )
            }
            cases = session.scalar(
                select(func.count())
                .select_from(WarningCase)
                .join(BandLine, BandLine.id == WarningCase.band_line_id)
                .where(BandLine.run_id == run.id)
            )
            published = run.publication_id is not None
    except DomainError as exc:
        raise domain_failure(exc) from exc
    click.echo(
        _(
            "%(period)s banded: %(members)d members, %(red)d on the red list, %(yellow)d on "
            "the yellow list, %(cases)d warning cases opened"
        )
        % {
            "period": run.period,
            "members": run.members_banded,
            "red": counts.get(Band.RED, 0),
            "yellow": counts.get(Band.YELLOW, 0),
            "cases": cases or 0,
        }
    )
    if published:
        click.echo(_("the red list is published"))


@bands.command("verify")
def bands_verify() -> None:
    """Recompute every banding from the ledger's summary; exit 1 on any difference."""
    from service.assessment.bands import verify_bands

    rulebook = load_rulebook()
    with cli_database().transaction(write=False) as session:
        problems = verify_bands(session, rulebook)
    for problem in problems:
        click.echo(problem)
    if problems:
        raise SystemExit(1)
    click.echo(_("OK: every banding matches the ledger"))
