"""One's notification settings (/me/notifications): email address, language, quiet
hours and how one hears of each kind of message. A refusal shows the form again with
each message beside its field and everything typed kept."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.config import Settings
from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_
from service.notify.preferences import (
    LOCALES,
    Preferences,
    QuietChoice,
    get_preferences,
    set_preferences,
)
from service.persistence.notify import Mode
from web.deps import Actor, Db
from web.forms import FormData, domain_field_errors, first_value
from web.guards import requires_login
from web.notices import notice

AnyRequest = Request[Any, Any, Any]
NOTICES = {"saved": N_("Your notification settings are saved.")}
MODE_LABELS = {
    Mode.OFF: N_("Off"),
    Mode.INBOX: N_("Inbox only"),
    Mode.EMAIL: N_("Inbox and email"),
    Mode.DIGEST: N_("Inbox and weekly digest"),
}
LOCALE_LABELS = {"zh_CN": "中文", "en": "English"}


def _page(
    request: AnyRequest,
    prefs: Preferences,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Template:
    settings: Settings = request.app.state.settings
    return Template(
        "inbox/preferences.html",
        context={
            "prefs": prefs,
            "values": values if values is not None else prefs.values(),
            "errors": errors or {},
            "notice": notice(done, NOTICES),
            "mode_labels": MODE_LABELS,
            "locales": [(code, LOCALE_LABELS[code]) for code in LOCALES],
            "town_quiet": settings.quiet_hours,
            "quiet_choices": QuietChoice,
        },
        status_code=status_code,
    )


def _default_locale(request: AnyRequest) -> str:
    settings: Settings = request.app.state.settings
    return settings.default_locale


class PreferencesController(Controller):
    path = "/me/notifications"
    guards = [requires_login]  # noqa: RUF012 - Litestar's class attribute

    @get("/", sync_to_thread=True)
    def show(
        self, request: AnyRequest, db: Db, principal: Actor, done: FromQuery[str | None] = None
    ) -> Template:
        prefs = get_preferences(db, principal, default_locale=_default_locale(request))
        return _page(request, prefs, done=done)

    @post("/", sync_to_thread=True)
    def save(
        self, request: AnyRequest, db: Db, principal: Actor, data: FormData
    ) -> Template | Redirect:
        posted = {key: str(value or "") for key, value in first_value(data).items()}
        modes = {
            key.removeprefix("kind."): value
            for key, value in posted.items()
            if key.startswith("kind.")
        }
        try:
            set_preferences(
                db,
                principal,
                email=posted.get("email", ""),
                locale=posted.get("locale", ""),
                quiet=posted.get("quiet", ""),
                quiet_from=posted.get("quiet_from", ""),
                quiet_to=posted.get("quiet_to", ""),
                modes=modes,
            )
        except InvalidInput as exc:
            return _refused(request, db, principal, exc, posted)
        return Redirect("/me/notifications?done=saved", status_code=303)


def _refused(
    request: AnyRequest,
    db: Session,
    principal: Principal,
    exc: InvalidInput,
    posted: dict[str, str],
) -> Template:
    prefs = get_preferences(db, principal, default_locale=_default_locale(request))
    values = {**prefs.values(), **{k: v for k, v in posted.items() if k != "_csrf_token"}}
    return _page(request, prefs, values=values, errors=domain_field_errors(exc), status_code=422)
