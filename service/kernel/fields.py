"""Reading a submitted form's fields: each helper records a message for its field in
``errors`` instead of raising, so a form reports every problem at once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Any

from service.kernel.i18n import N_, Message
from service.kernel.numbers import parse_id, parse_int


def folded(value: str) -> str:
    """``value`` in Unicode NFKC: full-width digits and letters (what a Chinese input
    method types: ``３２０１``, ``Ｍ００１``), superscripts and circled digits become
    their ASCII forms. Identifiers go through this before they are checked and stored,
    so one ID number or phone number cannot be stored twice in two spellings."""
    return unicodedata.normalize("NFKC", value)


def code_field(value: str, limit: int, errors: dict[str, Message], name: str) -> str:
    """A required identifier (member number, branch number), folded (see ``folded``)."""
    return required_text(folded(value), limit, errors, name)


def required_text(value: str, limit: int, errors: dict[str, Message], name: str) -> str:
    value = value.strip()
    if not value:
        errors[name] = Message(N_("This field is required."))
    elif len(value) > limit:
        errors[name] = Message(N_("This text is too long."))
    return value


def date_field(value: str, errors: dict[str, Message], name: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[name] = Message(N_("Enter a date like 2026-03-12."))
        return None


def id_field(value: str, errors: dict[str, Message], name: str, message: str) -> int | None:
    """The id a choice field sends (a select's option), None when empty; anything that is
    not an id (see ``service.kernel.numbers``) is ``message`` beside the field."""
    value = value.strip()
    if not value:
        return None
    number = parse_id(value)
    if number is None:
        errors[name] = Message(message)
    return number


def typed_int(value: str, *, low: int, high: int) -> int | None:
    """A number someone typed, from ``low`` to ``high``, or None: full-width digits (a
    Chinese input method's) count, as in ID numbers; see ``service.kernel.numbers``."""
    return parse_int(folded(value), low=low, high=high)


def text_field(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value if value is not None else "")
