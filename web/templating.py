"""The Jinja2 environment: autoescaping, gettext and the display helpers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from service.kernel.i18n import ENTRY_STATUS_LABELS
from service.scoring.rules import Rulebook
from web import i18n

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def status_label(status: str) -> str:
    return i18n.gettext(ENTRY_STATUS_LABELS[str(status)])


def build_environment(rulebook_now: Callable[[], Rulebook]) -> Environment:
    """``rulebook_now`` gives the rulebook in force (it changes when a version is
    adopted on the web)."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        # A self-built Environment does not escape unless told to (STYLE.md).
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True
    )

    def rule_name(rule_id: str, version: str | None = None) -> str:
        rulebook = rulebook_now()
        ruleset = rulebook.version(version) if version else None
        for candidate in ([ruleset] if ruleset else []) + list(reversed(rulebook.rulesets)):
            rule = candidate.rule(rule_id)
            if rule is not None:
                return rule.name(i18n.current_locale())
        return rule_id

    environment.globals.update(
        rule_name=rule_name,
        status_label=status_label,
        current_locale=i18n.current_locale,
        locales=i18n.LOCALES,
    )
    environment.filters.update(
        date=i18n.format_date,
        datetime=i18n.format_datetime,
        points=i18n.format_points,
        number=i18n.format_number,
        period=i18n.format_period,
    )
    return environment


def template_config(
    rulebook_now: Callable[[], Rulebook],
) -> TemplateConfig[JinjaTemplateEngine]:
    environment = build_environment(rulebook_now)
    return TemplateConfig(
        engine=JinjaTemplateEngine.from_environment(environment),
    )
