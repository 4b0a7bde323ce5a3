"""`jifen rules check`, `jifen rules preview` and `jifen rules adopt`: the scoring rule
files and the versions adopted on the web, what a new ruleset would change in open
months, and adopting one (the service the web page uses).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from service.cli.common import (
    BY_OPTION,
    acting_office,
    cli_database,
    cli_settings,
    domain_failure,
    load_rulebook,
    not_a_month,
    print_problems,
    rank_text,
    signed,
    stdout_console,
    with_adopted,
)
from service.kernel.i18n import terminal_gettext as _
from service.kernel.i18n import terminal_ngettext as ngettext
from service.scoring.rules import Rulebook, RulesError

if TYPE_CHECKING:
    from service.ledger.preview import Preview, PreviewLine


@click.group()
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

    rules_dir = cli_settings().rules_dir
    target = path or rules_dir
    try:
        if target.is_dir():
            rulebook = Rulebook.from_directory(target)
            # The rules directory in force also counts the versions adopted on the web.
            if target.resolve() == rules_dir.resolve():
                rulebook = with_adopted(rulebook)
            rulesets = list(rulebook.rulesets)
        else:
            rulesets = [load_ruleset(target)]
    except RulesError as exc:
        print_problems(exc.problems)
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


def _period(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    from service.kernel.periods import PERIOD_PATTERN

    for value in values:
        if not PERIOD_PATTERN.fullmatch(value):
            raise not_a_month(value)
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

    settings = cli_settings()
    rulebook = load_rulebook()
    try:
        candidate = load_ruleset(candidate_path)
        with cli_database().transaction(write=False) as session:
            result = preview_ruleset(
                session,
                rulebook,
                candidate,
                months=months or None,
                today=town_today(utcnow(), settings.timezone),
            )
    except RulesError as exc:
        print_problems(exc.problems)
        raise SystemExit(1) from exc
    _print_preview(result)


@rules.command("adopt")
@click.argument(
    "candidate_path",
    metavar="NEW.toml",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--reason", required=True, help="Why this version is adopted (kept with it).")
@BY_OPTION
def rules_adopt(candidate_path: Path, reason: str, by_username: str | None) -> None:
    """Adopt the ruleset NEW.toml as a new version, stored in the database exactly as
    the file is, like adopting it on the office's rules page.

    Refused when its version or effective date is taken, or when it would take effect
    in or before a published month. The open months are rescored by it at once.
    """
    from service.kernel.errors import DomainError
    from service.kernel.periods import town_today
    from service.ledger.adoption import adopt_ruleset
    from service.persistence.types import utcnow

    settings = cli_settings()
    try:
        files = Rulebook.from_directory(settings.rules_dir)
        try:
            text = candidate_path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesError([f"{candidate_path}: cannot be read: {exc}"]) from exc
        with cli_database().transaction() as session:
            principal = acting_office(session, by_username)
            adoption = adopt_ruleset(
                session,
                principal,
                files,
                text,
                reason=reason,
                now=utcnow(),
                today=town_today(utcnow(), settings.timezone),
                source=str(candidate_path),
            )
    except RulesError as exc:
        print_problems(exc.problems)
        raise SystemExit(1) from exc
    except DomainError as exc:
        raise domain_failure(exc) from exc
    click.echo(
        _("Adopted version %(version)s, effective from %(date)s (SHA-256 %(digest)s).")
        % {"version": adoption.version, "date": adoption.effective_from, "digest": adoption.digest}
    )
    if adoption.rescore is not None:
        lines = ngettext(
            "%(count)d ledger line appended to bring the open months in line.",
            "%(count)d ledger lines appended to bring the open months in line.",
            adoption.rescore.lines,
        )
        click.echo(lines % {"count": adoption.rescore.lines})


def _print_preview(result: Preview) -> None:
    from rich import box
    from rich.table import Table

    out = stdout_console()
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
                "change": signed(total.points_after - total.points_before),
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
                signed(line.change),
                f"{rank_text(line.rank_before)} -> {rank_text(line.rank_after)}",
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
            "change": signed(result.points_after - result.points_before),
        }
    )
