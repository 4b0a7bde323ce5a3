"""The ``jifen`` command for operators."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from service.database import open_database
from service.kernel.config import get_settings
from service.kernel.i18n import N_, terminal_render
from service.kernel.i18n import terminal_gettext as _
from service.kernel.i18n import terminal_ngettext as ngettext
from service.persistence.db import Database
from service.scoring.rules import Rulebook, RulesError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from service.ledger.preview import Preview, PreviewLine
    from service.ledger.verify import VerifyReport

console = Console(stderr=True)


def _database() -> Database:
    return open_database(get_settings().database_url)


def _print_problems(problems: list[str]) -> None:
    # Plain echo, not rich: a problem line names a path and must never be wrapped.
    for problem in problems:
        click.echo(problem, err=True)


def _rulebook(*, serving: bool = False) -> Rulebook:
    """The rulebook of the configured rules directory; on problems, print each with its
    file, rule and field and exit 1."""
    rules_dir = get_settings().rules_dir
    try:
        return Rulebook.from_directory(rules_dir)
    except RulesError as exc:
        if serving:
            text = _(
                "error: the scoring rules in %(directory)s are invalid; the server does not start:"
            )
        else:
            text = _("error: the scoring rules in %(directory)s are invalid:")
        click.echo(text % {"directory": rules_dir}, err=True)
        _print_problems(exc.problems)
        raise SystemExit(1) from exc


def _error_markup(text: str) -> str:
    """A problem for the rich console: "error" in red, then what is wrong."""
    label = _("error")
    return f"[red]{label}[/red] {text}"


@click.group()
def main() -> None:
    """Jifen (积分): points service for party members."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from service.persistence.migrate import current_revision, upgrade

    database = _database()
    upgrade(database.engine, revision)
    console.print(
        _("database at revision %(revision)s") % {"revision": current_revision(database.engine)}
    )


@main.group()
def seed() -> None:
    """Load data from seeds/."""


@seed.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has branches.")
@click.option(
    "--until",
    "until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Last day of demo activity (default: today in the town's timezone).",
)
def seed_demo(if_empty: bool, until: Any) -> None:
    """Load the demo town (refused when JIFEN_ENV=production)."""
    from service.kernel.periods import town_today
    from service.ops.seed.load import load_demo_town
    from service.ops.seed.state import DemoRefused
    from service.ops.stats import is_empty
    from service.persistence.types import utcnow

    settings = get_settings()
    database = _database()
    rulebook = _rulebook()
    if settings.env == "production":
        # Said first: in production the reason is production, whatever the database holds.
        console.print(
            _error_markup(_("the demo town is not loaded in production (JIFEN_ENV=production)"))
        )
        raise SystemExit(1)
    with database.transaction() as session:
        if not is_empty(session):
            if if_empty:
                console.print(_("database already holds a town; demo seed skipped"))
                return
            console.print(_error_markup(_("the database is not empty; seed an empty database")))
            raise SystemExit(1)
    last_day: date = until.date() if until else town_today(utcnow(), settings.timezone)
    try:
        with database.transaction() as session:
            summary = load_demo_town(
                session,
                rulebook,
                settings.seeds_dir,
                until=last_day,
                env=settings.env,
                console=console,
            )
    except DemoRefused as exc:
        console.print(_error_markup(str(exc)))
        raise SystemExit(1) from exc
    console.print(summary)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(as_json: bool) -> None:
    """Counts of branches, organisations, members and entries."""
    from service.ops.stats import town_stats

    with _database().transaction(write=False) as session:
        data = town_stats(session)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key, value in data.items():
        click.echo(f"{key}: {value}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web application."""
    import uvicorn

    _rulebook(serving=True)  # refuse broken rules, with reasons
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,
    )


@main.group()
def rules() -> None:
    """Scoring rule files: check them, preview a new version."""


@rules.command("check")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=True, path_type=Path))
def rules_check(path: Path | None) -> None:
    """Validate a rule file or a directory of them (default: the rules directory).

    Every problem is printed as "file: rule 'id' field 'name': what is wrong"; the exit
    code is 1 when there is any problem.
    """
    from service.scoring.rules import load_ruleset

    target = path or get_settings().rules_dir
    try:
        if target.is_dir():
            rulesets = list(Rulebook.from_directory(target).rulesets)
        else:
            rulesets = [load_ruleset(target)]
    except RulesError as exc:
        _print_problems(exc.problems)
        count = len(exc.problems)
        summary = ngettext("%(target)s: %(count)d problem", "%(target)s: %(count)d problems", count)
        click.echo(summary % {"target": target, "count": count}, err=True)
        raise SystemExit(1) from exc
    rule_count = sum(len(ruleset.rules) for ruleset in rulesets)
    versions = ", ".join(
        _("%(version)s from %(date)s") % {"version": r.version, "date": r.effective_from}
        for r in rulesets
    )
    checked = ngettext(
        "%(target)s: %(count)d ruleset (%(versions)s), %(rules)d rules, OK",
        "%(target)s: %(count)d rulesets (%(versions)s), %(rules)d rules, OK",
        len(rulesets),
    )
    click.echo(
        checked
        % {"target": target, "count": len(rulesets), "versions": versions, "rules": rule_count}
    )


