"""Banding (红黄榜) is a pure function of a branch's scores: the same lists whatever the
order, shares never exceeded, equal scores treated alike, a higher score never worse."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from service.scoring.bands import (
    Banded,
    BandKind,
    BandReason,
    band_members,
    share_count,
    streaks,
)
from service.scoring.policies import BandPolicy

SHIPPED = BandPolicy(
    yellow_below=Decimal(3),
    yellow_bottom_share=Fraction(1, 10),
    red_top_share=Fraction(1, 5),
    red_min=Decimal(10),
)

shares = st.sampled_from(
    [Fraction(1, 10), Fraction(1, 5), Fraction(1, 3), Fraction(1, 2), Fraction(2, 5)]
)
scores_st = st.decimals(min_value=0, max_value=40, places=1, allow_nan=False)


@st.composite
def policies(draw: st.DrawFn) -> BandPolicy:
    below = draw(st.none() | st.sampled_from([Decimal(1), Decimal(3), Decimal("5.5")]))
    bottom = draw(st.none() | shares)
    if below is None and bottom is None:
        bottom = Fraction(1, 10)
    top = draw(st.none() | shares)
    if top is not None and bottom is not None and top + bottom > 1:
        top = 1 - bottom
    red_min = draw(st.none() | st.sampled_from([Decimal(6), Decimal(10)]))
    return BandPolicy(
        yellow_below=below, yellow_bottom_share=bottom, red_top_share=top, red_min=red_min
    )


@st.composite
def branches(draw: st.DrawFn) -> list[tuple[int, Decimal]]:
    values = draw(st.lists(scores_st, max_size=40))
    return list(enumerate(values, start=1))


def bands_of(lines: list[Banded]) -> dict[int, BandKind]:
    return {line.member_id: line.band for line in lines}


def test_shipped_policy_on_a_branch_of_ten() -> None:
    scores = [(i, Decimal(v)) for i, v in enumerate([0, 2, 4, 5, 6, 7, 8, 12, 15, 20], start=1)]
    lines = {line.member_id: line for line in band_members(scores, SHIPPED)}
    # below 3: members 1 and 2; bottom tenth (1 member) is member 1, named "below".
    assert lines[1].band is BandKind.YELLOW and lines[1].reason is BandReason.BELOW
    assert lines[2].band is BandKind.YELLOW
    # top fifth: 2 members (20 and 15), both at least 10.
    assert {m for m, line in lines.items() if line.band is BandKind.RED} == {9, 10}
    assert lines[10].reason is BandReason.TOP_SHARE
    assert set(lines) == {1, 2, 9, 10}


def test_a_tie_at_the_boundary_is_left_out_whole() -> None:
    policy = BandPolicy(yellow_bottom_share=Fraction(1, 5), red_top_share=Fraction(1, 5))
    # 10 members, shares of 2: the top three tie at 9, so nobody is red; the bottom two
    # (1 and 2) fit.
    values = [1, 2, 4, 5, 6, 7, 8, 9, 9, 9]
    scores = [(i, Decimal(v)) for i, v in enumerate(values, start=1)]
    assert bands_of(band_members(scores, policy)) == {1: BandKind.YELLOW, 2: BandKind.YELLOW}


def test_yellow_wins_over_a_top_share_below_the_yellow_line() -> None:
    policy = BandPolicy(yellow_below=Decimal(3), red_top_share=Fraction(1, 2))
    assert bands_of(band_members([(1, Decimal(0)), (2, Decimal(1))], policy)) == {
        1: BandKind.YELLOW,
        2: BandKind.YELLOW,
    }


def test_red_min_alone_lists_everyone_above_it() -> None:
    policy = BandPolicy(yellow_below=Decimal(1), red_min=Decimal(10))
    lines = band_members([(1, Decimal(10)), (2, Decimal(11)), (3, Decimal("9.9"))], policy)
    assert [(line.member_id, line.reason) for line in lines if line.band is BandKind.RED] == [
        (1, BandReason.RED_MIN),
        (2, BandReason.RED_MIN),
    ]


def test_streaks_count_periods_in_a_row_in_the_same_band() -> None:
    y, r = BandKind.YELLOW, BandKind.RED
    assert streaks([y, y, y]) == 3
    assert streaks([y, None, y]) == 1
    assert streaks([r, y, y]) == 2
    assert streaks([y, y, None]) == 0
    assert streaks([]) == 0


@given(branches(), policies(), st.randoms())
def test_order_does_not_matter(scores, policy, rng) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(scores)
    rng.shuffle(shuffled)
    assert band_members(shuffled, policy) == band_members(scores, policy)


@given(branches(), policies())
def test_share_lists_never_exceed_their_share(scores, policy) -> None:  # type: ignore[no-untyped-def]
    lines = band_members(scores, policy)
    n = len(scores)
    if policy.red_top_share is not None:
        red = [line for line in lines if line.band is BandKind.RED]
        assert len(red) <= share_count(policy.red_top_share, n)
    if policy.yellow_below is None and policy.yellow_bottom_share is not None:
        yellow = [line for line in lines if line.band is BandKind.YELLOW]
        assert len(yellow) <= share_count(policy.yellow_bottom_share, n)
    share_yellow = [line for line in lines if line.reason is BandReason.BOTTOM_SHARE]
    if policy.yellow_bottom_share is not None:
        assert len(share_yellow) <= share_count(policy.yellow_bottom_share, n)


@given(branches(), policies())
def test_equal_scores_are_treated_alike(scores, policy) -> None:  # type: ignore[no-untyped-def]
    bands = bands_of(band_members(scores, policy))
    by_score: dict[Decimal, set[BandKind | None]] = {}
    for member, score in scores:
        by_score.setdefault(score, set()).add(bands.get(member))
    assert all(len(found) == 1 for found in by_score.values())


ORDER = {BandKind.YELLOW: 0, None: 1, BandKind.RED: 2}


@given(branches(), policies())
def test_a_higher_score_never_gets_a_worse_band(scores, policy) -> None:  # type: ignore[no-untyped-def]
    bands = bands_of(band_members(scores, policy))
    ordered = sorted(scores, key=lambda pair: pair[1])
    levels = [ORDER[bands.get(member)] for member, _ in ordered]
    assert levels == sorted(levels)


@given(branches(), policies())
def test_red_lines_respect_red_min_and_nobody_is_on_both(scores, policy) -> None:  # type: ignore[no-untyped-def]
    lines = band_members(scores, policy)
    assert len({line.member_id for line in lines}) == len(lines)
    for line in lines:
        if line.band is BandKind.RED and policy.red_min is not None:
            assert line.score >= policy.red_min
        if line.band is BandKind.RED and policy.yellow_below is not None:
            assert line.score >= policy.yellow_below
