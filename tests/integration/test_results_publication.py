"""Results lists (red list, 优秀, branch stars) join the publication chain: digested,
linked to the publication before, frozen, and checked by ``verify_chain``; month boards
and their queries never see them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from service.database import Database
from service.kernel.errors import Conflict
from service.persistence.assessment import PublishedResultRow
from service.persistence.models import Publication, PublicationKind
from service.publication.chain import verify_chain
from service.publication.results import (
    ResultLine,
    publish_results,
    published_lists,
    published_results,
    result_lines,
)
from service.publication.state import latest_publication, published_periods
from tests.conftest import SmallTown

NOW = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)


def _lines(town: SmallTown) -> list[ResultLine]:
    return [
        ResultLine(
            town.member_ids["member2"], "M002", "李娜", town.jinwan, "金湾", "21.0", "red", 2
        ),
        ResultLine(
            town.member_ids["member"], "M001", "张伟", town.jinwan, "金湾", "30.5", "red", 1
        ),
    ]


def test_a_red_list_is_chained_frozen_and_verified(database: Database, town: SmallTown) -> None:
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        first = publish_results(
            session, admin, kind=PublicationKind.RED_LIST, period="2026-03",
            lines=_lines(town), ruleset_version="2026.1", notice_days=7, now=NOW,
        )  # fmt: skip
        second = publish_results(
            session, admin, kind=PublicationKind.BRANCH_STARS, period="2025",
            lines=[ResultLine(town.jinwan, "B001", "金湾", town.jinwan, "金湾", "86.4", "4", 1)],
            ruleset_version="2025.1", notice_days=7, now=NOW,
        )  # fmt: skip
        assert second.previous_digest == first.digest
    with database.transaction(write=False) as session:
        assert verify_chain(session).ok
        listed = published_results(session, PublicationKind.RED_LIST, "2026-03")
        assert listed is not None
        assert [line.name for line in result_lines(session, listed.id)] == ["张伟", "李娜"]
        assert [p.kind for p in published_lists(session)] == [
            PublicationKind.RED_LIST,
            PublicationKind.BRANCH_STARS,
        ]
        # A month's board of the same period is a different thing: not published.
        assert latest_publication(session, "2026-03") is None
        assert "2026-03" not in published_periods(session)
    with database.transaction() as session, pytest.raises(Conflict):
        publish_results(
            session, admin, kind=PublicationKind.RED_LIST, period="2026-03",
            lines=[], ruleset_version="2026.1", notice_days=7, now=NOW,
        )  # fmt: skip


def test_a_changed_line_breaks_the_chain(database: Database, town: SmallTown) -> None:
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        publish_results(
            session, admin, kind=PublicationKind.EXCELLENT, period="2025",
            lines=_lines(town), ruleset_version="2025.1", notice_days=7, now=NOW,
        )  # fmt: skip
    with database.transaction() as session:
        # Behind the ORM's guard, as an intruder with database access would.
        session.execute(
            update(PublishedResultRow).where(PublishedResultRow.name == "李娜").values(value="99.0")
        )
    with database.transaction(write=False) as session:
        report = verify_chain(session)
        publication_id = session.scalar(select(Publication.id))
        assert not report.ok
        assert report.broken_ids() == frozenset({publication_id})
