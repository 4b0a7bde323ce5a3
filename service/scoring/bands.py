"""Pure banding (红黄榜): who in one branch lands on a period's red or yellow list.

Input: the branch's members' scores for the period (member id, points; exempt members
are not passed) and the ruleset's ``BandPolicy``. Output: the banded members only, each
with its band and the test that put it there.

The rules:

- **Yellow** (黄榜): a score below ``yellow_below`` (reason ``below``), or in the bottom
  share of the branch (reason ``bottom_share``); either test suffices, ``below`` is
  named when both hold.
- **Red** (红榜): in the top share of the branch (reason ``top_share``) and, when
  ``red_min`` is given, at least ``red_min`` points; with ``red_min`` alone (no share),
  everyone with at least ``red_min`` (reason ``red_min``). A member who is yellow is
  never red (yellow wins: with a top share and no ``red_min``, a small branch's best
  could still be below ``yellow_below``), so a member is never on both lists.
- **Shares** count ``floor(share × n)`` members of a branch of ``n``. At the boundary a
  group of equal scores is taken only if it fits entirely: a list never exceeds its
  share, and equal scores are always treated alike (a branch where everyone has the
  same score has no share-based list at all).
- **Monotonic**: the yellow set is closed downwards and the red set upwards, so a higher
  score never gets a worse band (red above none above yellow).
- **Streaks**: the periods in a row a member is in the same band, this one included
  (``streak``); a warning case opens when a yellow streak reaches ``warn_after``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from itertools import groupby

from service.scoring.policies import BandPolicy


class BandKind(StrEnum):
    RED = "red"
    YELLOW = "yellow"


class BandReason(StrEnum):
    BELOW = "below"
    BOTTOM_SHARE = "bottom_share"
    TOP_SHARE = "top_share"
    RED_MIN = "red_min"


@dataclass(frozen=True)
class Banded:
    member_id: int
    score: Decimal
    band: BandKind
    reason: BandReason


def share_count(share: Fraction, n: int) -> int:
    """How many of ``n`` members a share holds at most: floor(share × n)."""
    return math.floor(share * n)


def _tie_groups(scores: Sequence[tuple[int, Decimal]], *, descending: bool) -> list[list[int]]:
    ordered = sorted(scores, key=lambda pair: (pair[1], pair[0]), reverse=descending)
    return [[member for member, _ in group] for _, group in groupby(ordered, key=lambda p: p[1])]


def _share_members(
    scores: Sequence[tuple[int, Decimal]], share: Fraction, *, top: bool
) -> set[int]:
    """The members in the top (or bottom) share, whole tie groups only."""
    room = share_count(share, len(scores))
    chosen: set[int] = set()
    for group in _tie_groups(scores, descending=top):
        if len(chosen) + len(group) > room:
            break
        chosen.update(group)
    return chosen


def band_members(scores: Iterable[tuple[int, Decimal]], policy: BandPolicy) -> list[Banded]:
    """The banded members of one branch, ordered by member id (the input's order does
    not matter). Every member id must appear once."""
    pairs = list(scores)
    if len({member for member, _ in pairs}) != len(pairs):
        raise ValueError("a member appears twice")
    by_member = dict(pairs)

    yellow: dict[int, BandReason] = {}
    if policy.yellow_below is not None:
        for member, score in pairs:
            if score < policy.yellow_below:
                yellow[member] = BandReason.BELOW
    if policy.yellow_bottom_share is not None:
        for member in _share_members(pairs, policy.yellow_bottom_share, top=False):
            yellow.setdefault(member, BandReason.BOTTOM_SHARE)

    red: dict[int, BandReason] = {}
    if policy.red_top_share is not None:
        for member in _share_members(pairs, policy.red_top_share, top=True):
            if policy.red_min is None or by_member[member] >= policy.red_min:
                red[member] = BandReason.TOP_SHARE
    elif policy.red_min is not None:
        for member, score in pairs:
            if score >= policy.red_min:
                red[member] = BandReason.RED_MIN
    for member in yellow:
        red.pop(member, None)  # yellow wins (see the module's docstring)
    assert not set(red) & set(yellow)

    banded = [Banded(m, by_member[m], BandKind.YELLOW, reason) for m, reason in yellow.items()]
    banded += [Banded(m, by_member[m], BandKind.RED, reason) for m, reason in red.items()]
    return sorted(banded, key=lambda line: line.member_id)


def streak(previous: BandKind | None, previous_streak: int, current: BandKind | None) -> int:
    """Periods in a row in ``current``'s band, this one included (0 when not banded):
    one more than the previous period's streak when it was the same band, else 1."""
    if current is None:
        return 0
    if previous is current and previous_streak > 0:
        return previous_streak + 1
    return 1


def streaks(history: Sequence[BandKind | None]) -> int:
    """The streak of the last period of ``history`` (oldest first)."""
    count = 0
    previous: BandKind | None = None
    for band in history:
        count = streak(previous, count, band)
        previous = band
    return count


def opens_case(band: BandKind, run_streak: int, policy: BandPolicy) -> bool:
    """Whether a line opens a warning case: a yellow streak that reached ``warn_after``."""
    return band is BandKind.YELLOW and run_streak >= policy.warn_after
