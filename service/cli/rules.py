"""`jifen rules check` and `jifen rules preview`: the scoring rule files, and what a new
ruleset would change in open months.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from service.cli.common import (
    cli_database,
    cli_settings,
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
