"""Cells of the spreadsheets the office opens (CSV exports of boards, rosters and the
audit log): text a spreadsheet would run as a formula is neutralised."""

from __future__ import annotations

from decimal import Decimal

Cell = str | int | Decimal | None

# A cell starting with one of these is a formula to a spreadsheet: a member named
# "=HYPERLINK(...)" must reach the office as text, not as a live link.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: Cell) -> str:
    """``value`` as CSV text; text starting like a formula gets a leading apostrophe
    (numbers are written as they are: a negative number is not a formula)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    return str(value)
