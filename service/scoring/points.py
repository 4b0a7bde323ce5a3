"""Point arithmetic: points are decimals with one place, kept as integer tenths.

Pure Python, so scoring can use it without importing the database layer; the
``Tenths`` column type (service/persistence/types.py) stores points with it.
"""

from __future__ import annotations

from decimal import Decimal

TENTH = Decimal("0.1")


def to_tenths(value: Decimal | int) -> int:
    """Exact conversion; refuses values with more than one decimal place."""
    number = Decimal(value)
    quantized = number.quantize(TENTH)
    if quantized != number:
        raise ValueError(f"{value} has more than one decimal place")
    return int(quantized.scaleb(1))


def from_tenths(value: int | Decimal) -> Decimal:
    return Decimal(value).scaleb(-1).quantize(TENTH)
