"""`jifen publish`: monthly boards for public notice (公示), their digest chain,
corrections and objections.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from service.cli.common import (
    BY_OPTION,
    cli_database,
    console,
    domain_failure,
    load_rulebook,
    month_argument,
    office_principal,
    rank_text,
    town_time,
)
from service.kernel.i18n import N_
from service.kernel.i18n import terminal_gettext as _
from service.kernel.i18n import terminal_ngettext as ngettext

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class _PublishGroup(click.Group):
    """``jifen publish YYYY-MM`` publishes a month; the other words are subcommands."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        from service.kernel.periods import PERIOD_PATTERN

        if args and PERIOD_PATTERN.fullmatch(args[0]):
            command = self.get_command(ctx, "month")
            assert command is not None
            return "month", command, args
        return super().resolve_command(ctx, args)


@click.group(cls=_PublishGroup)
def publish() -> None:
    """Monthly boards for public notice (公示).

    \b
    jifen publish YYYY-MM [--yes]               publish a month (--yes: even one where
                                                nothing counts)
    jifen publish list                          every publication and the month's state
    jifen publish verify                        check the digest chain
    jifen publish correct YYYY-MM --reason TEXT  open a correction of a published month
    jifen publish correction YYYY-MM            publish the correction in progress
    """


@publish.command("month", hidden=True)
@click.argument("period", metavar="YYYY-MM", callback=month_argument)
@click.option(
    "--yes",
    "confirm_empty",
    is_flag=True,
    help="Publish even if nothing counts in the month (every member at 0 points).",
)
@BY_OPTION
def publish_month_command(period: str, confirm_empty: bool, by_username: str | None) -> None:
    """Publish the boards of YYYY-MM (refused while entries of it are pending, and for a
    month in which nothing counts unless --yes)."""
    from service.kernel.errors import DomainError
    from service.persistence.types import utcnow
    from service.publication.publish import publish_month
    from service.publication.state import EmptyMonth

    rulebook = load_rulebook()
    try:
        status = _("publishing %(period)s") % {"period": period}
        with console.status(status), cli_database().transaction() as session:
            principal = office_principal(session, by_username)
            publication = publish_month(
                session, principal, rulebook, period, now=utcnow(), confirm_empty=confirm_empty
            )
            summary = _publication_summary(session, publication)
    except EmptyMonth as exc:
        failure = domain_failure(exc)
        hint = _("nothing was published; to publish it anyway: jifen publish %(period)s --yes")
        click.echo(hint % {"period": period}, err=True)
        raise failure from exc
    except DomainError as exc:
        raise domain_failure(exc) from exc
    click.echo(summary)


def _publication_summary(session: Session, publication: Any) -> str:
    from sqlalchemy import func, select

    from service.persistence.models import PublishedBranchRow, PublishedMemberRow

    members = session.scalar(
        select(func.count()).where(PublishedMemberRow.publication_id == publication.id)
    )
    branches = session.scalar(
        select(func.count()).where(PublishedBranchRow.publication_id == publication.id)
    )
    values = {
        "period": publication.period,
        "revision": publication.revision,
        "id": publication.id,
        "members": members,
        "branches": branches,
        "digest": publication.digest,
        "until": town_time(publication.window_ends_at),
    }
    lines = [
        _(
            "published %(period)s revision %(revision)s (publication %(id)s): "
            "%(members)s member lines, %(branches)s branch lines"
        ),
        _("digest %(digest)s"),
        _("objections are taken until %(until)s"),
    ]
    return "\n".join(line % values for line in lines)


@publish.command("verify")
def publish_verify() -> None:
    """Re-hash every published board and check the chain; exit 1 on any break."""
    from service.publication.chain import verify_chain

    with (
        console.status(_("checking the chain")),
        cli_database().transaction(write=False) as session,
    ):
        report = verify_chain(session)
    for item in report.breaks:
        click.echo(_("BROKEN: %(break)s") % {"break": item.describe()})
    if not report.ok:
        count = len(report.breaks)
        failed = ngettext(
            "FAILED: %(count)d break in the chain of %(publications)d publications",
            "FAILED: %(count)d breaks in the chain of %(publications)d publications",
            count,
        )
        click.echo(failed % {"count": count, "publications": report.publications}, err=True)
        raise SystemExit(1)
    click.echo(
        _("OK: %(publications)d publications; every digest and link holds")
        % {"publications": report.publications}
    )


@publish.command("list")
def publish_list() -> None:
    """Every publication, oldest first, with its month's state."""
    from service.persistence.types import utcnow
    from service.publication.overview import publication_list
    from service.publication.state import MonthState, month_state

    now = utcnow()
    with cli_database().transaction(write=False) as session:
        items = publication_list(session)
        states: dict[str, MonthState] = {
            item_period: month_state(session, item_period, now)
            for item_period in {item.period for item in items}
        }
    if not items:
        click.echo(_("nothing is published yet"))
        return
    for item in items:
        mark = "" if item.intact else "  " + _("BROKEN")
        reason = "  " + _("reason: %(reason)s") % {"reason": item.reason} if item.reason else ""
        line = _("%(id)s  %(period)s r%(revision)s  %(time)s  by %(by)s  [%(state)s]  %(digest)s")
        values = {
            "id": f"{item.publication_id:>5}",
            "period": item.period,
            "revision": item.revision,
            "time": town_time(item.published_at),
            "by": item.published_by or "-",
            "state": _(_MONTH_STATES[states[item.period].value]),
            "digest": item.digest[:16],
        }
        click.echo(line % values + mark + reason)


