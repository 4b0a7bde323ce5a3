"""Pure ranking: standard competition ranking ("1, 2, 2, 4") with a stated tie order."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Ranked(Generic[T]):
    rank: int
    tied: bool
    item: T


def competition_rank(
    items: Iterable[T], score: Callable[[T], Any], tie_order: Callable[[T], Any]
) -> list[Ranked[T]]:
    """Rank by ``score`` descending; equal scores share the better rank.

    Inside a tie, items follow ``tie_order`` ascending, so the listing is stable
    whatever order the items arrive in.
    """
    ordered = sorted(items, key=tie_order)
    ordered.sort(key=score, reverse=True)  # stable: keeps tie_order inside a tie
    scores = [score(item) for item in ordered]
    ranked: list[Ranked[T]] = []
    rank = 0
    for index, item in enumerate(ordered):
        if index == 0 or scores[index] != scores[index - 1]:
            rank = index + 1
        tied = (index > 0 and scores[index] == scores[index - 1]) or (
            index + 1 < len(ordered) and scores[index] == scores[index + 1]
        )
        ranked.append(Ranked(rank=rank, tied=tied, item=item))
    return ranked
