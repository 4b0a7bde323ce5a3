"""How far back a member may declare (issue 15, item 7): this month and last month by
default (``declare_months_back``), each only until it is published."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from service.entries.entry import EntryInput, declarable_from, submit_entry
from service.kernel.errors import InvalidInput
from service.persistence.db import Database
from service.publication.publish import publish_month
from service.scoring.rules import Rulebook, Ruleset
from tests.conftest import SmallTown

TODAY = date(2026, 5, 3)
NOW = datetime(2026, 5, 3, 2, 0, tzinfo=UTC)


def declare(database: Database, town: SmallTown, rulebook: Rulebook, day: date) -> int:
    with database.transaction() as session:
        return submit_entry(
            session,
            town.principal(database, "member"),
            rulebook,
            EntryInput("good_deed", day, Decimal(1), "帮邻居修好了水管"),
            today=TODAY,
            now=NOW,
        )


def refusal(database: Database, town: SmallTown, rulebook: Rulebook, day: date) -> str:
    with pytest.raises(InvalidInput) as refused:
        declare(database, town, rulebook, day)
    message = refused.value.errors["activity_date"]
    return str(message)


def test_an_old_unpublished_month_is_refused_and_last_month_accepted(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    assert "Too far back" in refusal(database, town, rulebook, date(2025, 1, 1))
    assert "from 2026-04-01 on" in refusal(database, town, rulebook, date(2026, 3, 31))
    assert declare(database, town, rulebook, date(2026, 4, 1))
    assert declare(database, town, rulebook, TODAY)


def test_once_last_month_is_published_only_this_month_is_open(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    with database.transaction() as session:
        admin = town.principal(database, "admin")
        publish_month(session, admin, rulebook, "2026-04", now=NOW, confirm_empty=True)
        assert declarable_from(session, rulebook, TODAY) == date(2026, 5, 1)
    assert "2026-04 is published" in refusal(database, town, rulebook, date(2026, 4, 20))
    assert "from 2026-05-01 on" in refusal(database, town, rulebook, date(2026, 3, 31))


def test_the_rules_file_sets_how_far_back(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    base = rulebook.in_force(TODAY)
    assert base is not None
    data = base.model_dump(mode="json", exclude_none=True, by_alias=True)
    wider = rulebook.with_candidate(Ruleset.model_validate({**data, "declare_months_back": 3}))
    assert declare(database, town, wider, date(2026, 2, 1))
    assert "from 2026-02-01 on" in refusal(database, town, wider, date(2026, 1, 31))
