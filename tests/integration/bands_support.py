"""A banded small town for the bands and warnings tests: this quarter's points (entries
approved today), banded as if the quarter had ended, under a policy that gives the small
branches a red list and publishes it.

金湾 (3 banded members; the elder is exempt): 张伟 6.0 (red), 李娜 2.0 (yellow, below 3),
王书记 0 (yellow). 宝元: 刘洋 0 and 陈书记 0 (both yellow). Four warning cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from service.boards.board import SpanKind, board_period
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry
from service.kernel.periods import period_of, town_today
from service.persistence.db import Database
from service.persistence.types import utcnow
from service.scoring.policies import BandPolicy
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

POLICY = BandPolicy(
    yellow_below=Decimal(3),
    red_top_share=Fraction(1, 3),
    red_min=Decimal(3),
    deadline_days=30,
    publish_red=True,
)


def banding_rulebook(rulebook: Rulebook, policy: BandPolicy = POLICY) -> Rulebook:
    return Rulebook.of([r.model_copy(update={"bands": policy}) for r in rulebook.rulesets])


def today() -> date:
    return town_today(utcnow(), "Asia/Shanghai")


@dataclass(frozen=True)
class Quarter:
    key: str
    months: tuple[str, ...]
    after: datetime  # a moment after the quarter's end (09:00 town time, next day)


def this_quarter() -> Quarter:
    span = board_period(period_of(today()), SpanKind.QUARTER)
    year, month = int(span.last[:4]), int(span.last[5:7])
    next_first = date(year + month // 12, month % 12 + 1, 1)
    after = datetime(next_first.year, next_first.month, next_first.day, 1, 0, tzinfo=UTC)
    return Quarter(span.key, span.months, after)


def approve(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    username: str,
    rule: str,
    quantity: int = 1,
    reviewer: str = "secretary",
) -> int:
    with database.transaction() as session:
        entry_id = submit_entry(
            session,
            town.principal(database, username),
            rulebook,
            EntryInput(rule, today(), Decimal(quantity), "在西山桥路口指挥交通"),
            today=today(),
            now=utcnow(),
        )
    with database.transaction() as session:
        approve_entry(session, town.principal(database, reviewer), rulebook, entry_id, now=utcnow())
    return entry_id


def give_points(database: Database, town: SmallTown, rulebook: Rulebook) -> None:
    """张伟 6.0 (two volunteer hours), 李娜 2.0 (a good deed)."""
    approve(database, town, rulebook, "member", "volunteer", 2)
    approve(database, town, rulebook, "member2", "good_deed")


def later(moment: datetime, days: int) -> datetime:
    return moment + timedelta(days=days)