def _not_a_month(value: str) -> click.BadParameter:
    return click.BadParameter(
        _("'%(value)s' is not a month; write YYYY-MM, e.g. 2026-03") % {"value": value}
    )


def _period(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    from service.kernel.periods import PERIOD_PATTERN

    for value in values:
        if not PERIOD_PATTERN.fullmatch(value):
            raise _not_a_month(value)
    return sorted(set(values))


@rules.command("preview")
@click.argument(
    "candidate_path",
    metavar="NEW.toml",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--month",
    "months",
    multiple=True,
    callback=_period,
    metavar="YYYY-MM",
    help="Only this month (repeatable). Default: every open month the candidate affects.",
)
def rules_preview(candidate_path: Path, months: list[str]) -> None:
    """Show what adopting the ruleset NEW.toml would change in open months.

    Reads only: nothing is written, and published months are never changed.
    """
    from service.kernel.periods import town_today
    from service.ledger.preview import preview_ruleset
    from service.persistence.types import utcnow
    from service.scoring.rules import load_ruleset

    settings = get_settings()
    rulebook = _rulebook()
    try:
        candidate = load_ruleset(candidate_path)
        with _database().transaction(write=False) as session:
            result = preview_ruleset(
                session,
                rulebook,
                candidate,
                months=months or None,
                today=town_today(utcnow(), settings.timezone),
            )
    except RulesError as exc:
        _print_problems(exc.problems)
        raise SystemExit(1) from exc
    _print_preview(result)


def _rank(rank: int | None) -> str:
    return "-" if rank is None else str(rank)


def _signed(value: Decimal) -> str:
    return f"{value:+.1f}"


def _print_preview(result: Preview) -> None:
    from rich import box
    from rich.table import Table

    out = _stdout_console()
    out.print(
        _(
            "Candidate ruleset %(version)s, effective from %(date)s, "
            "compared with the rules in force."
        )
        % {"version": result.version, "date": result.effective_from}
    )
    if result.excluded:
        out.print(
            _("Published months left unchanged: %(months)s")
            % {"months": ", ".join(result.excluded)}
        )
    if not result.months:
        out.print(_("No open month with points to compare."))
        return
    lines_by_month: dict[str, list[PreviewLine]] = {}
    for line in result.lines:
        lines_by_month.setdefault(line.period, []).append(line)
    for total in result.month_totals:
        out.print()
        changed = lines_by_month.get(total.period, [])
        month_line = ngettext(
            "%(period)s: total %(before)s -> %(after)s (%(change)s), "
            "%(count)d member with other points or town rank",
            "%(period)s: total %(before)s -> %(after)s (%(change)s), "
            "%(count)d members with other points or town rank",
            total.members_affected,
        )
        out.print(
            month_line
            % {
                "period": total.period,
                "before": f"{total.points_before:.1f}",
                "after": f"{total.points_after:.1f}",
                "change": _signed(total.points_after - total.points_before),
                "count": total.members_affected,
            }
        )
        if not changed:
            continue
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column(_("Member"), no_wrap=True)
        table.add_column(_("Name"), no_wrap=True)
        table.add_column(_("Branch"), overflow="ellipsis", max_width=30, no_wrap=True)
        table.add_column(_("Points"), justify="right", no_wrap=True)
        table.add_column(_("Change"), justify="right", no_wrap=True)
        table.add_column(_("Town rank"), justify="right", no_wrap=True)
        for line in changed:
            table.add_row(
                line.member_code,
                _("%(name)s (exempt)") % {"name": line.name} if line.exempt else line.name,
                line.branch_name,
                f"{line.points_before:.1f} -> {line.points_after:.1f}",
                _signed(line.change),
                f"{_rank(line.rank_before)} -> {_rank(line.rank_after)}",
            )
        out.print(table)
    out.print()
    members = ngettext("%(count)d member", "%(count)d members", result.members_affected)
    months = ngettext("%(count)d month", "%(count)d months", len(result.months))
    out.print(
        _(
            "In all: %(members)s affected in %(months)s; points %(before)s -> %(after)s "
            "(%(change)s). Nothing was written."
        )
        % {
            "members": members % {"count": result.members_affected},
            "months": months % {"count": len(result.months)},
            "before": f"{result.points_before:.1f}",
            "after": f"{result.points_after:.1f}",
            "change": _signed(result.points_after - result.points_before),
        }
    )


def _stdout_console() -> Console:
    # Piped output gets a fixed, generous width so tables are never squeezed or wrapped.
    interactive = sys.stdout.isatty()
    return Console(
        highlight=False,
        width=None if interactive else 120,
        no_color=not interactive,
        soft_wrap=not interactive,
    )


@main.group()
def ledger() -> None:
    """The points ledger: verify it, rescore it after a rules change."""


@ledger.command("verify")
def ledger_verify() -> None:
    """Recompute every member-year from scratch and compare with the ledger and the
    summary table. Prints every difference; exit code 1 when there is any."""
    from service.ledger.verify import verify_ledger

    rulebook = _rulebook()
    with _database().transaction(write=False) as session:
        report = verify_ledger(session, rulebook)
    for difference in report.differences:
        click.echo(difference.describe())
    click.echo(verify_summary(report))
    if not report.ok:
        count = len(report.differences)
        failed = ngettext("FAILED: %(count)d difference", "FAILED: %(count)d differences", count)
        click.echo(failed % {"count": count}, err=True)
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

    rulebook = _rulebook()
    now = utcnow()
    database = _database()
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
            "change": _signed(result.points),
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
            "points": _signed(row.points),
        }
        for row in rows
    ]


