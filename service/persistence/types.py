"""Column types shared by the models.

Points and quantities are stored as integer tenths: exact on SQLite (whose NUMERIC is
a float) and PostgreSQL alike, cheap to sum, and read back as ``Decimal`` with one
decimal place. Timestamps are stored as UTC and always read back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect
from sqlalchemy.types import TypeDecorator

from service.scoring.points import from_tenths, to_tenths


class Tenths(TypeDecorator[Decimal]):
    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return to_tenths(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return from_tenths(value)


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
        naive: datetime = value.astimezone(UTC).replace(tzinfo=None)
        return naive

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        aware: datetime = value.replace(tzinfo=UTC)
        return aware


def utcnow() -> datetime:
    return datetime.now(UTC)
