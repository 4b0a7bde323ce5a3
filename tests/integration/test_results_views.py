"""The read side of the published results lists: the index by kind (newest first), a
list's lines in rank order a page at a time with its digest checked, a branch's stars of
every round, and the newest list of a kind for the board page's block."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from service.database import Database
from service.persistence.assessment import PublishedResultRow
from service.persistence.models import PublicationKind
from service.publication.result_views import (
    branch_stars,
    latest_list,
    list_header,
    list_page,
    result_kind,
    results_index,
    stars_of,
    whole_list,
)
from service.publication.results import ResultLine, publish_results
from tests.conftest import SmallTown

NOW = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)


def _publish(
    database: Database,
    town: SmallTown,
    kind: PublicationKind,
    period: str,
    lines: list[ResultLine],
    *,
    now: datetime = NOW,
) -> None:
    admin = town.principal(database, "admin")
    with database.transaction() as session:
        publish_results(
            session, admin, kind=kind, period=period, lines=lines,
            ruleset_version="2026.1", notice_days=7, now=now,
        )  # fmt: skip


def _stars(town: SmallTown, jinwan: str, baoyuan: str) -> list[ResultLine]:
    return [
        ResultLine(town.baoyuan, "B002", "宝元鞋厂党支部", town.baoyuan, "宝元鞋厂党支部",
                   "78.0", baoyuan, 2),
        ResultLine(town.jinwan, "B001", "金湾工业园区联合党支部", town.jinwan,
                   "金湾工业园区联合党支部", "91.5", jinwan, 1),
    ]  # fmt: skip


def _red(town: SmallTown, count: int) -> list[ResultLine]:
    return [
        ResultLine(1000 + i, f"M{i:04d}", f"成员{i}", town.jinwan, "金湾", f"{90 - i}.0", "red",
                   i + 1)
        for i in range(count)
    ]  # fmt: skip


def test_the_index_lists_each_kind_newest_first(database: Database, town: SmallTown) -> None:
    _publish(database, town, PublicationKind.RED_LIST, "2026-Q1", _red(town, 3))
    _publish(database, town, PublicationKind.BRANCH_STARS, "2024", _stars(town, "3", "2"))
    later = NOW + timedelta(days=1)
    _publish(
        database, town, PublicationKind.BRANCH_STARS, "2025", _stars(town, "4", "3"), now=later
    )
    with database.transaction(write=False) as session:
        index = results_index(session, now=NOW + timedelta(days=5))
    assert list(index) == [
        PublicationKind.RED_LIST,
        PublicationKind.EXCELLENT,
        PublicationKind.BRANCH_STARS,
    ]
    assert index[PublicationKind.EXCELLENT] == []
    assert [h.period for h in index[PublicationKind.BRANCH_STARS]] == ["2025", "2024"]
    assert [h.lines for h in index[PublicationKind.RED_LIST]] == [3]
    # The notice window: open for a week, then final.
    assert not index[PublicationKind.RED_LIST][0].final
    with database.transaction(write=False) as session:
        assert results_index(session, now=NOW + timedelta(days=8))[PublicationKind.RED_LIST][
            0
        ].final


def test_a_list_reads_in_rank_order_a_page_at_a_time(database: Database, town: SmallTown) -> None:
    _publish(database, town, PublicationKind.RED_LIST, "2026-Q1", list(reversed(_red(town, 60))))
    with database.transaction(write=False) as session:
        header = list_header(session, PublicationKind.RED_LIST, "2026-Q1", now=NOW)
        assert header is not None and header.intact and header.lines == 60
        first = list_page(session, header, 1)
        second = list_page(session, header, 2)
        last = list_page(session, header, 99)  # past the end: the last page
        everything = whole_list(session, header)
    assert (first.pages, len(first.items), len(second.items)) == (2, 50, 10)
    assert [line.rank for line in first.items][:3] == [1, 2, 3]
    assert second.items[-1].rank == 60 and last.page == 2
    assert [line.rank for line in everything] == list(range(1, 61))


def test_a_kind_or_period_not_published_has_no_list(database: Database, town: SmallTown) -> None:
    _publish(database, town, PublicationKind.RED_LIST, "2026-Q1", _red(town, 1))
    assert result_kind("month") is None and result_kind("nonsense") is None
    assert result_kind("branch_stars") is PublicationKind.BRANCH_STARS
    with database.transaction(write=False) as session:
        assert list_header(session, PublicationKind.RED_LIST, "2026-Q2", now=NOW) is None
        assert list_header(session, PublicationKind.EXCELLENT, "2026-Q1", now=NOW) is None
        assert list_header(session, PublicationKind.RED_LIST, "x" * 500, now=NOW) is None


def test_a_changed_line_shows_the_digest_no_longer_holds(
    database: Database, town: SmallTown
) -> None:
    _publish(database, town, PublicationKind.EXCELLENT, "2025", _red(town, 2))
    with database.transaction() as session:
        session.execute(update(PublishedResultRow).values(value="99.0"))
    with database.transaction(write=False) as session:
        header = list_header(session, PublicationKind.EXCELLENT, "2025", now=NOW)
    assert header is not None and header.intact is False


def test_a_branch_has_its_stars_of_every_round(database: Database, town: SmallTown) -> None:
    _publish(database, town, PublicationKind.BRANCH_STARS, "2024", _stars(town, "3", "2"))
    _publish(database, town, PublicationKind.BRANCH_STARS, "2025", _stars(town, "4", "5"),
             now=NOW + timedelta(hours=1))  # fmt: skip
    with database.transaction(write=False) as session:
        jinwan = branch_stars(session, town.jinwan)
        baoyuan = branch_stars(session, town.baoyuan)
        latest = latest_list(session, PublicationKind.BRANCH_STARS, now=NOW, top=1)
        none_yet = latest_list(session, PublicationKind.RED_LIST, now=NOW)
    assert [(s.period, s.stars, s.rank) for s in jinwan] == [("2025", 4, 1), ("2024", 3, 1)]
    assert [s.stars for s in baoyuan] == [5, 2]
    assert latest is not None and latest.header.period == "2025"
    assert [line.name for line in latest.top] == ["金湾工业园区联合党支部"]
    assert none_yet is None


def test_stars_read_from_labels() -> None:
    def line(label: str) -> ResultLine:
        return ResultLine(1, "B", "n", 1, "n", "1.0", label)

    assert [stars_of(line(text)) for text in ["4", " 5 ", "", "four", "٣", "123"]] == [
        4, 5, 0, 0, 0, 0,
    ]  # fmt: skip
