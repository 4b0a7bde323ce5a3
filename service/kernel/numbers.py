"""The one parser of the numbers people and addresses send: record ids in paths, query
strings and forms, counts typed into forms. Not ``int()``: it also reads ``٣``, ``３``,
`` 7 ``, ``+7`` and ``1_000``, and a number larger than any column holds reaches the
database as an error; nor ``str.isdigit()``, which passes ``²`` and ``①`` that ``int()``
then refuses. Everything that is not plain ASCII digits within the bounds is None, which
each caller turns into its "not found" or its message beside the field.
"""

from __future__ import annotations

import re

# The largest id a row can have: PostgreSQL's integer (and the JSON API's bound).
ID_MAX = 2**31 - 1

_DIGITS = re.compile(r"[0-9]+")


def parse_int(text: object, *, low: int, high: int) -> int | None:
    """``text`` as a whole number from ``low`` to ``high`` (both ≥ 0), or None."""
    value = "" if text is None else str(text).strip()
    # Bounded length first: int() of a million digits is slow, and no bound needs more.
    if len(value) > len(str(high)) + 2 or not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if low <= number <= high else None


def parse_id(text: object) -> int | None:
    """A record id (1 to ID_MAX), or None."""
    return parse_int(text, low=1, high=ID_MAX)
