"""An account's own notification preferences: its email address, language, quiet hours
and, per kind, how it hears of it (off, the inbox, an email each time, a weekly digest).

Mandatory kinds (warnings, security) cannot be turned off (``allowed_modes``). Each
field is checked on its own and every problem is reported at once (InvalidInput keyed
by the form's field names: ``email``, ``locale``, ``quiet_from``, ``quiet_to``,
``quiet``, ``kind.<id>``), so the page shows each beside its field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.principal import Principal
from service.kernel.errors import InvalidInput
from service.kernel.i18n import N_, Message
from service.notify.account_settings import settings_for
from service.outbox.kinds import KINDS, Kind, allowed_modes
from service.persistence.notify import Mode, NotifyPreference, NotifySettings
from service.persistence.types import utcnow

LOCALES = ("zh_CN", "en")
# What a person types in practice; the SMTP server is the final judge of an address.
EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]+$")
CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class QuietChoice:
    TOWN = "town"  # the town's default (JIFEN_QUIET_HOURS)
    NONE = "none"  # no quiet hours: stored as equal ends
    CUSTOM = "custom"

    ALL = (TOWN, NONE, CUSTOM)


# Who each kind is for (its ``audience``), so a page offers a member no office kinds.
_AUDIENCE_ROLES = {
    "Members": "member",
    "Secretaries and instructors": "reviewer",
    "The office": "admin",
    "Everyone": "everyone",
}


def kinds_for(actor: Principal) -> list[Kind]:
    """The kinds this account may receive, in the order of ``KINDS``."""

    def receives(item: Kind) -> bool:
        role = _AUDIENCE_ROLES.get(item.audience, "everyone")
        if role == "member":
            return actor.member_id is not None
        if role == "reviewer":
            return actor.is_reviewer
        if role == "admin":
            return actor.is_admin
        return True

    return [item for item in KINDS.values() if receives(item)]


@dataclass(frozen=True)
class KindChoice:
    kind: Kind
    mode: Mode
    allowed: tuple[Mode, ...]


@dataclass(frozen=True)
class Preferences:
    email: str
    locale: str
    quiet: str  # QuietChoice
    quiet_from: str
    quiet_to: str
    kinds: list[KindChoice]

    def values(self) -> dict[str, str]:
        """As the form's fields."""
        fields = {
            "email": self.email,
            "locale": self.locale,
            "quiet": self.quiet,
            "quiet_from": self.quiet_from,
            "quiet_to": self.quiet_to,
        }
        fields.update({f"kind.{choice.kind.id}": choice.mode.value for choice in self.kinds})
        return fields


def get_preferences(
    session: Session, actor: Principal, *, default_locale: str = "zh_CN"
) -> Preferences:
    # Read only: a GET writes nothing; the row is made when the account first saves.
    row = session.get(NotifySettings, actor.account_id)
    chosen = {
        pref.kind: pref.mode
        for pref in session.scalars(
            select(NotifyPreference).where(NotifyPreference.account_id == actor.account_id)
        )
    }
    if row is None or row.quiet_from is None or row.quiet_to is None:
        quiet, start, end = QuietChoice.TOWN, "", ""
    elif row.quiet_from == row.quiet_to:
        quiet, start, end = QuietChoice.NONE, "", ""
    else:
        quiet, start, end = QuietChoice.CUSTOM, row.quiet_from, row.quiet_to
    kinds = []
    for item in kinds_for(actor):
        allowed = allowed_modes(item)
        mode = chosen.get(item.id, item.default)
        kinds.append(KindChoice(item, mode if mode in allowed else item.default, allowed))
    email = (row.email or "") if row is not None else ""
    locale = row.locale if row is not None else default_locale
    return Preferences(email, locale, quiet, start, end, kinds)


def set_preferences(
    session: Session,
    actor: Principal,
    *,
    email: str,
    locale: str,
    quiet: str,
    quiet_from: str = "",
    quiet_to: str = "",
    modes: dict[str, str],
    now: datetime | None = None,
) -> None:
    """Save the account's preferences; nothing is saved unless every field is valid.
    ``modes``: kind id → mode; a kind left out keeps its current choice."""
    errors: dict[str, Message] = {}
    email = email.strip()
    if email and (len(email) > 255 or not EMAIL.match(email)):
        errors["email"] = Message(N_("Enter an email address like name@example.com."))
    if locale not in LOCALES:
        errors["locale"] = Message(N_("Choose a language from the list."))
    start = end = None
    if quiet not in QuietChoice.ALL:
        errors["quiet"] = Message(N_("Choose one of the quiet hours options."))
    elif quiet == QuietChoice.NONE:
        start = end = "00:00"
    elif quiet == QuietChoice.CUSTOM:
        for name, text in (("quiet_from", quiet_from.strip()), ("quiet_to", quiet_to.strip())):
            if not CLOCK.match(text):
                errors[name] = Message(N_("Enter a time like 22:00."))
        if "quiet_from" not in errors and "quiet_to" not in errors:
            start, end = quiet_from.strip(), quiet_to.strip()
            if time.fromisoformat(start) == time.fromisoformat(end):
                errors["quiet_to"] = Message(
                    N_("The quiet hours must end at another time than they start.")
                )
    allowed = {item.id: allowed_modes(item) for item in kinds_for(actor)}
    chosen: dict[str, Mode] = {}
    for kind_id, text in modes.items():
        if kind_id not in allowed:
            continue  # a kind this account does not receive: nothing to choose
        try:
            mode = Mode(text)
        except ValueError:
            errors[f"kind.{kind_id}"] = Message(N_("Choose one of the options."))
            continue
        if mode not in allowed[kind_id]:
            errors[f"kind.{kind_id}"] = Message(
                N_("This message cannot be turned off: it concerns you directly.")
            )
            continue
        chosen[kind_id] = mode
    if errors:
        raise InvalidInput(errors)
    when = now or utcnow()
    row = settings_for(session, actor.account_id, default_locale=locale)
    row.email = email or None
    row.locale = locale
    row.quiet_from, row.quiet_to = start, end
    row.updated_at = when
    existing = {
        pref.kind: pref
        for pref in session.scalars(
            select(NotifyPreference).where(NotifyPreference.account_id == actor.account_id)
        )
    }
    for kind_id, mode in chosen.items():
        pref = existing.get(kind_id)
        if pref is None:
            session.add(NotifyPreference(account_id=actor.account_id, kind=kind_id, mode=mode))
        elif pref.mode != mode:
            pref.mode = mode
    session.flush()
