"""Gettext catalogs (Babel) and the request's locale.

Catalogs are read from the ``.po`` files at first use and compiled in memory, so a
fresh clone needs no build step and a compiled file can never lag behind its source.
The locale lives in a context variable set once per request by ``LocaleMiddleware``;
anyio copies context into worker threads, so handlers and templates see the same one.
"""

from __future__ import annotations

import gettext as _gettext
import re
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as _format_date
from babel.dates import format_datetime as _format_datetime
from babel.dates import format_skeleton as _format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from service.kernel.i18n import Message
from service.kernel.periods import is_year

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LANG_COOKIE = "jifen_lang"

_current_locale: ContextVar[str] = ContextVar("jifen_locale", default=DEFAULT_LOCALE)
_timezone: ContextVar[str] = ContextVar("jifen_timezone", default="Asia/Shanghai")


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> _gettext.NullTranslations:
    """The catalog for ``locale``; English is the source language and needs none."""
    po_path = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"
    if locale == "en" or not po_path.exists():
        return _gettext.NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer)


def current_locale() -> str:
    return _current_locale.get()


@lru_cache(maxsize=1)
def translated_messages() -> frozenset[str]:
    """Every msgid (singular) the zh_CN catalog translates, fuzzy ones excluded."""
    po_path = TRANSLATIONS_DIR / DEFAULT_LOCALE / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=DEFAULT_LOCALE)
    found: set[str] = set()
    for message in catalog:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.id and all(strings) and not message.fuzzy:
            found.add(str(message.id[0] if isinstance(message.id, tuple) else message.id))
    return frozenset(found)


# Tests that walk every page switch this on and read what was asked for but missing: a
# message built at run time, or added without running the catalog update, would
# otherwise show up in English on a Chinese page without anyone noticing.
_missing_messages: set[str] | None = None


def record_missing_messages(enabled: bool) -> set[str]:
    """Start (or stop) collecting msgids asked for but absent from the zh_CN catalog."""
    global _missing_messages
    _missing_messages = set() if enabled else None
    return _missing_messages if _missing_messages is not None else set()


def missing_messages() -> set[str]:
    return set(_missing_messages or ())


# A message that is only a placeholder carries text translated elsewhere (a field's
# error passed on as it is): there is nothing of its own to translate.
_ONLY_PLACEHOLDER = re.compile(r"%\(\w+\)s")


def _note(message: str) -> None:
    if _missing_messages is None or not message or _ONLY_PLACEHOLDER.fullmatch(message):
        return
    if message not in translated_messages():
        _missing_messages.add(message)


def gettext(message: str) -> str:
    _note(message)
    return translations(_current_locale.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    _note(singular)
    return translations(_current_locale.get()).ngettext(singular, plural, n)


_ = gettext


def render(message: Message) -> str:
    return message.render(gettext)


def negotiate(cookie: str | None, accept_language: str | None, default: str) -> str:
    """The cookie's choice, else the browser's first supported language, else default."""
    if cookie in LOCALES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower().replace("-", "_")
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return default


def format_date(value: date | None) -> str:
    if value is None:
        return ""
    return _format_date(value, format="medium", locale=Locale.parse(current_locale()))


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    local = value.astimezone(ZoneInfo(_timezone.get()))
    return _format_datetime(local, format="short", locale=Locale.parse(current_locale()))


def format_points(value: Decimal | None) -> str:
    """Points with one decimal place, grouped (12,345.0).

    English and Simplified Chinese group and mark decimals alike, so a plain format
    spec gives Babel's output at a fraction of the cost: Babel's format_decimal took
    about 240 us a call, a third of a board page's time under load (bench/README.md)."""
    if value is None:
        return ""
    return f"{value:,.1f}"


def format_number(value: int | None) -> str:
    """A count grouped as the locale groups it (21,542)."""
    if value is None:
        return ""
    return f"{value:,d}"


# [0-9], not \d: int() reads other scripts' digits too.
_SPAN = re.compile(r"^([0-9]{4})(?:-([0-9]{2})|-Q([1-4]))?$")


def format_period(value: str | None) -> str:
    """A board's span for people: ``2026-10`` is 2026年10月 / October 2026, ``2026-Q4``
    2026年第4季度 / Q4 2026, ``2026`` 2026年 / 2026. Keys in URLs stay ISO; anything
    else is shown as it is."""
    if not value:
        return ""
    match = _SPAN.match(str(value))
    if match is None or not is_year(int(match.group(1))):
        return str(value)
    year, month, quarter = match.groups()
    locale = Locale.parse(current_locale())
    if month:
        if not 1 <= int(month) <= 12:
            return str(value)
        return _format_skeleton("yMMMM", date(int(year), int(month), 1), locale=locale)
    if quarter:
        first = date(int(year), (int(quarter) - 1) * 3 + 1, 1)
        return _format_skeleton("yQQQ", first, locale=locale)
    return _format_skeleton("y", date(int(year), 1, 1), locale=locale)


def locale_for_scope(scope: Scope, default: str) -> str:
    headers: Mapping[str, str] = {
        key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
    }
    cookie = _cookie_value(headers.get("cookie", ""), LANG_COOKIE)
    return negotiate(cookie, headers.get("accept-language"), default)


def activate_for_scope(scope: Scope, default: str) -> None:
    """Set the locale outside ``LocaleMiddleware``: errors raised by middleware that runs
    before it (CSRF) are rendered after it has already reset the locale."""
    _current_locale.set(locale_for_scope(scope, default))


class LocaleMiddleware:
    """Pick the locale for this request and expose it to everything below."""

    def __init__(self, app: ASGIApp, default_locale: str, timezone: str) -> None:
        self.app = app
        self.default_locale = default_locale
        self.timezone = timezone

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        locale_token = _current_locale.set(locale_for_scope(scope, self.default_locale))
        tz_token = _timezone.set(self.timezone)
        try:
            await self.app(scope, receive, send)
        finally:
            _current_locale.reset(locale_token)
            _timezone.reset(tz_token)


def _cookie_value(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _sep, value = part.strip().partition("=")
        if key == name:
            return value
    return None
