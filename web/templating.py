"""The Jinja2 environment: autoescaping, gettext and the display helpers, and the town
every page, print sheet and export names (``Town``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from sqlalchemy.orm import Session

from service.kernel.config import Settings
from service.kernel.i18n import ENTRY_STATUS_LABELS
from service.notify.inbox import header_count
from service.scoring.rules import Rulebook
from web import i18n

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def status_label(status: str) -> str:
    return i18n.gettext(ENTRY_STATUS_LABELS[str(status)])


@dataclass(frozen=True)
class Town:
    """The town as the settings name it: the one place pages (the ``town`` template
    global), the print sheet and exports take its names and public address from. The
    names are data, shown as typed; the words around them are translated."""

    name: str | None
    committee: str | None
    public_url: str | None

    @classmethod
    def of(cls, settings: Settings) -> Town:
        return cls(settings.town_name, settings.committee_name, settings.public_url)

    def site_name(self) -> str:
        """The site's name in titles: "青溪镇 · 党员积分", or the neutral "积分"."""
        if self.name:
            return i18n.gettext("%(town)s · Party member points") % {"town": self.name}
        return i18n.gettext("Jifen")

    def absolute_url(self, request: Request[Any, Any, Any], path: str) -> str:
        """``path`` as a link to give out (printed, exported): from the public address
        when there is one, never from the request then, which behind a proxy names
        http://127.0.0.1; otherwise from the request (development and tests)."""
        base = self.public_url or str(request.base_url).rstrip("/")
        return f"{base}/{path.lstrip('/')}"


def town_of(request: Request[Any, Any, Any]) -> Town:
    """The town of the app serving ``request`` (the same as the templates' ``town``)."""
    settings: Settings = request.app.state.settings
    return Town.of(settings)


def inbox_count(request: Request[Any, Any, Any]) -> int:
    """The signed-in account's unread messages, for the header: one COUNT, once per
    render, on the connection the page's own transaction already holds; nothing for a
    visitor who is not signed in.

    The template renders on the event loop, so this must never wait for a connection:
    a render that waited for the pool while the requests holding its connections wait
    for the loop to run their commits would stall every request until the pool's
    timeout (503s under load). A failed request's count is read in a worker thread as
    its transaction ends (``web.deps.provide_db``); a page without a connection of its
    own (a 404 before any handler ran) shows no number rather than wait."""
    principal = request.scope.get("user")
    if principal is None:
        return 0
    cached = request.scope.get("jifen_inbox_count")
    if isinstance(cached, int):
        return cached
    session = getattr(request.state, "db_session", None)
    count = 0
    if session is not None and holds_connection(session):
        count = header_count(session, principal.account_id, principal.member_branch_id)
    request.scope["jifen_inbox_count"] = count  # type: ignore[typeddict-unknown-key]
    return count


def holds_connection(session: Session) -> bool:
    """Whether the session's transaction has a connection already (a query ran), so a
    query on it cannot wait for the pool."""
    transaction = session.get_transaction()
    # SessionTransaction keeps its connections in _connections (SQLAlchemy 2 has no
    # public accessor); an empty or missing one means the next query checks one out.
    return transaction is not None and bool(getattr(transaction, "_connections", None))


def build_environment(rulebook_now: Callable[[], Rulebook], settings: Settings) -> Environment:
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
        town=Town.of(settings),
        inbox_count=inbox_count,
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
    rulebook_now: Callable[[], Rulebook], settings: Settings
) -> TemplateConfig[JinjaTemplateEngine]:
    environment = build_environment(rulebook_now, settings)
    return TemplateConfig(
        engine=JinjaTemplateEngine.from_environment(environment),
    )
