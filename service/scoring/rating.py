"""Branch rating (星级支部) as a pure function: the ruleset's ``[branch_rating]``, the
computed metric values and the assessed scores give each indicator's score out of 100,
the weighted total, the stars and an explanation line per indicator.

- A computed indicator scores ``min(value / full mark, 1) × 100``.
- An assessed indicator scores what was given (the audited score once audited, else
  the branch's own), 0 to 100.
- The total is the weighted sum ``Σ score × weight / 100`` rounded half-up to one
  decimal; None while an assessed score is missing.
- The stars are the number of thresholds at or below the total; none under a veto.

No database, nothing but the kernel: the service stores the inputs and calls this.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from service.scoring.policies import BranchRatingPolicy

HUNDRED = Decimal(100)
ONE_PLACE = Decimal("0.1")
# Intermediate precision of an indicator's score (its explanation shows two places).
TWO_PLACES = Decimal("0.01")


def round_one(value: Decimal) -> Decimal:
    return value.quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class IndicatorLine:
    """How one indicator counted: its value (a metric's or a score), the value that
    earns full marks (None for an assessed one), its score out of 100, its weight and its
    contribution to the total (score × weight / 100)."""

    indicator: str
    computed: bool
    value: Decimal | None
    full_mark: Decimal | None
    score: Decimal | None
    weight: int
    contribution: Decimal | None


@dataclass(frozen=True)
class RatingResult:
    lines: tuple[IndicatorLine, ...]
    total: Decimal | None  # None while an assessed score is missing
    stars: int | None  # None with the total; 0 under a veto
    vetoed: bool

    @property
    def complete(self) -> bool:
        return self.total is not None


def indicator_score(value: Decimal, full_mark: Decimal) -> Decimal:
    """A computed value's score out of 100 (never above 100, never below 0)."""
    if value <= 0:
        return Decimal(0)
    return (min(value / full_mark, Decimal(1)) * HUNDRED).quantize(
        TWO_PLACES, rounding=ROUND_HALF_UP
    )


def stars_for(total: Decimal, thresholds: Collection[Decimal]) -> int:
    return sum(1 for threshold in thresholds if threshold <= total)


def rate(
    policy: BranchRatingPolicy,
    metrics: Mapping[str, Decimal],
    scores: Mapping[str, Decimal | None],
    vetoes: Collection[str] = (),
) -> RatingResult:
    """Rate one branch. ``metrics``: {metric name: value} for the computed indicators
    (a missing metric counts 0); ``scores``: {indicator id: score or None} for the
    assessed ones (the audited score if audited, else the branch's own); ``vetoes``:
    the veto ids recorded against the branch."""
    lines: list[IndicatorLine] = []
    weighted = Decimal(0)
    missing = False
    for indicator in policy.indicators:
        if indicator.metric is not None:
            value: Decimal | None = Decimal(metrics.get(str(indicator.metric), Decimal(0)))
            full: Decimal | None = indicator.full_mark
            assert value is not None and full is not None
            score: Decimal | None = indicator_score(value, full)
        else:
            given = scores.get(indicator.id)
            value = None if given is None else min(max(Decimal(given), Decimal(0)), HUNDRED)
            full = None
            score = value
        if score is None:
            missing = True
            contribution = None
        else:
            contribution = score * indicator.weight / HUNDRED
            weighted += contribution
        lines.append(
            IndicatorLine(
                indicator=indicator.id,
                computed=indicator.computed,
                value=value,
                full_mark=full,
                score=score,
                weight=indicator.weight,
                contribution=contribution,
            )
        )
    vetoed = bool(vetoes)
    if missing:
        return RatingResult(lines=tuple(lines), total=None, stars=None, vetoed=vetoed)
    total = round_one(weighted)
    stars = 0 if vetoed else stars_for(total, policy.star_thresholds)
    return RatingResult(lines=tuple(lines), total=total, stars=stars, vetoed=vetoed)


@dataclass(frozen=True)
class Standing:
    """A branch's line on the published list: its total, its stars and its rank."""

    subject_id: int
    total: Decimal
    stars: int
    rank: int


def rank_totals(totals: Mapping[int, tuple[Decimal, int]]) -> list[Standing]:
    """Rank {subject id: (total, stars)} by total, highest first; ties share a rank
    ("1, 2, 2, 4"), in subject id order within a tie."""
    ordered = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    standings: list[Standing] = []
    previous: Decimal | None = None
    rank = 0
    for position, (subject, (total, stars)) in enumerate(ordered, start=1):
        if total != previous:
            rank = position
            previous = total
        standings.append(Standing(subject_id=subject, total=total, stars=stars, rank=rank))
    return standings