# --- publication (公示) ------------------------------------------------------------------


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


@main.group(cls=_PublishGroup)
def publish() -> None:
    """Monthly boards for public notice (公示).

    \b
    jifen publish YYYY-MM                       publish a month
    jifen publish list                          every publication and the month's state
    jifen publish verify                        check the digest chain
    jifen publish correct YYYY-MM --reason TEXT  open a correction of a published month
    jifen publish correction YYYY-MM            publish the correction in progress
    """


def _month_argument(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from service.kernel.periods import PERIOD_PATTERN

    if not PERIOD_PATTERN.fullmatch(value):
        raise _not_a_month(value)
    return value


_BY_OPTION = click.option(
    "--by",
    "username",
    default=None,
    help="The office account acting (default: the only admin account).",
)


def _office_principal(session: Session, username: str | None) -> Any:
    from sqlalchemy import select

    from service.accounts.principal import load_principal
    from service.persistence.models import Account, Role, RoleGrant

    if username:
        account_id = session.scalar(select(Account.id).where(Account.username == username))
        if account_id is None:
            console.print(_error_markup(_("no account '%(username)s'") % {"username": username}))
            raise SystemExit(1)
    else:
        admins = list(
            session.scalars(
                select(RoleGrant.account_id).where(RoleGrant.role == Role.ADMIN).distinct()
            )
        )
        if len(admins) != 1:
            console.print(
                _error_markup(
                    _(
                        "say which office account acts: --by USERNAME "
                        "(%(count)d admin accounts exist)"
                    )
                    % {"count": len(admins)}
                )
            )
            raise SystemExit(1)
        account_id = admins[0]
    principal = load_principal(session, account_id)
    if principal is None or not principal.is_admin:
        console.print(
            _error_markup(
                _("'%(username)s' is not an active office (admin) account") % {"username": username}
            )
        )
        raise SystemExit(1)
    return principal


def _town_time(moment: datetime) -> str:
    from zoneinfo import ZoneInfo

    zone = get_settings().timezone
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} ({zone})"


def _domain_failure(exc: Exception) -> SystemExit:
    from service.kernel.errors import DomainError, InvalidInput
    from service.publication.state import PendingEntries

    if isinstance(exc, PendingEntries):
        click.echo(_error_line(terminal_render(exc.message)), err=True)
        for branch in exc.branches:
            pending = _("%(branch)s: %(count)d pending")
            click.echo("  " + pending % {"branch": branch.name, "count": branch.count}, err=True)
    elif isinstance(exc, InvalidInput):
        for field_name, message in exc.errors.items():
            text = f"{field_name}: {terminal_render(message)}"
            click.echo(_error_line(text), err=True)
    elif isinstance(exc, DomainError):
        click.echo(_error_line(terminal_render(exc.message)), err=True)
    return SystemExit(1)


def _error_line(text: str) -> str:
    """A problem for plain output: "error: " and what is wrong."""
    return _("error: %(message)s") % {"message": text}


