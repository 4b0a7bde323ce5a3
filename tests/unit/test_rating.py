"""Branch rating (星级支部) as a pure function: what an office and a branch rely on when
they read the stars (full marks give 100, a veto gives none, a better indicator never
costs a star, the order the ruleset lists indicators in changes nothing)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from service.scoring.policies import BranchRatingPolicy
from service.scoring.rating import rank_totals, rate

METRICS = ("points_per_member", "participation", "meetings", "suggestions", "warnings_closed")
RATIOS = {"participation", "meetings", "warnings_closed"}
THRESHOLDS = [Decimal(60), Decimal(70), Decimal(80), Decimal(90), Decimal(95)]


def policy_of(
    indicators: list[dict[str, Any]], vetoes: tuple[str, ...] = ("veto_a",)
) -> BranchRatingPolicy:
    return BranchRatingPolicy.model_validate(
        {
            "star_thresholds": THRESHOLDS,
            "indicator": indicators,
            "veto": [{"id": v, "name_zh": v, "name_en": v} for v in vetoes],
        }
    )


@st.composite
def policies(draw: st.DrawFn) -> BranchRatingPolicy:
    """2 to 6 indicators, computed (each metric at most once) or assessed, weights adding
    up to 100."""
    count = draw(st.integers(min_value=2, max_value=6))
    cuts = sorted(
        draw(
            st.sets(st.integers(min_value=1, max_value=99), min_size=count - 1, max_size=count - 1)
        )
    )
    weights = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    metrics: list[str] = list(draw(st.permutations(METRICS)))
    indicators: list[dict[str, Any]] = []
    for index, weight in enumerate(weights):
        item: dict[str, Any] = {
            "id": f"ind_{index}",
            "name_zh": "指标",
            "name_en": "x",
            "weight": weight,
        }
        computed: bool = draw(st.booleans())
        if metrics and computed:
            metric = metrics.pop()
            item["metric"] = metric
            if metric in RATIOS:
                item["full"] = draw(st.sampled_from([Decimal("0.5"), Decimal("0.9"), Decimal(1)]))
            else:
                item["full"] = draw(st.sampled_from([Decimal(5), Decimal("30"), Decimal("12.5")]))
        indicators.append(item)
    return policy_of(indicators)


values = st.decimals(min_value=0, max_value=200, places=2, allow_nan=False, allow_infinity=False)
scores = st.decimals(min_value=0, max_value=100, places=1, allow_nan=False, allow_infinity=False)


def full_inputs(policy: BranchRatingPolicy) -> tuple[dict[str, Decimal], dict[str, Decimal | None]]:
    metrics = {str(i.metric): i.full_mark for i in policy.indicators if i.metric is not None}
    assessed: dict[str, Decimal | None] = {i.id: Decimal(100) for i in policy.assessed()}
    return metrics, assessed


@given(policies())
def test_full_marks_everywhere_give_a_total_of_100_and_every_star(
    policy: BranchRatingPolicy,
) -> None:
    metrics, assessed = full_inputs(policy)
    result = rate(policy, metrics, assessed)
    assert result.total == Decimal("100.0")
    assert result.stars == len(THRESHOLDS)
    assert sum(line.weight for line in result.lines) == 100


@given(policies(), st.data())
def test_a_veto_leaves_the_branch_without_stars_whatever_its_score(
    policy: BranchRatingPolicy, data: st.DataObject
) -> None:
    metrics = {m: data.draw(values) for m in METRICS}
    assessed: dict[str, Decimal | None] = {i.id: data.draw(scores) for i in policy.assessed()}
    vetoed = rate(policy, metrics, assessed, vetoes=["veto_a"])
    plain = rate(policy, metrics, assessed)
    assert vetoed.stars == 0
    assert vetoed.vetoed
    # The total stays as computed: the veto takes the stars, not the explanation.
    assert vetoed.total == plain.total


@given(policies(), st.data())
def test_a_higher_indicator_never_lowers_the_total_or_the_stars(
    policy: BranchRatingPolicy, data: st.DataObject
) -> None:
    metrics = {m: data.draw(values) for m in METRICS}
    assessed: dict[str, Decimal | None] = {i.id: data.draw(scores) for i in policy.assessed()}
    before = rate(policy, metrics, assessed)
    indicator = data.draw(st.sampled_from(policy.indicators))
    if indicator.metric is not None:
        raised = dict(metrics)
        raised[str(indicator.metric)] = metrics[str(indicator.metric)] + data.draw(values)
        after = rate(policy, raised, assessed)
    else:
        higher = dict(assessed)
        current = assessed[indicator.id] or Decimal(0)
        higher[indicator.id] = data.draw(st.decimals(min_value=current, max_value=100, places=1))
        after = rate(policy, metrics, higher)
    assert before.total is not None and after.total is not None
    assert after.total >= before.total
    assert (after.stars or 0) >= (before.stars or 0)


@given(policies(), st.data())
def test_the_order_of_the_indicators_changes_nothing(
    policy: BranchRatingPolicy, data: st.DataObject
) -> None:
    metrics = {m: data.draw(values) for m in METRICS}
    assessed: dict[str, Decimal | None] = {i.id: data.draw(scores) for i in policy.assessed()}
    shuffled_items = data.draw(st.permutations(policy.indicators))
    shuffled = policy.model_copy(update={"indicators": tuple(shuffled_items)})
    one = rate(policy, metrics, assessed)
    other = rate(shuffled, metrics, assessed)
    assert (one.total, one.stars) == (other.total, other.stars)
    assert sorted(one.lines, key=lambda line: line.indicator) == sorted(
        other.lines, key=lambda line: line.indicator
    )


@given(policies(), st.data())
def test_the_explanation_adds_up_to_the_total(
    policy: BranchRatingPolicy, data: st.DataObject
) -> None:
    metrics = {m: data.draw(values) for m in METRICS}
    assessed: dict[str, Decimal | None] = {i.id: data.draw(scores) for i in policy.assessed()}
    result = rate(policy, metrics, assessed)
    assert result.total is not None
    contributions = sum((line.contribution or Decimal(0)) for line in result.lines)
    assert abs(contributions - result.total) <= Decimal("0.05")
    for line in result.lines:
        assert line.score is not None and Decimal(0) <= line.score <= Decimal(100)


def test_a_missing_assessed_score_leaves_the_total_open() -> None:
    policy = policy_of(
        [
            {"id": "organisation", "name_zh": "组织建设", "name_en": "o", "weight": 60},
            {"id": "role", "name_zh": "作用发挥", "name_en": "r", "weight": 40},
        ]
    )
    result = rate(policy, {}, {"organisation": Decimal(90), "role": None})
    assert result.total is None and result.stars is None
    done = rate(policy, {}, {"organisation": Decimal(90), "role": Decimal("75.5")})
    # 90 × 0.6 + 75.5 × 0.4 = 54 + 30.2 = 84.2 → three stars (60, 70, 80).
    assert done.total == Decimal("84.2") and done.stars == 3


def test_a_computed_value_beyond_its_full_mark_earns_no_more_than_full_marks() -> None:
    policy = policy_of(
        [
            {
                "id": "ppm",
                "name_zh": "人均",
                "name_en": "p",
                "weight": 50,
                "metric": "points_per_member",
                "full": 30,
            },
            {"id": "org", "name_zh": "组织", "name_en": "o", "weight": 50},
        ]
    )
    result = rate(policy, {"points_per_member": Decimal(45)}, {"org": Decimal(80)})
    assert result.lines[0].score == Decimal(100)
    half = rate(policy, {"points_per_member": Decimal(15)}, {"org": Decimal(80)})
    assert half.lines[0].score == Decimal(50)
    assert half.total == Decimal("65.0") and half.stars == 1


def test_the_total_rounds_half_up_to_one_decimal() -> None:
    policy = policy_of(
        [
            {"id": "a_one", "name_zh": "甲", "name_en": "a", "weight": 50},
            {"id": "b_two", "name_zh": "乙", "name_en": "b", "weight": 50},
        ]
    )
    # 80.1 × 0.5 + 80.0 × 0.5 = 80.05 → 80.1
    assert rate(policy, {}, {"a_one": Decimal("80.1"), "b_two": Decimal(80)}).total == Decimal(
        "80.1"
    )


def test_ties_share_a_rank_and_the_next_rank_is_skipped() -> None:
    standings = rank_totals(
        {
            7: (Decimal("90.0"), 4),
            3: (Decimal("85.0"), 3),
            5: (Decimal("85.0"), 3),
            1: (Decimal("60.0"), 0),
        }
    )
    assert [(s.subject_id, s.rank) for s in standings] == [(7, 1), (3, 2), (5, 2), (1, 4)]
