"""Scoring is a pure function from (rule, quantity) to points: no database here."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.kernel.config import PROJECT_ROOT
from service.scoring.engine import entry_points, quantity_problem
from service.scoring.points import TENTH
from service.scoring.rules import Rule, Rulebook, RuleGroup, UnitRounding

RULEBOOK = Rulebook.from_directory(PROJECT_ROOT / "scoring_rules")
RULESET = RULEBOOK.version("2025.1")
assert RULESET is not None
FIXED_RULE_IDS = ["org_life", "theme_day", "study", "good_deed", "suggestion", "care"]


def rule(rule_id: str) -> Rule:
    assert RULESET is not None
    found = RULESET.rule(rule_id)
    assert found is not None, rule_id
    return found


VOLUNTEER = rule("volunteer")


def per_unit_rule(rounding: UnitRounding, per_unit: str = "1.5", cap: str | None = None) -> Rule:
    return Rule(
        id=f"per_{rounding.value}",
        name_zh="按量",
        name_en="Per unit",
        group=RuleGroup.REWARD,
        points_per_unit=Decimal(per_unit),
        unit_zh="次",
        unit_en="times",
        rounding=rounding,
        max_units_per_entry=Decimal(cap) if cap else None,
    )


def one_decimal(value: Decimal) -> bool:
    return isinstance(value, Decimal) and value.as_tuple().exponent == -1


# --- per-unit rule: volunteer, 3 points per hour, 30 minutes or more counts ---------


@pytest.mark.parametrize(
    ("hours", "points"),
    [
        ("1.4", "3.0"),
        ("1.5", "6.0"),
        ("0.5", "3.0"),
        ("1", "3.0"),
        ("2.5", "9.0"),
        ("7.9", "24.0"),
        ("8", "24.0"),
    ],
)
def test_volunteer_points_round_half_hours_up(hours: str, points: str) -> None:
    result = entry_points(VOLUNTEER, Decimal(hours))
    assert result == Decimal(points)
    assert str(result) == points  # one decimal place, exactly as shown on the board


@pytest.mark.parametrize("hours", ["0.5", "1", "1.4", "1.5", "8", "8.0"])
def test_volunteer_accepts_declarable_hours(hours: str) -> None:
    assert quantity_problem(VOLUNTEER, Decimal(hours)) is None


def test_volunteer_under_half_an_hour_scores_nothing_and_is_refused() -> None:
    assert entry_points(VOLUNTEER, Decimal("0.4")) == Decimal("0.0")
    problem = quantity_problem(VOLUNTEER, Decimal("0.4"))
    assert problem is not None
    assert "too small" in problem.render()


def test_volunteer_over_the_cap_is_refused_and_says_the_cap() -> None:
    problem = quantity_problem(VOLUNTEER, Decimal(9))
    assert problem is not None
    assert problem.render() == "At most 8 per entry."
    assert quantity_problem(VOLUNTEER, Decimal("8.1")) is not None


@pytest.mark.parametrize("hours", ["0", "-1", "-0.5"])
def test_volunteer_zero_or_negative_hours_are_refused(hours: str) -> None:
    problem = quantity_problem(VOLUNTEER, Decimal(hours))
    assert problem is not None
    assert "greater than zero" in problem.render()


def test_volunteer_two_decimal_places_are_refused() -> None:
    problem = quantity_problem(VOLUNTEER, Decimal("1.25"))
    assert problem is not None
    assert "one decimal place" in problem.render()


def test_round_down_counts_only_complete_units() -> None:
    down = per_unit_rule(UnitRounding.DOWN, per_unit="2")
    assert entry_points(down, Decimal("1.9")) == Decimal("2.0")
    assert entry_points(down, Decimal("2.0")) == Decimal("4.0")
    problem = quantity_problem(down, Decimal("0.9"))
    assert problem is not None and "too small" in problem.render()


def test_exact_rounding_scores_tenths_and_rounds_half_up_to_one_place() -> None:
    exact = per_unit_rule(UnitRounding.EXACT, per_unit="1.5")
    # 1.5 × 0.3 = 0.45 → 0.5 (half up), still one decimal place.
    assert str(entry_points(exact, Decimal("0.3"))) == "0.5"
    assert str(entry_points(exact, Decimal("2"))) == "3.0"
    assert quantity_problem(exact, Decimal("0.1")) is None


# --- fixed rules: one occurrence per entry -----------------------------------------


@pytest.mark.parametrize("rule_id", FIXED_RULE_IDS)
def test_fixed_rule_accepts_quantity_one(rule_id: str) -> None:
    assert quantity_problem(rule(rule_id), Decimal(1)) is None
    assert quantity_problem(rule(rule_id), Decimal("1.0")) is None


@pytest.mark.parametrize("rule_id", FIXED_RULE_IDS)
def test_fixed_rule_refuses_quantity_two(rule_id: str) -> None:
    problem = quantity_problem(rule(rule_id), Decimal(2))
    assert problem is not None
    assert "quantity 1" in problem.render()


def test_fixed_rule_refuses_too_many_decimals() -> None:
    problem = quantity_problem(rule("good_deed"), Decimal("1.25"))
    assert problem is not None
    assert "one decimal place" in problem.render()


@pytest.mark.parametrize(
    ("rule_id", "points"),
    [
        ("org_life", "1.0"),
        ("theme_day", "2.0"),
        ("study", "2.0"),
        ("good_deed", "2.0"),
        ("suggestion", "1.0"),
        ("care", "2.0"),
    ],
)
def test_fixed_rule_points_have_one_decimal_place(rule_id: str, points: str) -> None:
    result = entry_points(rule(rule_id), Decimal(1))
    assert str(result) == points
    assert one_decimal(result)


# --- properties ---------------------------------------------------------------------

tenths = st.decimals(min_value=Decimal("-5"), max_value=Decimal(100), places=1)
positive_tenths = st.decimals(min_value=Decimal("0.1"), max_value=Decimal(100), places=1)
per_unit_rules = st.sampled_from(
    [
        VOLUNTEER,
        per_unit_rule(UnitRounding.EXACT),
        per_unit_rule(UnitRounding.DOWN, per_unit="2.5", cap="4"),
        per_unit_rule(UnitRounding.HALF_UP, per_unit="0.5"),
    ]
)
any_rule = st.one_of(per_unit_rules, st.sampled_from([rule(r) for r in FIXED_RULE_IDS]))


@given(any_rule, tenths)
def test_points_are_decimals_with_exactly_one_place_never_floats(
    the_rule: Rule, quantity: Decimal
) -> None:
    points = entry_points(the_rule, quantity)
    assert not isinstance(points, float)
    assert isinstance(points, Decimal)
    assert points == points.quantize(TENTH)
    assert one_decimal(points)


@given(per_unit_rules, positive_tenths, positive_tenths)
def test_per_unit_points_never_decrease_with_quantity(
    the_rule: Rule, first: Decimal, second: Decimal
) -> None:
    low, high = sorted([first, second])
    assert entry_points(the_rule, low) <= entry_points(the_rule, high)


@given(positive_tenths)
def test_volunteer_points_never_exceed_the_cap(hours: Decimal) -> None:
    assert entry_points(VOLUNTEER, hours) <= Decimal(24)


@given(positive_tenths)
def test_accepted_volunteer_quantity_always_scores(hours: Decimal) -> None:
    if quantity_problem(VOLUNTEER, hours) is None:
        assert entry_points(VOLUNTEER, hours) > 0
