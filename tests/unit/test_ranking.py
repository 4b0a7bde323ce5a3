"""Standard competition ranking ("1, 2, 2, 4") with a stated, input-independent tie order."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from service.scoring.ranking import Ranked, competition_rank


def rank(items: list[tuple[str, Any]]) -> list[Ranked[tuple[str, Any]]]:
    return competition_rank(items, score=lambda item: item[1], tie_order=lambda item: item[0])


def summary(ranked: list[Ranked[tuple[str, Any]]]) -> list[tuple[int, bool, str]]:
    return [(r.rank, r.tied, r.item[0]) for r in ranked]


def test_ties_share_the_better_rank_and_the_next_rank_is_skipped() -> None:
    ranked = rank(
        [
            ("M1", Decimal("9.0")),
            ("M2", Decimal("6.0")),
            ("M3", Decimal("6.0")),
            ("M4", Decimal("3.0")),
        ]
    )
    assert [r.rank for r in ranked] == [1, 2, 2, 4]


def test_tied_flag_marks_only_members_of_a_tie() -> None:
    ranked = rank([("M1", 9), ("M2", 6), ("M3", 6), ("M4", 3), ("M5", 3), ("M6", 1)])
    assert summary(ranked) == [
        (1, False, "M1"),
        (2, True, "M2"),
        (2, True, "M3"),
        (4, True, "M4"),
        (4, True, "M5"),
        (6, False, "M6"),
    ]


def test_a_tie_is_listed_by_tie_key_whatever_the_input_order() -> None:
    forwards = rank([("A", 5), ("B", 5), ("C", 5), ("D", 7)])
    backwards = rank([("C", 5), ("B", 5), ("D", 7), ("A", 5)])
    assert (
        summary(forwards)
        == summary(backwards)
        == [
            (1, False, "D"),
            (2, True, "A"),
            (2, True, "B"),
            (2, True, "C"),
        ]
    )


def test_higher_score_comes_first_even_with_a_later_tie_key() -> None:
    ranked = rank([("A", 1), ("Z", 2)])
    assert summary(ranked) == [(1, False, "Z"), (2, False, "A")]


def test_everyone_tied_shares_rank_one() -> None:
    ranked = rank([("B", 0), ("A", 0), ("C", 0)])
    assert summary(ranked) == [(1, True, "A"), (1, True, "B"), (1, True, "C")]


def test_empty_input_gives_an_empty_board() -> None:
    assert rank([]) == []


def test_single_item_is_first_and_not_tied() -> None:
    assert summary(rank([("A", Decimal("0.0"))])) == [(1, False, "A")]


def test_fraction_scores_compare_exactly() -> None:
    # 10/3 and 20/6 are the same per-member score; 3.3333 as a float-ish decimal is not.
    ranked = rank(
        [
            ("B", Fraction(20, 6)),
            ("A", Fraction(10, 3)),
            ("C", Fraction(3, 1)),
            ("D", Fraction(7, 2)),
        ]
    )
    assert summary(ranked) == [
        (1, False, "D"),
        (2, True, "A"),
        (2, True, "B"),
        (4, False, "C"),
    ]


def test_nearly_equal_fractions_are_not_a_tie() -> None:
    ranked = rank([("A", Fraction(1, 3)), ("B", Fraction(333_333, 1_000_000))])
    assert summary(ranked) == [(1, False, "A"), (2, False, "B")]


def test_input_is_not_consumed_twice_when_given_a_generator() -> None:
    ranked = competition_rank(
        (item for item in [("A", 1), ("B", 2)]),
        score=lambda item: item[1],
        tie_order=lambda item: item[0],
    )
    assert [r.item[0] for r in ranked] == ["B", "A"]


boards = st.dictionaries(
    keys=st.text(alphabet="ABCDEFGHJK0123456789", min_size=1, max_size=4),
    values=st.integers(min_value=0, max_value=5).map(lambda n: Decimal(n) / 2),
    max_size=25,
).map(lambda d: sorted(d.items()))


@given(boards, st.randoms(use_true_random=False))
def test_shuffling_the_input_never_changes_the_board(
    items: list[tuple[str, Decimal]], random: Any
) -> None:
    shuffled = list(items)
    random.shuffle(shuffled)
    assert summary(rank(shuffled)) == summary(rank(items))


@given(boards)
def test_rank_is_one_plus_the_number_of_strictly_better_scores(
    items: list[tuple[str, Decimal]],
) -> None:
    ranked = rank(items)
    assert len(ranked) == len(items)
    for entry in ranked:
        better = sum(1 for _, score in items if score > entry.item[1])
        same = sum(1 for _, score in items if score == entry.item[1])
        assert entry.rank == better + 1
        assert entry.tied == (same > 1)
    scores = [entry.item[1] for entry in ranked]
    assert scores == sorted(scores, reverse=True)
