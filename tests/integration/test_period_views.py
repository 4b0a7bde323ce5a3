"""Quarter and year boards, participation ranking, the town's points by rule group, a
branch's trend and achievements, public stars and the export tables: the services
behind the period views, on a real database."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from service.boards.achievements import branch_achievements
from service.boards.board import BranchLine, SpanKind, by_participation, parse_board_period
from service.boards.exports import branch_table, member_table, to_csv, to_xlsx
from service.boards.live import (
    PointsGroup,
    branch_board,
    branch_trend,
    member_board,
    points_by_group,
    public_stars,
    within_branch,
)
from service.entries.adjustments import AdjustmentInput, record_adjustment
from service.entries.entry import EntryInput, submit_entry
from service.entries.review import approve_entry, revoke_entry
from service.entries.suggestions import mark_step
from service.kernel.errors import InvalidInput
from service.persistence.db import Database
from service.persistence.models import BranchKind
from service.persistence.types import utcnow
from service.scoring.rules import Rulebook
from tests.conftest import SmallTown

TODAY = date(2026, 11, 25)
STREET_LIGHTS = "建议在268省道西山桥路口修建路灯"
PRIVATE_REASON = "缺席二月学习(支部决定,不公开)"
SHIRKING_REASON = "推诿扯皮(支部决定)"
REVIEWER = {
    "member": "secretary",
    "member2": "secretary",
    "secretary": "instructor",
    "member3": "secretary2",
}


@dataclass(frozen=True)
class HalfYear:
    """2026 in the small town (points in brackets):

    Jan  张伟 volunteer 2 h (6) + good deed (2); 刘洋 good deed (2)
    Feb  李娜 suggestion (1); 刘洋 volunteer 4 h (12); 张伟 missed study (-3, private)
    Mar  李娜's suggestion adopted (3); 陈书记 shirking (-10, private)
    Apr  李娜's suggestion implemented (2); 王书记 branch meeting (1)

    Q1: 刘洋 14, 张伟 5, 李娜 4, 陈书记 -10. Year: 刘洋 14, 李娜 6, 张伟 5, 王书记 1,
    陈书记 -10. Yearly scores (base 60): 74 (2 stars), 66, 65, 61 (1 star), 50 (flagged).
    """

    town: SmallTown
    suggestion_id: int


def approved(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    username: str,
    rule_id: str,
    day: date,
    quantity: str = "1",
    description: str | None = None,
) -> int:
    with database.transaction() as session:
        entry_id = submit_entry(
            session,
            town.principal(database, username),
            rulebook,
            EntryInput(rule_id, day, Decimal(quantity), description or f"{username} {rule_id}"),
            # Declared on the day: the test spans more months than a member may go back.
            today=day,
            now=utcnow(),
        )
        approve_entry(
            session,
            town.principal(database, REVIEWER[username]),
            rulebook,
            entry_id,
            now=utcnow(),
        )
    return entry_id


def deducted(
    database: Database,
    town: SmallTown,
    rulebook: Rulebook,
    username: str,
    rule_id: str,
    day: date,
    reason: str,
    by: str,
) -> None:
    with database.transaction() as session:
        record_adjustment(
            session,
            town.principal(database, by),
            rulebook,
            AdjustmentInput(
                member_id=town.member_ids[username], rule_id=rule_id, day=day, reason=reason
            ),
            today=TODAY,
            now=utcnow(),
        )


def seed_half_year(database: Database, town: SmallTown, rulebook: Rulebook) -> HalfYear:
    approved(database, town, rulebook, "member", "volunteer", date(2026, 1, 12), "2")
    approved(
        database, town, rulebook, "member", "good_deed", date(2026, 1, 20), "1", "帮职工子女入学"
    )
    approved(database, town, rulebook, "member3", "good_deed", date(2026, 1, 21))
    suggestion_id = approved(
        database, town, rulebook, "member2", "suggestion", date(2026, 2, 9), "1", STREET_LIGHTS
    )
    approved(database, town, rulebook, "member3", "volunteer", date(2026, 2, 14), "4")
    deducted(
        database, town, rulebook, "member", "missed_study", date(2026, 2, 16), PRIVATE_REASON,
        "secretary",
    )  # fmt: skip
    secretary = town.principal(database, "secretary")
    for step, day in [("adopted", date(2026, 3, 2)), ("implemented", date(2026, 4, 20))]:
        with database.transaction() as session:
            mark_step(
                session, secretary, rulebook, suggestion_id, step, day=day, today=TODAY,
                now=utcnow(),
            )  # fmt: skip
    deducted(
        database, town, rulebook, "secretary2", "shirking", date(2026, 3, 10), SHIRKING_REASON,
        "admin",
    )  # fmt: skip
    approved(database, town, rulebook, "secretary", "org_life", date(2026, 4, 7))
    return HalfYear(town, suggestion_id)


@pytest.fixture
def half_year(database: Database, town: SmallTown, rulebook: Rulebook) -> HalfYear:
    return seed_half_year(database, town, rulebook)


def names_and_points(board: object) -> list[tuple[int, str, str]]:
    return [
        (r.rank, r.item.name, f"{r.item.points:.1f}")
        for r in board.ranked  # type: ignore[attr-defined]
    ]


# --- periods -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "first", "last"),
    [
        ("2026-07", SpanKind.MONTH, "2026-07", "2026-07"),
        ("2026-Q3", SpanKind.QUARTER, "2026-07", "2026-09"),
        ("2026-Q1", SpanKind.QUARTER, "2026-01", "2026-03"),
        ("2026", SpanKind.YEAR, "2026-01", "2026-12"),
    ],
)
def test_a_board_covers_a_month_a_quarter_or_a_year(
    text: str, kind: SpanKind, first: str, last: str
) -> None:
    span = parse_board_period(text)
    assert (span.key, span.kind, span.first, span.last) == (text, kind, first, last)


@pytest.mark.parametrize(
    "text", ["2026-Q5", "2026-Q0", "2026-q1", "26", "0000", "2026-13", "2026-"]
)
def test_anything_else_is_not_a_board(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_board_period(text)


def test_spans_step_to_their_neighbours() -> None:
    assert parse_board_period("2026-Q1").shift(-1).key == "2025-Q4"
    assert parse_board_period("2026-Q4").shift(1).key == "2027-Q1"
    assert parse_board_period("2026").shift(-1).key == "2025"
    assert parse_board_period("2026-01").shift(-1).key == "2025-12"
    assert parse_board_period("2026-08").quarter == "2026-Q3"


# --- members -------------------------------------------------------------------------


def test_a_quarter_board_adds_the_months(half_year: HalfYear, database: Database) -> None:
    with database.transaction(write=False) as session:
        quarter = member_board(session, "2026-Q1")
        january = member_board(session, "2026-01")
    assert names_and_points(quarter) == [
        (1, "刘洋", "14.0"),
        (2, "张伟", "5.0"),  # 6 + 2 in January, -3 in February
        (3, "李娜", "4.0"),  # suggestion in February, adopted in March
        (4, "陈书记", "-10.0"),
    ]
    assert names_and_points(january) == [(1, "张伟", "8.0"), (2, "刘洋", "2.0")]


def test_a_year_board_adds_every_month(half_year: HalfYear, database: Database) -> None:
    with database.transaction(write=False) as session:
        year = member_board(session, "2026")
        jinwan = member_board(session, "2026", branch_id=half_year.town.jinwan)
    assert names_and_points(year) == [
        (1, "刘洋", "14.0"),
        (2, "李娜", "6.0"),
        (3, "张伟", "5.0"),
        (4, "王书记", "1.0"),
        (5, "陈书记", "-10.0"),
    ]
    assert names_and_points(jinwan) == [
        (1, "李娜", "6.0"),
        (2, "张伟", "5.0"),
        (3, "王书记", "1.0"),
    ]


def test_a_stored_town_board_narrowed_to_a_branch_ranks_within_it(
    half_year: HalfYear, database: Database
) -> None:
    with database.transaction(write=False) as session:
        town_board = member_board(session, "2026")
        live = member_board(session, "2026", branch_id=half_year.town.baoyuan)
    narrowed = within_branch(town_board, half_year.town.baoyuan)
    assert names_and_points(narrowed) == names_and_points(live)
    assert [line.name for line in narrowed.unscored] == []


def test_stars_follow_the_yearly_score_and_leave_out_the_flagged(
    half_year: HalfYear, database: Database, rulebook: Rulebook
) -> None:
    ids = half_year.town.member_ids
    with database.transaction(write=False) as session:
        year = member_board(session, "2026")
    stars = public_stars(year, rulebook, 2026, as_of=TODAY)
    # Base 60 plus the year's points: 74, 66, 65, 61; 陈书记 at 50 is below the first star.
    assert stars == {ids["member3"]: 2, ids["member2"]: 1, ids["member"]: 1, ids["secretary"]: 1}
    assert ids["secretary2"] not in stars


# --- branches ------------------------------------------------------------------------


def test_branch_boards_for_a_year_count_totals_and_participation(
    half_year: HalfYear, database: Database
) -> None:
    with database.transaction(write=False) as session:
        board = branch_board(session, "2026")
    jinwan, baoyuan = (r.item for r in board.by_total)
    assert (jinwan.name, f"{jinwan.total:.1f}", jinwan.participants, jinwan.members) == (
        "金湾工业园区联合党支部",
        "12.0",
        3,
        3,
    )
    assert (f"{baoyuan.total:.1f}", baoyuan.participants, baoyuan.members) == ("4.0", 1, 2)
    assert [(r.rank, r.item.name, r.item.participation) for r in board.by_participation] == [
        (1, "金湾工业园区联合党支部", Decimal("100.0")),
        (2, "宝元鞋厂党支部", Decimal("50.0")),
    ]


def test_participation_ties_share_a_rank_and_follow_the_branch_code() -> None:
    def line(code: str, members: int, participants: int) -> BranchLine:
        return BranchLine(
            branch_id=int(code[1:]),
            code=code,
            name=code,
            kind=BranchKind.SINGLE,
            total=Decimal(0),
            members=members,
            participants=participants,
        )

    ranked = by_participation(
        [line("B3", 4, 2), line("B1", 2, 1), line("B2", 3, 3), line("B4", 0, 0)]
    )
    assert [(r.rank, r.tied, r.item.code) for r in ranked] == [
        (1, False, "B2"),
        (2, True, "B1"),  # 1 of 2 and 2 of 4 are the same share: a tie, by code
        (2, True, "B3"),
        (4, False, "B4"),  # no members: no participation
    ]


def test_the_towns_points_by_rule_group(
    half_year: HalfYear, database: Database, rulebook: Rulebook
) -> None:
    with database.transaction(write=False) as session:
        quarter = points_by_group(session, rulebook, "2026-Q1")
        april = points_by_group(session, rulebook, "2026-04")
        empty = points_by_group(session, rulebook, "2025-06")
    assert quarter == {
        PointsGroup.BASIC: Decimal("0.0"),
        PointsGroup.REWARD: Decimal("26.0"),  # 6 + 2 + 2 + 1 + 12 + 3 (adopted)
        PointsGroup.DEDUCTION: Decimal("-13.0"),
        PointsGroup.ADJUSTMENT: Decimal("0.0"),
    }
    assert april[PointsGroup.BASIC] == Decimal("1.0")
    assert april[PointsGroup.REWARD] == Decimal("2.0")  # implemented
    assert set(empty.values()) == {Decimal(0)}


def test_a_branch_trend_has_every_month_even_empty_ones(
    half_year: HalfYear, database: Database
) -> None:
    months = ["2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05"]
    with database.transaction(write=False) as session:
        jinwan = branch_trend(session, half_year.town.jinwan, months)
    assert [f"{value:.1f}" for value in jinwan] == ["0.0", "8.0", "-2.0", "3.0", "3.0", "0.0"]


# --- achievements --------------------------------------------------------------------


def test_achievements_count_deeds_suggestion_steps_and_hours_per_month(
    half_year: HalfYear, database: Database, rulebook: Rulebook
) -> None:
    with database.transaction(write=False) as session:
        jinwan = branch_achievements(session, rulebook, half_year.town.jinwan, 2026)
    by_month = {m.period: m for m in jinwan.active_months}
    assert list(by_month) == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert (by_month["2026-01"].deeds, by_month["2026-01"].hours) == (1, Decimal("2.0"))
    assert by_month["2026-02"].suggestions == 1
    assert by_month["2026-03"].adopted == 1
    assert by_month["2026-04"].implemented == 1
    total = jinwan.total
    assert (total.deeds, total.suggestions, total.adopted, total.implemented) == (1, 1, 1, 1)
    assert total.hours == Decimal("2.0")
    assert [s.title for s in jinwan.suggestions] == [STREET_LIGHTS]
    assert jinwan.suggestions[0].implemented_on == date(2026, 4, 20)
    assert jinwan.deeds_by_rule == (("good_deed", 1),)
    assert (jinwan.organisations, jinwan.members) == (1, 4)


def test_a_revoked_entry_is_no_achievement(
    half_year: HalfYear, database: Database, rulebook: Rulebook
) -> None:
    town = half_year.town
    entry_id = approved(database, town, rulebook, "member", "good_deed", date(2026, 5, 3))
    with database.transaction() as session:
        revoke_entry(
            session, town.principal(database, "secretary"), rulebook, entry_id, "重复申报",
            now=utcnow(),
        )  # fmt: skip
    with database.transaction(write=False) as session:
        jinwan = branch_achievements(session, rulebook, town.jinwan, 2026)
    assert jinwan.total.deeds == 1
    assert "2026-05" not in [m.period for m in jinwan.active_months]


def test_another_year_has_no_achievements(
    half_year: HalfYear, database: Database, rulebook: Rulebook
) -> None:
    with database.transaction(write=False) as session:
        earlier = branch_achievements(session, rulebook, half_year.town.jinwan, 2025)
    assert earlier.active_months == ()
    assert earlier.suggestions == ()


# --- export tables -------------------------------------------------------------------


def test_member_exports_hold_the_board_rows_and_nothing_private(
    half_year: HalfYear, database: Database, rulebook: Rulebook
) -> None:
    with database.transaction(write=False) as session:
        board = member_board(session, "2026")
    table = member_table(board, public_stars(board, rulebook, 2026, as_of=TODAY))
    headings = ["Rank", "Tied", "Name", "Branch", "Points", "Stars"]

    text = to_csv(headings, table)
    assert text.startswith("\ufeff".encode())  # Excel reads UTF-8 only with the BOM
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    assert rows[0] == headings
    assert rows[1] == ["1", "", "刘洋", "宝元鞋厂党支部", "14.0", "2"]
    assert rows[-1] == ["5", "", "陈书记", "宝元鞋厂党支部", "-10.0", ""]  # flagged: no stars
    assert PRIVATE_REASON not in text.decode("utf-8-sig")

    sheet = load_workbook(io.BytesIO(to_xlsx(headings, table, "2026"))).active
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == headings
    assert values[1] == (1, None, "刘洋", "宝元鞋厂党支部", 14, 2)
    assert isinstance(values[1][4], int | float)  # a number, not text
    assert sheet.cell(row=2, column=5).number_format == "0.0"


def test_a_name_that_looks_like_a_formula_stays_text_in_csv() -> None:
    from service.boards.exports import Table

    table = Table(("name", "points"), (('=HYPERLINK("x")', Decimal("1.0")),))
    rows = list(csv.reader(io.StringIO(to_csv(["Name", "Points"], table).decode("utf-8-sig"))))
    assert rows[1] == ['\'=HYPERLINK("x")', "1.0"]


def test_branch_exports_carry_every_metric_and_rank(
    half_year: HalfYear, database: Database
) -> None:
    with database.transaction(write=False) as session:
        board = branch_board(session, "2026-01")
    table = branch_table(board, "participation")
    # January: 金湾 leads by total (8 to 2), 宝元 by participation (1 of 2 to 1 of 3).
    assert [row[2] for row in table.rows] == ["宝元鞋厂党支部", "金湾工业园区联合党支部"]
    baoyuan = dict(zip(table.columns, table.rows[0], strict=True))
    assert baoyuan["participants"] == 1 and baoyuan["members"] == 2
    assert baoyuan["participation"] == Decimal("50.0")
    assert (baoyuan["rank_total"], baoyuan["rank_participation"]) == (2, 1)
