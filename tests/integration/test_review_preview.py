"""The review queue tells the reviewer what approving would really add, caps included."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approval_previews, approve_entry, review_queue
from service.kernel.periods import town_today
from service.persistence.db import Database
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown


def test_preview_shows_the_monthly_cap(
    database: Database, town: SmallTown, rulebook: Rulebook
) -> None:
    member = town.principal(database, "member")
    secretary = town.principal(database, "secretary")
    today = town_today(utcnow(), "Asia/Shanghai")
    first = today.replace(day=1)
    ids = []
    with database.transaction() as session:
        for index in range(6):
            day = max(first, today - timedelta(days=index))
            ids.append(
                submit_entry(
                    session,
                    member,
                    rulebook,
                    EntryInput("good_deed", day, Decimal(1), f"帮助园区清理积水 {index}"),
                    today=today,
                    now=utcnow(),
                )
            )
    with database.transaction() as session:
        fresh = approval_previews(session, rulebook, review_queue(session, secretary).entries)
    assert fresh[ids[0]].change == Decimal("2.0") and not fresh[ids[0]].limited

    with database.transaction() as session:
        for entry_id in ids[:5]:
            approve_entry(session, secretary, rulebook, entry_id, now=utcnow())
    with database.transaction() as session:
        (last,) = review_queue(session, secretary).entries
        preview = approval_previews(session, rulebook, [last])[last.id]
    # Five good deeds already fill the month's 10 points: the sixth would add nothing.
    assert preview.change == Decimal("0.0")
    assert preview.raw == Decimal("2.0")
    assert preview.limited
