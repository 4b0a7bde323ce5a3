"""`jifen results verify`: `ledger verify`'s cousin for acting on results. Recomputes
every banding run from the ledger's summary, every frozen appraisal sheet from its
inputs (and its digest), and every published branch stars list from the stored
indicators, scores and vetoes; names each difference and exits 1 on any."""

from __future__ import annotations

import click

from service.cli.common import cli_database, load_rulebook
from service.kernel.i18n import terminal_gettext as _


@click.group("results")
def results() -> None:
    """Red and yellow lists, appraisals and branch ratings."""


@results.command("verify")
def results_verify() -> None:
    """Recompute bands, frozen appraisals and published branch stars; exit 1 on any
    difference."""
    from sqlalchemy import func, select

    from service.assessment.appraisal_lists import verify_appraisals
    from service.assessment.bands import verify_bands
    from service.assessment.rating import verify_ratings
    from service.persistence.assessment import (
        Appraisal,
        AppraisalStatus,
        BandRun,
        RatingRound,
        RoundStatus,
    )

    rulebook = load_rulebook()
    with cli_database().transaction(write=False) as session:
        problems = [
            *verify_bands(session, rulebook),
            *verify_appraisals(session, rulebook),
            *verify_ratings(session, rulebook),
        ]
        counts = {
            "runs": session.scalar(select(func.count()).select_from(BandRun)) or 0,
            "appraisals": session.scalar(
                select(func.count())
                .select_from(Appraisal)
                .where(Appraisal.status == AppraisalStatus.APPROVED)
            )
            or 0,
            "rounds": session.scalar(
                select(func.count())
                .select_from(RatingRound)
                .where(RatingRound.status == RoundStatus.PUBLISHED)
            )
            or 0,
        }
    for problem in problems:
        click.echo(problem)
    if problems:
        raise SystemExit(1)
    click.echo(
        _(
            "OK: %(runs)d banding runs, %(appraisals)d frozen appraisals and %(rounds)d "
            "published rating rounds match their recomputation"
        )
        % counts
    )