# The words ``jifen publish list`` shows for a month's state: in English the state's own
# name, as scripts read it.
_MONTH_STATES = {
    "open": N_("open"),
    "published": N_("published"),
    "correcting": N_("correcting"),
    "final": N_("final"),
}


@publish.command("correct")
@click.argument("period", metavar="YYYY-MM", callback=month_argument)
@click.option("--reason", required=True, help="Why the published month is corrected.")
@BY_OPTION
def publish_correct(period: str, reason: str, by_username: str | None) -> None:
    """Open a correction of a published month (within its notice window)."""
    from service.kernel.errors import DomainError
    from service.persistence.types import utcnow
    from service.publication.corrections import open_correction

    try:
        with cli_database().transaction() as session:
            principal = office_principal(session, by_username)
            open_correction(session, principal, period, reason, now=utcnow())
    except DomainError as exc:
        raise domain_failure(exc) from exc
    click.echo(
        _(
            "correction of %(period)s opened: entries, adjustments and suggestion steps "
            "dated in it may change; publish it with 'jifen publish correction %(period)s'"
        )
        % {"period": period}
    )


@publish.command("correction")
@click.argument("period", metavar="YYYY-MM", callback=month_argument)
@BY_OPTION
def publish_correction_command(period: str, by_username: str | None) -> None:
    """Publish the correction in progress as the month's next revision."""
    from service.kernel.errors import DomainError
    from service.persistence.types import utcnow
    from service.publication.corrections import publish_correction
    from service.publication.diff import diff_revisions

    rulebook = load_rulebook()
    try:
        with (
            console.status(_("publishing the correction of %(period)s") % {"period": period}),
            cli_database().transaction() as session,
        ):
            principal = office_principal(session, by_username)
            publication = publish_correction(session, principal, rulebook, period, now=utcnow())
            summary = _publication_summary(session, publication)
            diff = diff_revisions(session, period, publication.revision - 1, publication.revision)
    except DomainError as exc:
        raise domain_failure(exc) from exc
    click.echo(summary)
    click.echo(_("reason: %(reason)s") % {"reason": diff.reason})
    for change in diff.members:
        before = "-" if change.points_before is None else f"{change.points_before:.1f}"
        after = "-" if change.points_after is None else f"{change.points_after:.1f}"
        member_line = _(
            "%(code)s %(name)s: %(before)s -> %(after)s points, "
            "rank %(rank_before)s -> %(rank_after)s"
        )
        click.echo(
            "  "
            + member_line
            % {
                "code": change.member_code,
                "name": change.name,
                "before": before,
                "after": after,
                "rank_before": rank_text(change.rank_before),
                "rank_after": rank_text(change.rank_after),
            }
        )
    for b_change in diff.branches:
        before = "-" if b_change.total_before is None else f"{b_change.total_before:.1f}"
        after = "-" if b_change.total_after is None else f"{b_change.total_after:.1f}"
        branch_line = _("%(code)s %(name)s: total %(before)s -> %(after)s")
        values = {"code": b_change.code, "name": b_change.name, "before": before, "after": after}
        click.echo("  " + branch_line % values)


@publish.command("objections")
@click.argument("period", metavar="YYYY-MM", callback=month_argument)
@BY_OPTION
def publish_objections(period: str, by_username: str | None) -> None:
    """List the objections to a month's board, with their answers."""
    from service.kernel.errors import DomainError
    from service.publication.objections import month_objections

    try:
        with cli_database().transaction(write=False) as session:
            principal = office_principal(session, by_username)
            objections = month_objections(session, principal, period)
    except DomainError as exc:
        raise domain_failure(exc) from exc
    if not objections:
        click.echo(_("no objections to %(period)s") % {"period": period})
        return
    for item in objections:
        # The state stays the word --resolution takes (no_change, corrected) or "open".
        state = item.resolution.value if item.resolution else item.status.value
        line = _("#%(id)s  r%(revision)s  %(time)s  %(objector)s on %(line)s  [%(state)s]")
        values = {
            "id": item.id,
            "revision": item.revision,
            "time": town_time(item.created_at),
            "objector": item.objector,
            "line": item.line_label,
            "state": state,
        }
        click.echo(line % values)
        click.echo(f"    {item.text}")
        if item.answer:
            click.echo("    " + _("answer: %(answer)s") % {"answer": item.answer})


@publish.command("answer")
@click.argument("objection_id", metavar="OBJECTION", type=int)
@click.option(
    "--resolution",
    type=click.Choice(["no_change", "corrected"]),
    required=True,
    help="no_change: the line stands; corrected: a published correction changed it.",
)
@click.option("--answer", "answer", required=True, help="The office's answer to the member.")
@BY_OPTION
def publish_answer(
    objection_id: int, resolution: str, answer: str, by_username: str | None
) -> None:
    """Answer an objection and resolve it (see 'jifen publish objections YYYY-MM')."""
    from service.kernel.errors import DomainError
    from service.persistence.types import utcnow
    from service.publication.objections import resolve_objection

    try:
        with cli_database().transaction() as session:
            principal = office_principal(session, by_username)
            resolve_objection(session, principal, objection_id, answer, resolution, now=utcnow())
    except DomainError as exc:
        raise domain_failure(exc) from exc
    click.echo(
        _("objection #%(id)s answered and resolved: %(resolution)s")
        % {"id": objection_id, "resolution": resolution}
    )
