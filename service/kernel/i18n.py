"""Translatable messages raised by the domain.

The domain has no locale: it marks English source strings with ``N_`` (so Babel
extracts them) and carries parameters in a ``Message``; the web layer and the CLI
translate them for whoever reads them.
"""

from __future__ import annotations

import gettext as _gettext
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any


def N_(message: str) -> str:
    return message


@dataclass(frozen=True)
class Message:
    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, gettext: Callable[[str], str] = N_) -> str:
        text = gettext(self.msgid)
        if not self.params:
            return text
        params = {
            key: value.render(gettext) if isinstance(value, Message) else value
            for key, value in self.params.items()
        }
        return text % params

    def __str__(self) -> str:
        return self.render()


ENTRY_STATUS_LABELS = {
    "pending": N_("pending"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "withdrawn": N_("withdrawn"),
    "revoked": N_("revoked"),
}


# --- catalogs for the terminal ----------------------------------------------------------
#
# The web layer (web/i18n.py) and the ``jifen`` command read the same catalogs. They are
# found by path, not by importing ``web``: the domain must stay importable without it.

TRANSLATIONS_DIR = Path(__file__).resolve().parents[2] / "web" / "translations"
SOURCE_LOCALE = "en"
CATALOG_LOCALES = ("zh_CN", SOURCE_LOCALE)
LOCALE_VARIABLES = ("JIFEN_LOCALE", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


@lru_cache(maxsize=len(CATALOG_LOCALES))
def catalog(locale: str) -> _gettext.NullTranslations:
    """The compiled catalog of ``locale`` (read from its .po file at first use);
    English is the source language and needs none."""
    po_path = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"
    if locale == SOURCE_LOCALE or not po_path.exists():
        return _gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    with po_path.open("rb") as po_file:
        messages = read_po(po_file, locale=locale)
    buffer = BytesIO()
    write_mo(buffer, messages, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer)


def _supported(value: str) -> str | None:
    tag = value.strip().lower()
    if tag.startswith("zh"):
        return "zh_CN"
    if tag.startswith("en") or tag.split(".")[0] in {"c", "posix"}:
        return SOURCE_LOCALE
    return None


def environment_locale(environ: Mapping[str, str] | None = None) -> str:
    """The locale of a terminal, by the gettext convention: the first of LANGUAGE,
    LC_ALL, LC_MESSAGES and LANG that is set decides (JIFEN_LOCALE, when set, before
    them). A value starting with "zh" means zh_CN; anything else (C, POSIX, en_US,
    unset) English. LANGUAGE may list several, "fr:zh_CN:en": the first one supported
    wins."""
    environ = os.environ if environ is None else environ
    for name in LOCALE_VARIABLES:
        value = environ.get(name, "")
        if not value:
            continue
        if name == "LANGUAGE":
            for part in value.split(":"):
                if (chosen := _supported(part)) is not None:
                    return chosen
            continue  # no language listed is supported: the next variable decides
        return _supported(value) or SOURCE_LOCALE
    return SOURCE_LOCALE


def terminal_gettext(message: str) -> str:
    """``message`` in the terminal's language (read from the environment every time,
    so a test or a caller that changes it is followed at once)."""
    return catalog(environment_locale()).gettext(message)


def terminal_ngettext(singular: str, plural: str, n: int) -> str:
    return catalog(environment_locale()).ngettext(singular, plural, n)


def terminal_render(message: Message) -> str:
    """A domain message in the terminal's language."""
    return message.render(terminal_gettext)