@publish.command("month", hidden=True)
@click.argument("period", metavar="YYYY-MM", callback=_month_argument)
@_BY_OPTION
def publish_month_command(period: str, username: str | None) -> None:
    """Publish the boards of YYYY-MM (refused while entries of it are pending)."""
    from service.kernel.errors import DomainError
    from service.persistence.types import utcnow
    from service.publication.publish import publish_month

    rulebook = _rulebook()
    try:
        status = _("publishing %(period)s") % {"period": period}
        with console.status(status), _database().transaction() as session:
            principal = _office_principal(session, username)
            publication = publish_month(session, principal, rulebook, period, now=utcnow())
            summary = _publication_summary(session, publication)
    except DomainError as exc:
        raise _domain_failure(exc) from exc
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
        "until": _town_time(publication.window_ends_at),
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
        _database().transaction(write=False) as session,
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
    with _database().transaction(write=False) as session:
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
            "time": _town_time(item.published_at),
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
@click.argument("period", metavar="YYYY-MM", callback=_month_argument)
@click.option("--reason", required=True, help="Why the published month is corrected.")
@_BY_OPTION
def publish_correct(period: str, reason: str, username: str | None) -> None:
    """Open a correction of a published month (within its notice window)."""
    from service.kernel.errors import DomainError
    from service.persistence.types import utcnow
    from service.publication.corrections import open_correction

    try:
        with _database().transaction() as session:
            principal = _office_principal(session, username)
            open_correction(session, principal, period, reason, now=utcnow())
    except DomainError as exc:
        raise _domain_failure(exc) from exc
    click.echo(
        _(
            "correction of %(period)s opened: entries, adjustments and suggestion steps "
            "dated in it may change; publish it with 'jifen publish correction %(period)s'"
        )
        % {"period": period}
    )


@publish.command("correction")
@click.argument("period", metavar="YYYY-MM", callback=_month_argument)
@_BY_OPTION
def publish_correction_command(period: str, username: str | None) -> None:
    """Publish the correction in progress as the month's next revision."""
    from service.kernel.errors import DomainError
    from service.persistence.types import utcnow
    from service.publication.corrections import publish_correction
    from service.publication.diff import diff_revisions

    rulebook = _rulebook()
    try:
        with (
            console.status(_("publishing the correction of %(period)s") % {"period": period}),
            _database().transaction() as session,
        ):
            principal = _office_principal(session, username)
            publication = publish_correction(session, principal, rulebook, period, now=utcnow())
            summary = _publication_summary(session, publication)
            diff = diff_revisions(session, period, publication.revision - 1, publication.revision)
    except DomainError as exc:
        raise _domain_failure(exc) from exc
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
                "rank_before": _rank(change.rank_before),
                "rank_after": _rank(change.rank_after),
            }
        )
    for b_change in diff.branches:
        before = "-" if b_change.total_before is None else f"{b_change.total_before:.1f}"
        after = "-" if b_change.total_after is None else f"{b_change.total_after:.1f}"
        branch_line = _("%(code)s %(name)s: total %(before)s -> %(after)s")
        values = {"code": b_change.code, "name": b_change.name, "before": before, "after": after}
        click.echo("  " + branch_line % values)


@publish.command("objections")
@click.argument("period", metavar="YYYY-MM", callback=_month_argument)
@_BY_OPTION
def publish_objections(period: str, username: str | None) -> None:
    """List the objections to a month's board, with their answers."""
    from service.kernel.errors import DomainError
    from service.publication.objections import month_objections

    try:
        with _database().transaction(write=False) as session:
            principal = _office_principal(session, username)
            objections = month_objections(session, principal, period)
    except DomainError as exc:
        raise _domain_failure(exc) from exc
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
            "time": _town_time(item.created_at),
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
@_BY_OPTION
def publish_answer(objection_id: int, resolution: str, answer: str, username: str | None) -> None:
    """Answer an objection and resolve it (see 'jifen publish objections YYYY-MM')."""
    from service.kernel.errors import DomainError
    from service.persistence.types import utcnow
    from service.publication.objections import resolve_objection

    try:
        with _database().transaction() as session:
            principal = _office_principal(session, username)
            resolve_objection(session, principal, objection_id, answer, resolution, now=utcnow())
    except DomainError as exc:
        raise _domain_failure(exc) from exc
    click.echo(
        _("objection #%(id)s answered and resolved: %(resolution)s")
        % {"id": objection_id, "resolution": resolution}
    )


# Commands of the people-administration features live in their own modules; importing
# them here attaches them to ``main``. At the end of the module, so ``main`` exists.
from service.cli import audit as cli_audit  # noqa: E402, F401
from service.cli import backup as cli_backup  # noqa: E402, F401
from service.cli import org as cli_org  # noqa: E402, F401
from service.cli import roster as cli_roster  # noqa: E402, F401
from service.cli import tokens as cli_tokens  # noqa: E402, F401
